package server

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// Run serves until ctx ends or SIGTERM/SIGINT arrives on sigs, reloading on
// SIGHUP and, when reload.watch is on, when the file or a file it names
// (an OpenAPI document) changes. It then drains
// for shutdown.drain_timeout and returns.
func (s *Server) Run(ctx context.Context, sigs <-chan os.Signal) error {
	var w watcher
	defer w.stop()
	w.follow(s.reloadSettings(), s.opts.ConfigPath)
	lastStamp, pending := s.stamp(), ""
	for {
		select {
		case <-ctx.Done():
			return s.drain()
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				s.reloadAndLog("signal")
				lastStamp = s.stamp()
				w.follow(s.reloadSettings(), s.opts.ConfigPath)
			case syscall.SIGTERM:
				s.log.Info("shutting down", "signal", sig.String())
				s.preStop(ctx, sigs)
				return s.drain()
			case os.Interrupt:
				// At a terminal: no load balancer to wait for.
				s.log.Info("shutting down", "signal", sig.String())
				return s.drain()
			}
		case <-w.tick():
			// Reload only once the file has stopped changing for one
			// interval: editors and config management write in steps.
			st := s.stamp()
			switch {
			case st == lastStamp:
				pending = ""
			case st != pending:
				pending = st
			default:
				s.reloadAndLog("file change")
				lastStamp, pending = st, ""
				w.follow(s.reloadSettings(), s.opts.ConfigPath)
			}
		}
	}
}

func (s *Server) reloadAndLog(trigger string) {
	if err := s.ReloadFile(); err != nil {
		s.log.Error("config reload failed; the current configuration keeps serving", "trigger", trigger, "error", err.Error())
		return
	}
	s.log.Info("config reloaded", "trigger", trigger)
}

// preStop keeps serving for shutdown.pre_stop_delay while /readyz answers
// 503 "shutting down", so load balancers stop sending new requests before
// the listeners close. Meanwhile every HTTP/1.x response ends its
// connection (closeWhileDraining), so clients open their next one through
// the load balancer; HTTP/2 connections are sent GOAWAY when the drain
// starts, the first moment net/http can send it without also closing idle
// HTTP/1.1 connections under their clients' feet. Another SIGTERM, an
// interrupt or ctx ending cuts the delay short.
func (s *Server) preStop(ctx context.Context, sigs <-chan os.Signal) {
	s.mu.Lock()
	delay := s.cfg.Shutdown.PreStopDelay.D()
	s.mu.Unlock()
	s.draining.Store(true)
	if delay <= 0 {
		return
	}
	s.log.Info("not ready: serving until the pre-stop delay ends, then draining", "pre_stop_delay", delay.String())
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return
		case <-ctx.Done():
			return
		case sig := <-sigs:
			if sig == syscall.SIGTERM || sig == os.Interrupt {
				s.log.Info("pre-stop delay cut short", "signal", sig.String())
				return
			}
		}
	}
}

func (s *Server) drain() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Shutdown.DrainTimeout.D())
	defer cancel()
	err := s.Shutdown(ctx)
	if err != nil {
		s.log.Warn("shutdown", "error", err.Error())
	} else {
		s.log.Info("shutdown complete")
	}
	return nil
}

// stamp changes when the configuration file, or a file the running
// configuration was built from (gateway.Runtime.Files), changes: a reload
// would read them all again, so a watched reload follows them all.
func (s *Server) stamp() string {
	if s.opts.ConfigPath == "" {
		return ""
	}
	st := fileStamp(s.opts.ConfigPath)
	for _, f := range s.gw.Runtime().Files() {
		st += "|" + f + "=" + fileStamp(f)
	}
	return st
}

func fileStamp(path string) string {
	if path == "" {
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "missing"
	}
	return fmt.Sprintf("%d/%d", fi.ModTime().UnixNano(), fi.Size())
}

// reloadSettings are the reload settings in force (a reload applies them).
func (s *Server) reloadSettings() config.Reload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Reload
}

// watcher is the file-change ticker of reload.watch, rebuilt when a reload
// changes reload.watch or reload.interval.
type watcher struct {
	cur    config.Reload
	ticker *time.Ticker
}

func (w *watcher) follow(r config.Reload, path string) {
	if w.ticker != nil && r == w.cur {
		return
	}
	w.stop()
	w.cur = r
	if r.Watch && path != "" {
		w.ticker = time.NewTicker(r.Interval.D())
	}
}

// tick is nil (never ready) when the file is not watched.
func (w *watcher) tick() <-chan time.Time {
	if w.ticker == nil {
		return nil
	}
	return w.ticker.C
}

func (w *watcher) stop() {
	if w.ticker != nil {
		w.ticker.Stop()
		w.ticker = nil
	}
}
