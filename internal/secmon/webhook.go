package secmon

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/secevent"
	"github.com/portcullis/portcullis/internal/tlsconf"
)

// Webhook headers.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of
	// "<t>.<body>" under the webhook's secret>". A receiver recomputes the
	// HMAC, compares in constant time, and refuses a t too far from its
	// clock (VerifySignature): a captured request cannot be replayed
	// later, and EventIDHeader lets it drop a replay within the tolerance.
	SignatureHeader = "Portcullis-Signature"
	// EventIDHeader is the event's id (also in the body).
	EventIDHeader = "Portcullis-Event-Id"
)

// webhook delivers events of the configured types to one receiver, one
// at a time, retrying with doubling backoff; an event still undelivered
// after max_retries is a dead letter (counted and logged). The queue is
// bounded: an event that does not fit is dropped and counted.
type webhook struct {
	cfg     config.Webhook
	secret  []byte
	types   map[secevent.Type]bool
	client  *http.Client
	now     func() time.Time
	log     *slog.Logger
	metrics *metrics
	dead    prometheus.Counter

	ch   chan webhookJob
	stop chan struct{}
	done chan struct{}
}

type webhookJob struct {
	id   string
	body []byte
}

func newWebhook(cfg config.Webhook, path string, m *metrics, log *slog.Logger, now func() time.Time) (*webhook, error) {
	tc, err := tlsconf.ClientConfig(cfg.CAFile, "", "", "")
	if err != nil {
		return nil, config.FieldError{Path: path + ".ca_file", Message: err.Error()}
	}
	w := &webhook{cfg: cfg, secret: []byte(cfg.Secret), types: map[secevent.Type]bool{}, now: now, log: log, metrics: m,
		dead: m.deadLetters.WithLabelValues(cfg.Name),
		ch:   make(chan webhookJob, cfg.QueueSize), stop: make(chan struct{}), done: make(chan struct{})}
	for _, t := range cfg.Types {
		w.types[secevent.Type(t)] = true
	}
	w.client = &http.Client{
		Timeout:   cfg.Timeout.D(),
		Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 2},
		// A receiver's redirect is not followed: the signed body goes
		// only where it was configured to go.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	go w.run()
	return w, nil
}

func (w *webhook) send(ev *secevent.Event, body func() []byte) {
	if !w.types[ev.Type] {
		return
	}
	select {
	case w.ch <- webhookJob{id: ev.ID, body: body()}:
	default:
		w.metrics.sinkDropped.WithLabelValues(sinkWebhook).Inc()
	}
}

func (w *webhook) run() {
	defer close(w.done)
	for {
		select {
		case job := <-w.ch:
			w.deliver(job)
		case <-w.stop:
			return
		}
	}
}

// deliver tries job until it is accepted, refused for good, or out of
// retries.
func (w *webhook) deliver(job webhookJob) {
	wait := w.cfg.RetryBackoff.D()
	var err error
	for attempt := 0; attempt <= w.cfg.MaxRetries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(wait):
			case <-w.stop:
				w.metrics.sinkDropped.WithLabelValues(sinkWebhook).Inc()
				return
			}
			wait *= 2
		}
		var retry bool
		if retry, err = w.post(job); err == nil {
			w.metrics.sent.WithLabelValues(sinkWebhook).Inc()
			return
		}
		w.metrics.sinkErrors.WithLabelValues(sinkWebhook).Inc()
		if !retry {
			break
		}
	}
	w.dead.Inc()
	w.log.Warn("security webhook: event not delivered (dead letter)", "webhook", w.cfg.Name, "event_id", job.id, "error", err.Error())
}

// post makes one attempt; retry reports whether another may succeed.
func (w *webhook) post(job webhookJob) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.Timeout.D())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(job.body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "portcullis-security-webhook")
	req.Header.Set(EventIDHeader, job.id)
	req.Header.Set(SignatureHeader, Sign(w.secret, w.now(), job.body))
	resp, err := w.client.Do(req)
	if err != nil {
		return true, err
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return true, fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return false, fmt.Errorf("receiver refused with %d", resp.StatusCode)
}

// close stops delivery; events still queued are counted as dropped.
func (w *webhook) close() {
	close(w.stop)
	<-w.done
	for len(w.ch) > 0 {
		<-w.ch
		w.metrics.sinkDropped.WithLabelValues(sinkWebhook).Inc()
	}
	w.client.CloseIdleConnections()
}

// Sign returns the SignatureHeader value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Signature verification errors.
var (
	ErrBadSignatureHeader = errors.New("malformed signature header")
	ErrSignatureTooOld    = errors.New("signature timestamp outside the tolerance")
	ErrSignatureMismatch  = errors.New("no signature matches")
)

// VerifySignature checks a SignatureHeader value for body, as a receiver
// does: the timestamp must be within tolerance of now (either side), and
// one v1 signature (several may be sent while secrets rotate) must match.
// The header is untrusted input: it is parsed strictly and bounded.
func VerifySignature(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(header) > 1024 {
		return ErrBadSignatureHeader
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrBadSignatureHeader
		}
		switch k {
		case "t":
			if ts != "" || v == "" || len(v) > 12 {
				return ErrBadSignatureHeader
			}
			for i := 0; i < len(v); i++ {
				if v[i] < '0' || v[i] > '9' {
					return ErrBadSignatureHeader
				}
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return ErrBadSignatureHeader
			}
			sigs = append(sigs, sig)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return ErrBadSignatureHeader
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrBadSignatureHeader
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrSignatureTooOld
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}
