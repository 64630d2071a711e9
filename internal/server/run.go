package server

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Run serves until ctx ends or SIGTERM/SIGINT arrives on sigs, reloading on
// SIGHUP and, when reload.watch is on, when the file changes. It then drains
// for shutdown.drain_timeout and returns.
func (s *Server) Run(ctx context.Context, sigs <-chan os.Signal) error {
	var watch <-chan time.Time
	if s.cfg.Reload.Watch && s.opts.ConfigPath != "" {
		t := time.NewTicker(s.cfg.Reload.Interval.D())
		defer t.Stop()
		watch = t.C
	}
	lastStamp, pending := fileStamp(s.opts.ConfigPath), ""
	for {
		select {
		case <-ctx.Done():
			return s.drain()
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				s.reloadAndLog("signal")
				lastStamp = fileStamp(s.opts.ConfigPath)
			case syscall.SIGTERM, os.Interrupt:
				s.log.Info("shutting down", "signal", sig.String())
				return s.drain()
			}
		case <-watch:
			// Reload only once the file has stopped changing for one
			// interval: editors and config management write in steps.
			st := fileStamp(s.opts.ConfigPath)
			switch {
			case st == lastStamp:
				pending = ""
			case st != pending:
				pending = st
			default:
				s.reloadAndLog("file change")
				lastStamp, pending = st, ""
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
