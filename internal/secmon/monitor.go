// Package secmon owns security monitoring: the monitor that receives every
// security event (secevent) from the request path through a bounded queue,
// runs the detectors over them on its own goroutine, answers a detection
// with its response (alert, block, read_only, observe), keeps the blocks in
// a shared store (Redis or memory) and enforces them through a request
// stage, and ships events to the security log, syslog over TLS and signed
// webhooks. It is long-lived: built once per process (internal/app) and
// kept across reloads, which reconfigure it.
//
// Only telemetry may be lost: an event that does not fit the queue is
// dropped and counted, and a request never waits for the monitor. What
// must not be lost is written synchronously: a block imposed goes into the
// hash-chained audit trail before the monitor moves on, and the
// brute-force counters stay on the request path.
package secmon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/ipfilter"
	"github.com/portcullis/portcullis/internal/secevent"
	"github.com/portcullis/portcullis/internal/sharedstate"
)

// Auditor appends audit-grade events to the hash-chained audit trail (a
// *keys.Service).
type Auditor interface {
	Audit(ctx context.Context, e *audit.Event) error
}

// Options configure New.
type Options struct {
	// Config is the validated security section.
	Config config.Security
	// Redis, when set, shares blocks between instances (the rate-limit
	// store's client); its keys start with RedisPrefix. Nil: blocks are
	// kept in memory.
	Redis       redis.UniversalClient
	RedisPrefix string
	// Auditor receives audit-grade events; nil when there is no key store
	// (the security log still has them).
	Auditor Auditor
	// Log receives the monitor's own problems (never events).
	Log *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Monitor is the process's security monitor.
type Monitor struct {
	o       Options
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	blocks  *blockStore

	enabled      atomic.Bool
	needRequests atomic.Bool
	exempt       atomic.Pointer[ipfilter.Set]

	queue chan secevent.Event
	ctl   chan func()
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	recent *ring

	// Owned by the monitor goroutine (run), or by New before it starts.
	cfg       config.Security
	detectors []detector
	ship      *shippers
	idPrefix  string
	seq       uint64
}

var _ secevent.Sink = (*Monitor)(nil)

// New builds the monitor for o.Config and starts its goroutine. Errors
// (a log file that cannot be opened, a CA file that cannot be read) carry
// config paths.
func New(o Options) (*Monitor, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg := o.Config
	m := &Monitor{o: o, log: o.Log, now: o.Now, queue: make(chan secevent.Event, cfg.QueueSize),
		ctl: make(chan func()), stop: make(chan struct{}), done: make(chan struct{}), recent: newRing(cfg.RecentEvents)}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	m.idPrefix = hex.EncodeToString(rnd[:]) + "-"
	limits := sharedstate.SetLimits{MaxMembers: cfg.Blocks.MaxBlocks, MaxValueBytes: 4096}
	var set sharedstate.Set
	var err error
	if o.Redis != nil {
		set, err = sharedstate.NewRedisSet(o.Redis, o.RedisPrefix, limits)
	} else {
		set, err = sharedstate.NewMemorySet(limits, o.Now)
	}
	if err != nil {
		return nil, err
	}
	m.metrics = newMetrics(m)
	m.blocks = newBlockStore(set, o.Redis != nil, cfg.Blocks.ForgetAfter.D(), o.Now, o.Log, m.metrics.storeErrors.Inc)
	if err := m.apply(cfg); err != nil {
		return nil, err
	}
	go m.run(cfg.Blocks.SyncInterval.D())
	return m, nil
}

// Collectors are the monitor's metrics, to register once.
func (m *Monitor) Collectors() []prometheus.Collector { return m.metrics.collectors }

// Enabled reports whether monitoring is on (security.enabled).
func (m *Monitor) Enabled() bool { return m != nil && m.enabled.Load() }

// Configure applies a reloaded security section: detectors (whose counts
// start over when their settings changed), exemptions, and the shipping
// destinations (rebuilt when changed). queue_size, recent_events and the
// block store's max_blocks keep their running values until a restart.
// On error nothing changes.
func (m *Monitor) Configure(cfg config.Security) error {
	errc := make(chan error, 1)
	select {
	case m.ctl <- func() { errc <- m.apply(cfg) }:
		return <-errc
	case <-m.done:
		return errors.New("security monitor stopped")
	}
}

// apply installs cfg. It runs on the monitor goroutine (or in New).
func (m *Monitor) apply(cfg config.Security) error {
	var kept []string
	if m.ship != nil {
		if cfg.QueueSize != m.cfg.QueueSize {
			kept = append(kept, "security.queue_size")
		}
		if cfg.RecentEvents != m.cfg.RecentEvents {
			kept = append(kept, "security.recent_events")
		}
		if cfg.Blocks.MaxBlocks != m.cfg.Blocks.MaxBlocks {
			kept = append(kept, "security.blocks.max_blocks")
		}
	}
	ship, err := m.buildShippers(cfg, m.ship)
	if err != nil {
		return err
	}
	if m.ship == nil || !reflect.DeepEqual(cfg.Detectors, m.cfg.Detectors) {
		m.detectors = buildDetectors(cfg.Detectors, func(name string) { m.metrics.evictions.WithLabelValues(name).Inc() })
	}
	need := false
	for _, d := range m.detectors {
		need = need || d.needsRequests()
	}
	old := m.ship
	m.ship, m.cfg = ship, cfg
	m.needRequests.Store(need)
	m.exempt.Store(ipfilter.NewSet(config.Prefixes(cfg.Exempt)))
	m.blocks.forget = cfg.Blocks.ForgetAfter.D()
	m.enabled.Store(*cfg.Enabled)
	if old != nil {
		old.closeReplaced(ship)
	}
	for _, k := range kept {
		m.log.Warn("config change needs a restart; not applied", "section", k)
	}
	return nil
}

// Emit implements secevent.Sink: it counts ev and queues it for the
// monitor, or drops it (counted) when the queue is full. It never blocks.
func (m *Monitor) Emit(ev secevent.Event) {
	if !m.enabled.Load() || !secevent.Known(ev.Type) {
		return
	}
	m.metrics.event(ev.Type)
	m.enqueue(ev)
}

// Observe gives the detectors that watch behaviour over time one finished
// request (a secevent.Request: status, route, consumer, object).
func (m *Monitor) Observe(ev secevent.Event) {
	if !m.needRequests.Load() || !m.enabled.Load() {
		return
	}
	ev.Type = secevent.Request
	m.enqueue(ev)
}

func (m *Monitor) enqueue(ev secevent.Event) {
	if ev.Time.IsZero() {
		ev.Time = m.now()
	}
	select {
	case m.queue <- ev:
	default:
		m.metrics.dropped.Inc()
	}
}

// Close stops the monitor after it has handled what is queued, and
// flushes and closes the shipping destinations (waiting a bounded time for
// syslog and webhooks).
func (m *Monitor) Close() error {
	m.once.Do(func() {
		close(m.stop)
		<-m.done
	})
	return nil
}

func (m *Monitor) run(syncEvery time.Duration) {
	defer close(m.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	syncTick := time.NewTicker(syncEvery)
	defer syncTick.Stop()
	sweeps := 0
	for {
		select {
		case ev := <-m.queue:
			m.handle(ev)
		case f := <-m.ctl:
			f()
		case <-syncTick.C:
			if m.blocks.shared {
				ctx, cancel := context.WithTimeout(context.Background(), max(syncEvery, time.Second))
				_ = m.blocks.sync(ctx)
				cancel()
			} else {
				m.blocks.mu.Lock()
				m.blocks.reindex()
				m.blocks.mu.Unlock()
			}
		case <-tick.C:
			if sweeps++; sweeps%10 == 0 {
				now := m.now()
				for _, d := range m.detectors {
					d.sweep(now)
				}
			}
			m.ship.flush()
		case <-m.stop:
			for len(m.queue) > 0 {
				m.handle(<-m.queue)
			}
			m.ship.close()
			return
		}
	}
}

// handle records and ships a security event, then runs the detectors.
func (m *Monitor) handle(ev secevent.Event) {
	if ev.Type != secevent.Request {
		m.record(&ev)
	}
	for _, d := range m.detectors {
		if det := d.observe(&ev); det != nil {
			m.respond(det)
		}
	}
}

// record gives ev its id and severity, keeps it for the admin API and
// ships it.
func (m *Monitor) record(ev *secevent.Event) {
	m.seq++
	ev.ID = m.idPrefix + strconv.FormatUint(m.seq, 36)
	ev.Normalize()
	m.recent.add(*ev)
	m.ship.send(ev)
}

// respond answers a detection: the detection event, then the block or
// read-only response with its audit event and its own event.
func (m *Monitor) respond(d *detection) {
	m.metrics.detections.WithLabelValues(d.detector).Inc()
	action := d.resp.action
	kind, value := "", ""
	switch d.resp.target {
	case KindIP:
		if d.ip.IsValid() {
			kind, value = KindIP, sourceString(d.ip)
		}
	case KindConsumer:
		kind, value = KindConsumer, d.consumer
	case KindCredential:
		kind, value = KindCredential, d.credential
	}
	reason := d.reason
	if action == ModeBlock || action == ModeReadOnly {
		switch {
		case value == "":
			action, reason = ActionAlert, reason+" (nothing to block: the target is unknown)"
		case kind == KindIP && m.exempt.Load().Contains(d.ip):
			action, reason = ActionAlert, reason+" (exempt range: not blocked)"
		}
	}
	now := m.now()
	det := secevent.Event{Type: secevent.Detection, Time: now, Severity: secevent.High, SeveritySet: true,
		Detector: d.detector, Action: action, Subject: describe(d), Reason: reason, Evidence: d.evidence,
		Consumer: d.consumer, Credential: d.credential, Route: d.route, Actor: d.actor}
	if d.ip.IsValid() {
		det.ClientIP = d.ip
	}
	if action == ActionObserve {
		det.Severity = secevent.Info
	}
	m.metrics.event(secevent.Detection)
	m.handle(det)
	if action != ModeBlock && action != ModeReadOnly {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b := m.blocks.impose(ctx, Block{Kind: kind, Value: value, Mode: action, Detector: d.detector, Reason: d.reason}, d.resp.ladder)
	m.metrics.imposed.WithLabelValues(kind, action).Inc()
	src := ""
	if kind == KindIP {
		src = d.ip.String()
	}
	m.auditBlock(ctx, &audit.Event{Actor: "detector:" + d.detector, Action: "security.block.impose",
		Target: "block:" + b.ID, SourceIP: src, Outcome: audit.OutcomeSuccess})
	imposed := secevent.Event{Type: secevent.BlockImposed, Time: m.now(), Detector: d.detector, Action: action,
		Subject: b.subject(), BlockID: b.ID, Until: b.Until, Reason: d.reason, Consumer: d.consumer, Credential: d.credential,
		Evidence: map[string]int64{"offence": int64(b.Offence), "seconds": int64(b.Until.Sub(b.Created) / time.Second)}}
	if kind == KindIP {
		imposed.ClientIP = d.ip
	}
	m.metrics.event(secevent.BlockImposed)
	m.handle(imposed)
}

// describe names what a detection is about.
func describe(d *detection) string {
	switch {
	case d.resp.target == KindConsumer && d.consumer != "":
		return "consumer:" + d.consumer
	case d.resp.target == KindCredential && d.credential != "":
		return "credential:" + d.credential
	case d.actor != "":
		return "admin:" + d.actor
	case d.route != "" && !d.ip.IsValid():
		return "route:" + d.route
	case d.ip.IsValid():
		return "ip:" + sourceString(d.ip)
	}
	return ""
}

// auditBlock writes e to the audit trail synchronously. A failure is
// logged and counted; the block holds regardless (refusing to protect
// because the trail is down would be the worse failure).
func (m *Monitor) auditBlock(ctx context.Context, e *audit.Event) {
	if m.o.Auditor == nil {
		return
	}
	if err := m.o.Auditor.Audit(ctx, e); err != nil {
		m.metrics.auditErrors.Inc()
		m.log.Error("security monitor: writing the audit event failed", "action", e.Action, "target", e.Target, "error", err.Error())
	}
}

// Blocks lists the blocks in force (shared ones included).
func (m *Monitor) Blocks(ctx context.Context) []Block { return m.blocks.list(ctx) }

// ErrNoBlock is returned by Lift for an id that is not in force.
var ErrNoBlock = errors.New("no such block in force")

// Lift removes a block everywhere. The caller audits the admin action
// (before lifting, so a lift is never made without its event); Lift
// emits the block_lifted event.
func (m *Monitor) Lift(ctx context.Context, id, actor string, clientIP netip.Addr) (Block, error) {
	b, ok, err := m.blocks.lift(ctx, id)
	if err != nil {
		return Block{}, fmt.Errorf("security block store: %w", err)
	}
	if !ok {
		return Block{}, ErrNoBlock
	}
	m.metrics.lifted.Inc()
	m.Emit(secevent.Event{Type: secevent.BlockLifted, Actor: actor, ClientIP: clientIP, Detector: b.Detector,
		Subject: b.subject(), BlockID: b.ID, Until: b.Until, Reason: "lifted by an admin"})
	return b, nil
}

// Block returns the block id in force.
func (m *Monitor) Block(ctx context.Context, id string) (Block, bool) { return m.blocks.get(ctx, id) }
