package app

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys"
)

// preflight is every check serve makes before it binds that is not a rule
// of the configuration alone: what the host has to provide. Build runs it
// before acquiring anything and Check runs it for validate, so validate
// accepts nothing serve would then refuse before binding. sound reports
// whether the configuration section at a path had no problem of its own
// (preflight does not add consequences of a problem already reported).
func preflight(cfg *config.Config, sound func(path string) bool) config.Errors {
	var errs config.Errors
	checkSockets(&errs, cfg, sound)
	if cfg.KeysInUse() && sound("keys.store") {
		errs.Merge("keys.store", keys.CheckStore(cfg.Keys))
	}
	if a := cfg.Logging.Access; a.Enabled != nil && *a.Enabled && sound("logging.access.output") {
		if err := checkOutputFile(a.Output); err != nil {
			errs.Add("logging.access.output", "%v", err)
		}
	}
	return errs
}

// checkOutputFile reports a log file that cannot be opened for appending.
func checkOutputFile(output string) error {
	switch output {
	case "stdout", "stderr", "":
		return nil
	}
	if fi, err := os.Stat(output); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("%s is a directory", output)
		}
		return nil
	}
	dir := filepath.Dir(output)
	di, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("the directory %s does not exist", dir)
	case err != nil:
		return err
	case !di.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// socket is one address the process binds, by its config path.
type socket struct {
	path string
	addr string
	// group is what config.Validate compares identical addresses within
	// (see validateReports).
	group string
}

// checkSockets refuses two sockets that cannot both be bound: the same
// port on the same host, or on a wildcard host and any host ("0.0.0.0:9090"
// and "127.0.0.1:9090"), named ports resolved. A clash config.Validate
// already reports (identical addresses within listeners, or admin.address
// equal to a listener's or ops.address) is not repeated.
func checkSockets(errs *config.Errors, cfg *config.Config, sound func(string) bool) {
	var socks []socket
	add := func(path, addr, group string) {
		if addr != "" && sound(path) {
			socks = append(socks, socket{path: path, addr: addr, group: group})
		}
	}
	for i, l := range cfg.Listeners {
		p := config.Index("listeners", i)
		add(config.Join(p, "address"), l.Address, "listeners")
		add(config.Join(p, "http_redirect"), l.HTTPRedirect, "listeners")
	}
	if !cfg.Ops.Disabled {
		add("ops.address", cfg.Ops.Address, "ops")
	}
	if cfg.Admin.Enabled {
		add("admin.address", cfg.Admin.Address, "admin")
	}
	for j := range socks {
		b := socks[j]
		hb, pb, ok := bindKey(b.addr)
		if !ok {
			continue
		}
		for _, a := range socks[:j] {
			ha, pa, ok := bindKey(a.addr)
			if !ok || pa != pb || !hostsOverlap(ha, hb) {
				continue
			}
			if a.addr == b.addr && validateReports(a.group, b.group) {
				continue
			}
			errs.Add(b.path, "%s cannot be bound: %s (%s) already takes port %d on that address", b.addr, a.path, a.addr, pb)
		}
	}
}

// validateReports says whether config.Validate already refuses identical
// addresses of these two groups.
func validateReports(a, b string) bool {
	switch {
	case a == "listeners" && b == "listeners":
		return true
	case a == "admin" || b == "admin":
		return true
	}
	return false
}

// bindKey is the host (empty for a wildcard) and port an address binds;
// ok is false for port 0, which never collides, or an address that does
// not parse (already reported).
func bindKey(addr string) (host string, port int, ok bool) {
	h, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, false
	}
	port, err = net.LookupPort("tcp", ps)
	if err != nil || port == 0 {
		return "", 0, false
	}
	h = strings.ToLower(h)
	switch h {
	case "localhost":
		// net.Listen binds the first address localhost resolves to.
		h = "127.0.0.1"
	case "::", "":
		// Go listens on both IPv4 and IPv6 for these.
		h = ""
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		h = ip.Unmap().String()
	}
	return h, port, true
}

// hostsOverlap reports whether sockets on hosts a and b conflict: equal
// hosts, the dual-stack wildcard and anything, or the IPv4 wildcard and an
// IPv4 address. A host name is only known to clash with itself and the
// dual-stack wildcard (names are not resolved offline).
func hostsOverlap(a, b string) bool {
	if a == "" || b == "" || a == b {
		return true
	}
	return (a == "0.0.0.0" && isIPv4(b)) || (b == "0.0.0.0" && isIPv4(a))
}

func isIPv4(h string) bool {
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Is4()
}
