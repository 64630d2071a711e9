package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Defaults, in one place so the reference in docs/ and the code agree.
const (
	DefaultOpsAddress            = "127.0.0.1:9090"
	DefaultClientIPHeader        = "x-forwarded-for"
	DefaultMinTLSVersion         = "1.2"
	DefaultClientAuth            = "none"
	DefaultTLSProfile            = "default"
	DefaultRouteProfile          = "none"
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
	DefaultEjectFailureRatio     = 0.5
	DefaultEjectMinRequests      = 20
	DefaultEjectWindow           = 10 * time.Second
	DefaultEjectFor              = 30 * time.Second
	DefaultMaxEjectionPercent    = 50
	DefaultMaxBodyBytes          = 1 << 20
	DefaultRouteTimeout          = 60 * time.Second
	DefaultWebSocketIdleTimeout  = 5 * time.Minute
	DefaultWebSocketMaxLifetime  = time.Hour
	DefaultPathCharset           = "utf-8"
	DefaultLogLevel              = "info"
	DefaultAccessOutput          = "stdout"
	DefaultAccessBuffer          = 64 << 10
	DefaultAccessFlush           = time.Second
	DefaultDrainTimeout          = 30 * time.Second
	DefaultPreStopDelay          = 5 * time.Second
	MaxPreStopDelay              = 5 * time.Minute
	DefaultReloadInterval        = 2 * time.Second
)

// defaulter is implemented by every configuration type that has documented
// defaults. defaults returns a value of the type (not a pointer) whose
// fields hold those defaults; fields of struct type take their defaults
// from their own type, not from the parent's.
//
// A key absent from the file takes its default. A key that is present
// keeps its value, even an explicit 0, "" or []: where zero means
// something it is honoured, and where it is invalid Validate refuses it
// with its path. Nothing is silently replaced.
type defaulter interface{ defaults() any }

// fillDefaults gives every field of v (a pointer to a configuration value)
// that isSet reports as not set its type's default, depth first. isSet is
// called with the field's config path and its current value.
func fillDefaults(v any, isSet func(path string, field reflect.Value) bool) {
	fill(reflect.ValueOf(v).Elem(), "", isSet, reflect.Value{})
}

// fill gives v's unset fields their defaults: from def when it is valid
// (an inlined block takes its defaults from the type it is inlined in, as
// the token checks of jwt and introspection differ), else from v's type.
func fill(v reflect.Value, path string, isSet func(string, reflect.Value) bool, def reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			fill(v.Elem(), path, isSet, reflect.Value{})
		}
	case reflect.Slice:
		if !holdsStructs(v.Type().Elem()) {
			return
		}
		for i := range v.Len() {
			fill(v.Index(i), Index(path, i), isSet, reflect.Value{})
		}
	case reflect.Map:
		if !holdsStructs(v.Type().Elem()) {
			return
		}
		iter := v.MapRange()
		for iter.Next() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(iter.Value())
			fill(e, Join(path, fmt.Sprint(iter.Key().Interface())), isSet, reflect.Value{})
			v.SetMapIndex(iter.Key(), e)
		}
	case reflect.Struct:
		if d, ok := v.Interface().(defaulter); ok && !def.IsValid() {
			def = reflect.ValueOf(d.defaults())
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, inline, ok := yamlName(f)
			if !ok {
				continue
			}
			if inline {
				var inner reflect.Value
				if def.IsValid() {
					inner = def.Field(i)
				}
				fill(v.Field(i), path, isSet, inner)
				continue
			}
			fp := Join(path, name)
			if def.IsValid() && !def.Field(i).IsZero() && !isSet(fp, v.Field(i)) {
				v.Field(i).Set(deepCopy(def.Field(i)))
			}
			fill(v.Field(i), fp, isSet, reflect.Value{})
		}
	}
}

// holdsStructs reports whether values of t may contain structs with
// defaults.
func holdsStructs(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}

// deepCopy copies pointers and slices of a default so that no two
// configurations share (and could mutate) one default value.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(deepCopy(v.Elem()))
		return c
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			c.Index(i).Set(deepCopy(v.Index(i)))
		}
		return c
	}
	return v
}

