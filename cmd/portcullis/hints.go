package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/config"
)

// adminHint turns an admin API call's failure into what the operator
// should do about it: the usual first-run mistakes (no CA, the wrong port)
// otherwise surface as bare TLS or HTTP errors.
func adminHint(err error) string {
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		notTLS    tls.RecordHeaderError
		notAdmin  *admin.NotAdminError
		apiErr    *admin.APIError
	)
	switch {
	case errors.As(err, &unknownCA):
		return "admin API: the admin listener's certificate is not signed by a CA this command trusts;\n" +
			"pass the CA that issued it with --ca-file FILE (or PORTCULLIS_ADMIN_CA=FILE)"
	case errors.As(err, &hostErr):
		return fmt.Sprintf("admin API: %v;\nuse a --admin-url host the admin certificate names", hostErr)
	// net/http reports a plain HTTP answer as an untyped error.
	case errors.As(err, &notTLS), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "admin API: the address does not speak TLS (is it the ops port?);\n" +
			"point --admin-url (or PORTCULLIS_ADMIN_URL) at admin.address, default https://" + config.DefaultAdminAddress
	case errors.As(err, &notAdmin):
		return fmt.Sprintf("admin API: %v (is it the gateway's public port?);\n"+
			"point --admin-url (or PORTCULLIS_ADMIN_URL) at admin.address, default https://%s", notAdmin, config.DefaultAdminAddress)
	case errors.As(err, &apiErr) && apiErr.RetryAfter != "":
		return fmt.Sprintf("admin API: %v\nretry in %s seconds (Retry-After)", apiErr, apiErr.RetryAfter)
	}
	return "admin API: " + err.Error()
}

// clientHint explains why the admin client could not be set up.
func clientHint(err error) string {
	if s := err.Error(); strings.HasPrefix(s, "ca_file: ") {
		return "--ca-file (PORTCULLIS_ADMIN_CA): " + strings.TrimPrefix(s, "ca_file: ")
	}
	return err.Error()
}
