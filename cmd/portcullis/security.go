package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"time"
)

const securityUsage = `Usage:
  portcullis security blocks list                  the automatic blocks in force (every instance)
  portcullis security blocks lift ID               lift a block everywhere (audited)
  portcullis security events [--type T] [--client-ip IP] [--consumer ID] [--route NAME]
                             [--detector NAME] [--since 15m|RFC3339] [--limit N]
                                                   recent security events of the instance, newest first

Admin API flags and environment: see "portcullis keys --help".
`

func cmdSecurity(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, securityUsage)
		return 0
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "blocks":
		if len(args) == 0 {
			fmt.Fprint(stderr, securityUsage)
			return 2
		}
		verb, rest := args[0], args[1:]
		fs := flag.NewFlagSet("security blocks "+verb, flag.ContinueOnError)
		fs.SetOutput(stderr)
		var api apiFlags
		api.register(fs)
		pos, err := parse(fs, rest)
		if err != nil {
			return 2
		}
		switch {
		case verb == "list" && len(pos) == 0:
			return call(&api, "GET", "/v1/security/blocks", nil, stdout, stderr)
		case verb == "lift" && len(pos) == 1:
			code := call(&api, "DELETE", "/v1/security/blocks/"+url.PathEscape(pos[0]), nil, stdout, stderr)
			if code == 0 {
				fmt.Fprintln(stderr, "Lifted; every instance stops enforcing it within security.blocks.sync_interval.")
			}
			return code
		}
	case "events":
		fs := flag.NewFlagSet("security events", flag.ContinueOnError)
		fs.SetOutput(stderr)
		var api apiFlags
		api.register(fs)
		var typ, ip, consumer, route, detector, since string
		var limit int
		fs.StringVar(&typ, "type", "", "event type (detection, block_imposed, auth_failure, ...)")
		fs.StringVar(&ip, "client-ip", "", "client IP address")
		fs.StringVar(&consumer, "consumer", "", "consumer id")
		fs.StringVar(&route, "route", "", "route name")
		fs.StringVar(&detector, "detector", "", "detector name")
		fs.StringVar(&since, "since", "", "a duration back from now (15m) or an RFC 3339 time")
		fs.IntVar(&limit, "limit", 0, "at most this many")
		pos, err := parse(fs, args)
		if err != nil || len(pos) > 0 {
			fmt.Fprint(stderr, securityUsage)
			return 2
		}
		if since != "" {
			if d, err := time.ParseDuration(since); err == nil {
				since = time.Now().Add(-d).UTC().Format(time.RFC3339)
			}
		}
		q := url.Values{"type": {typ}, "client_ip": {ip}, "consumer": {consumer}, "route": {route}, "detector": {detector}, "since": {since}}
		if limit > 0 {
			q.Set("limit", fmt.Sprint(limit))
		}
		return call(&api, "GET", listPath("/v1/security/events", q), nil, stdout, stderr)
	}
	fmt.Fprint(stderr, securityUsage)
	return 2
}
