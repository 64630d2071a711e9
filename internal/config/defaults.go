package config

import (
	"fmt"
	"time"
)

// Defaults, in one place so the README reference and the code agree.
const (
	DefaultOpsAddress            = "127.0.0.1:9090"
	DefaultClientIPHeader        = "x-forwarded-for"
	DefaultMinTLSVersion         = "1.2"
	DefaultClientAuth            = "none"
	DefaultCertReloadInterval    = 10 * time.Second
	DefaultHSTSMaxAge            = 365 * 24 * time.Hour
	DefaultReadHeaderTimeout     = 5 * time.Second
	DefaultReadTimeout           = 30 * time.Second
	DefaultWriteTimeout          = 60 * time.Second
	DefaultIdleTimeout           = 120 * time.Second
	DefaultMaxHeaderBytes        = 32 << 10
	DefaultMaxConnections        = 10000
	DefaultConnectTimeout        = 5 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
	DefaultIdleConnTimeout       = 90 * time.Second
	DefaultMaxIdleConnsPerTarget = 256
	DefaultRetries               = 1
	DefaultHealthPath            = "/healthz"
	DefaultHealthInterval        = 10 * time.Second
	DefaultHealthTimeout         = 2 * time.Second
	DefaultHealthyThreshold      = 2
	DefaultUnhealthyThreshold    = 3
	DefaultEjectFailures         = 5
	DefaultEjectFor              = 30 * time.Second
	DefaultMaxBodyBytes          = 1 << 20
	DefaultRouteTimeout          = 60 * time.Second
	DefaultPathCharset           = "utf-8"
	DefaultLogLevel              = "info"
	DefaultAccessOutput          = "stdout"
	DefaultAccessBuffer          = 64 << 10
	DefaultAccessFlush           = time.Second
	DefaultDrainTimeout          = 30 * time.Second
	DefaultReloadInterval        = 2 * time.Second
)

func setDur(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

func setInt(i *int, def int) {
	if *i == 0 {
		*i = def
	}
}

func setStr(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func boolPtr(b bool) *bool { return &b }

// ApplyDefaults fills every unset field with its documented default.
func (c *Config) ApplyDefaults() {
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if l.Name == "" {
			l.Name = fmt.Sprintf("listener%d", i)
		}
		if l.TLS != nil {
			setStr(&l.TLS.MinVersion, DefaultMinTLSVersion)
			setStr(&l.TLS.ClientAuth, DefaultClientAuth)
			setDur(&l.TLS.ReloadInterval, DefaultCertReloadInterval)
		}
		if l.HSTS.IncludeSubdomains == nil {
			l.HSTS.IncludeSubdomains = boolPtr(true)
		}
		setDur(&l.HSTS.MaxAge, DefaultHSTSMaxAge)
		lim := &l.Limits
		setDur(&lim.ReadHeaderTimeout, DefaultReadHeaderTimeout)
		setDur(&lim.ReadTimeout, DefaultReadTimeout)
		setDur(&lim.WriteTimeout, DefaultWriteTimeout)
		setDur(&lim.IdleTimeout, DefaultIdleTimeout)
		if lim.MaxHeaderBytes == 0 {
			lim.MaxHeaderBytes = DefaultMaxHeaderBytes
		}
		setInt(&lim.MaxConnections, DefaultMaxConnections)
	}
	setStr(&c.Ops.Address, DefaultOpsAddress)
	c.Tracing.applyDefaults()
	setStr(&c.ClientIPHeader, DefaultClientIPHeader)
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		setDur(&u.ConnectTimeout, DefaultConnectTimeout)
		setDur(&u.ResponseHeaderTimeout, DefaultResponseHeaderTimeout)
		setDur(&u.IdleConnTimeout, DefaultIdleConnTimeout)
		setInt(&u.MaxIdleConnsPerTarget, DefaultMaxIdleConnsPerTarget)
		if u.Retries == nil {
			r := DefaultRetries
			u.Retries = &r
		}
		if h := u.HealthCheck; h != nil {
			setStr(&h.Path, DefaultHealthPath)
			setDur(&h.Interval, DefaultHealthInterval)
			setDur(&h.Timeout, DefaultHealthTimeout)
			setInt(&h.HealthyThreshold, DefaultHealthyThreshold)
			setInt(&h.UnhealthyThreshold, DefaultUnhealthyThreshold)
		}
		setInt(&u.PassiveEjection.ConsecutiveFailures, DefaultEjectFailures)
		setDur(&u.PassiveEjection.EjectFor, DefaultEjectFor)
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		if r.MaxBodyBytes == nil {
			b := ByteSize(DefaultMaxBodyBytes)
			r.MaxBodyBytes = &b
		}
		setDur(&r.Timeout, DefaultRouteTimeout)
		setStr(&r.PathCharset, DefaultPathCharset)
	}
	setStr(&c.Logging.Level, DefaultLogLevel)
	a := &c.Logging.Access
	if a.Enabled == nil {
		a.Enabled = boolPtr(true)
	}
	setStr(&a.Output, DefaultAccessOutput)
	if a.BufferSize == 0 {
		a.BufferSize = DefaultAccessBuffer
	}
	setDur(&a.FlushInterval, DefaultAccessFlush)
	setDur(&c.Shutdown.DrainTimeout, DefaultDrainTimeout)
	setDur(&c.Reload.Interval, DefaultReloadInterval)
	c.defaultAuth()
	c.defaultKeys()
	c.defaultRateLimits()
}