// yamlName returns a struct field's key, whether it is inlined, and false
// for fields that are not configuration keys.
func yamlName(f reflect.StructField) (name string, inline, ok bool) {
	if !f.IsExported() {
		return "", false, false
	}
	tag := f.Tag.Get("yaml")
	name, opts, _ := strings.Cut(tag, ",")
	if name == "-" {
		return "", false, false
	}
	if strings.Contains(opts, "inline") {
		return "", true, true
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, false, true
}

// ptr returns a pointer to v, for defaults of optional scalars.
func ptr[T any](v T) *T { return &v }

// WithDefaults returns v (a configuration value such as a Config or a
// JWTAuth block) with every zero field at its documented default. It is
// for values built in Go (tests, tools), which cannot tell an explicit zero
// from an absent one; files go through Parse, which can and never replaces
// a zero that was written.
func WithDefaults[T any](v T) T {
	fillDefaults(&v, func(_ string, f reflect.Value) bool { return !f.IsZero() })
	if c, ok := any(&v).(*Config); ok {
		c.contextDefaults(func(string) bool { return false })
	}
	return v
}

// contextDefaults fills the defaults that depend on other values (a list
// index, a sibling field). set reports whether a key was written.
func (c *Config) contextDefaults(set func(path string) bool) {
	for i := range c.Listeners {
		if l := &c.Listeners[i]; l.Name == "" && !set(Join(Index("listeners", i), "name")) {
			l.Name = fmt.Sprintf("listener%d", i)
		}
	}
	for i := range c.RateLimits.Policies {
		p := &c.RateLimits.Policies[i]
		if p.Rate != nil && !set(Join(Index("rate_limits.policies", i), "rate.burst")) && p.Rate.Burst == 0 {
			p.Rate.Burst = p.Rate.Limit
		}
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		p := Index("routes", i)
		// Tunnel limits exist only on routes that tunnel.
		if r.WebSocket && !set(Join(p, "websocket_idle_timeout")) {
			r.WebSocketIdleTimeout = Duration(DefaultWebSocketIdleTimeout)
		}
		if r.WebSocket && !set(Join(p, "websocket_max_lifetime")) {
			r.WebSocketMaxLifetime = Duration(DefaultWebSocketMaxLifetime)
		}
		// The WAF inspects every body the route accepts unless told less.
		if r.WAF != nil && r.WAF.RequestBodyLimit == nil && !set(Join(p, "waf.request_body_limit")) && r.MaxBodyBytes != nil {
			r.WAF.RequestBodyLimit = ptr(*r.MaxBodyBytes)
		}
	}
	k := &c.Keys
	if k.Pepper.File == "" && !set("keys.pepper.env") {
		k.Pepper.Env = DefaultPepperEnv
	}
	if k.MasterKey.File == "" && !set("keys.master_key.env") {
		k.MasterKey.Env = DefaultMasterKeyEnv
	}
}

func (Listener) defaults() any { return Listener{} }

func (ListenerTLS) defaults() any {
	return ListenerTLS{MinVersion: DefaultMinTLSVersion, ClientAuth: DefaultClientAuth, Profile: DefaultTLSProfile,
		ReloadInterval: Duration(DefaultCertReloadInterval)}
}

func (HSTS) defaults() any {
	return HSTS{MaxAge: Duration(DefaultHSTSMaxAge), IncludeSubdomains: ptr(true)}
}

func (ServerLimits) defaults() any {
	return ServerLimits{
		ReadHeaderTimeout: Duration(DefaultReadHeaderTimeout),
		ReadTimeout:       Duration(DefaultReadTimeout),
		WriteTimeout:      Duration(DefaultWriteTimeout),
		IdleTimeout:       Duration(DefaultIdleTimeout),
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		MaxConnections:    DefaultMaxConnections,
	}
}

func (Config) defaults() any {
	return Config{ClientIPHeader: DefaultClientIPHeader}
}

func (Ops) defaults() any { return Ops{Address: DefaultOpsAddress} }

func (Upstream) defaults() any {
	return Upstream{
		ConnectTimeout:        Duration(DefaultConnectTimeout),
		ResponseHeaderTimeout: Duration(DefaultResponseHeaderTimeout),
		IdleConnTimeout:       Duration(DefaultIdleConnTimeout),
		MaxIdleConnsPerTarget: DefaultMaxIdleConnsPerTarget,
		Retries:               ptr(DefaultRetries),
		Protocol:              UpstreamProtocolAuto,
	}
}

func (HealthCheck) defaults() any {
	return HealthCheck{
		Path:               DefaultHealthPath,
		Interval:           Duration(DefaultHealthInterval),
		Timeout:            Duration(DefaultHealthTimeout),
		HealthyThreshold:   DefaultHealthyThreshold,
		UnhealthyThreshold: DefaultUnhealthyThreshold,
	}
}

func (PassiveEjection) defaults() any {
	return PassiveEjection{
		FailureRatio:       DefaultEjectFailureRatio,
		MinRequests:        DefaultEjectMinRequests,
		Window:             Duration(DefaultEjectWindow),
		EjectFor:           Duration(DefaultEjectFor),
		MaxEjectionPercent: DefaultMaxEjectionPercent,
	}
}

func (Route) defaults() any {
	return Route{MaxBodyBytes: ptr(ByteSize(DefaultMaxBodyBytes)), Timeout: Duration(DefaultRouteTimeout), UpstreamErrors: "pass",
		PathCharset: DefaultPathCharset, Profile: DefaultRouteProfile}
}

func (Logging) defaults() any { return Logging{Level: DefaultLogLevel} }

func (AccessLog) defaults() any {
	return AccessLog{
		Enabled:       ptr(true),
		Output:        DefaultAccessOutput,
		BufferSize:    DefaultAccessBuffer,
		FlushInterval: Duration(DefaultAccessFlush),
	}
}

func (Shutdown) defaults() any {
	return Shutdown{PreStopDelay: Duration(DefaultPreStopDelay), DrainTimeout: Duration(DefaultDrainTimeout)}
}

func (Reload) defaults() any { return Reload{Interval: Duration(DefaultReloadInterval)} }
