package mtls

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// revokedSet maps an issuer's DER subject to its revoked serials (decimal).
type revokedSet map[string]map[string]bool

// crlWatch keeps an authenticator's revocation lists current: at most once
// per interval a request starts a background check of the files' size and
// modification time, and changed files are read again. A file that fails
// to load (missing, half-written, bad signature) keeps the lists in force
// as they were, and is logged; it is tried again at the next check.
type crlWatch struct {
	files    []string
	cas      []*x509.Certificate
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger

	revoked   atomic.Pointer[revokedSet]
	lastCheck atomic.Int64 // unix ns
	// checking admits one check at a time; only that check touches stamps.
	checking atomic.Bool
	stamps   map[string]fileStamp
}

type fileStamp struct {
	size int64
	mod  time.Time
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.Size(), fi.ModTime()}, nil
}

// load reads every file into a new set; on any error the caller keeps the
// set it has.
func (w *crlWatch) load() (revokedSet, map[string]fileStamp, error) {
	set := revokedSet{}
	stamps := make(map[string]fileStamp, len(w.files))
	for i, f := range w.files {
		st, err := stampOf(f)
		if err != nil {
			return nil, nil, indexed{i, err}
		}
		if err := loadCRL(set, f, w.cas, w.now, w.log); err != nil {
			return nil, nil, indexed{i, err}
		}
		stamps[f] = st
	}
	return set, stamps, nil
}

// indexed is an error about crl_files[i].
type indexed struct {
	i   int
	err error
}

func (e indexed) Error() string { return e.err.Error() }

// isRevoked reports whether cert is on a list, first starting a background
// check of the files when one is due.
func (w *crlWatch) isRevoked(cert *x509.Certificate) bool {
	if now := w.now().UnixNano(); now-w.lastCheck.Load() >= int64(w.interval) && w.checking.CompareAndSwap(false, true) {
		w.lastCheck.Store(now)
		go w.check()
	}
	return (*w.revoked.Load())[string(cert.RawIssuer)][cert.SerialNumber.String()]
}

func (w *crlWatch) check() {
	defer w.checking.Store(false)
	changed := false
	for _, f := range w.files {
		st, err := stampOf(f)
		if err != nil || st != w.stamps[f] {
			changed = true
			break
		}
	}
	if !changed {
		return
	}
	set, stamps, err := w.load()
	if err != nil {
		w.log.Warn("certificate revocation lists not reloaded; the previous ones stay in force", "error", err.Error())
		return
	}
	w.revoked.Store(&set)
	w.stamps = stamps
	w.log.Info("certificate revocation lists reloaded", "files", len(w.files))
}

// loadCRL reads a PEM or DER CRL, checks it is signed by one of cas and
// adds its revoked serials to set.
func loadCRL(set revokedSet, path string, cas []*x509.Certificate, now func() time.Time, log *slog.Logger) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "X509 CRL" {
			return fmt.Errorf("%s: PEM block is %q, want X509 CRL", path, b.Type)
		}
		data = b.Bytes
	}
	crl, err := x509.ParseRevocationList(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var signer *x509.Certificate
	for _, ca := range cas {
		if string(ca.RawSubject) == string(crl.RawIssuer) && crl.CheckSignatureFrom(ca) == nil {
			signer = ca
			break
		}
	}
	if signer == nil {
		return fmt.Errorf("%s: not signed by a CA in any listener's client_ca_file", path)
	}
	if !crl.NextUpdate.IsZero() && now().After(crl.NextUpdate) {
		log.Warn("certificate revocation list is past its next update; publish a fresh one", "crl_file", path, "next_update", crl.NextUpdate.UTC().Format(time.RFC3339))
	}
	issuer := string(crl.RawIssuer)
	if set[issuer] == nil {
		set[issuer] = map[string]bool{}
	}
	for _, e := range crl.RevokedCertificateEntries {
		set[issuer][e.SerialNumber.String()] = true
	}
	return nil
}
