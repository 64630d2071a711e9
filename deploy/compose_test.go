package deploy

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

type composeService struct {
	Image           string            `yaml:"image"`
	Command         []string          `yaml:"command"`
	User            string            `yaml:"user"`
	ReadOnly        bool              `yaml:"read_only"`
	CapDrop         []string          `yaml:"cap_drop"`
	SecurityOpt     []string          `yaml:"security_opt"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	Environment     map[string]string `yaml:"environment"`
	Volumes         []string          `yaml:"volumes"`
	Ports           []string          `yaml:"ports"`
}

// composeVar is compose's ${VAR}, ${VAR:?message} or ${VAR:-default}.
var composeVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[?-][^}]*)?\}`)

// The local cluster of deploy/compose: two gateways serving the mounted
// configuration, which passes the same checks as the Kubernetes one, with
// the key store and the rate-limit store shared through the postgres and
// redis services and both gateways scraped by prometheus. No container
// engine runs here, so this is what can be checked of it.
func TestComposeCluster(t *testing.T) {
	b, err := os.ReadFile("compose/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatalf("compose/compose.yaml: %v", err)
	}
	for _, name := range []string{"gateway-1", "gateway-2", "postgres", "redis", "prometheus", "grafana"} {
		if _, ok := file.Services[name]; !ok {
			t.Fatalf("no service %s", name)
		}
	}
	var gateways []string
	for name, s := range file.Services {
		if slices.Contains(s.Command, "serve") {
			gateways = append(gateways, name)
		}
	}
	slices.Sort(gateways)
	if !slices.Equal(gateways, []string{"gateway-1", "gateway-2"}) {
		t.Fatalf("services running serve: %v, want gateway-1 and gateway-2", gateways)
	}

	hostPorts := map[string]bool{}
	var opsPort string
	for _, name := range gateways {
		t.Run(name, func(t *testing.T) {
			s := file.Services[name]
			// The file serve reads is the mounted portcullis.yaml.
			cfgPath := s.Command[len(s.Command)-1]
			var mounts []string
			src := ""
			for _, v := range s.Volumes {
				parts := strings.Split(v, ":")
				mounts = append(mounts, parts[1])
				if parts[1] == cfgPath {
					src = parts[0]
				}
			}
			if len(s.Command) < 3 || s.Command[0] != "serve" || s.Command[1] != "--config" || src == "" {
				t.Fatalf("command %q: want serve --config with a mounted file", s.Command)
			}
			doc, err := os.ReadFile(filepath.Join("compose", src))
			if err != nil {
				t.Fatal(err)
			}
			cfg := checkMountedConfig(t, "the "+name+" service", string(doc), s.Environment, mounts)

			for k, v := range s.Environment {
				secret := strings.Contains(k, "PEPPER") || strings.Contains(k, "MASTER_KEY") ||
					strings.Contains(k, "DSN") || strings.Contains(k, "PASSWORD")
				if secret && !composeVar.MatchString(v) {
					t.Errorf("%s must come from the environment compose runs in (${VAR}), never a literal value", k)
				}
			}
			if u := s.User; u == "" || u == "0" || strings.HasPrefix(u, "0:") || strings.HasPrefix(u, "root") {
				t.Errorf("user %q: want a non-root uid", u)
			}
			if !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
				t.Errorf("read_only %v, cap_drop %v, security_opt %v: want true, [ALL], no-new-privileges:true", s.ReadOnly, s.CapDrop, s.SecurityOpt)
			}
			if len(s.Ports) != 1 {
				t.Fatalf("ports %v: want the listener's port published once", s.Ports)
			}
			hp, cp, _ := strings.Cut(s.Ports[0], ":")
			if cp != port(t, cfg.Listeners[0].Address) {
				t.Errorf("publishes container port %s, the listener is on %s", cp, cfg.Listeners[0].Address)
			}
			if hostPorts[hp] {
				t.Errorf("host port %s published twice", hp)
			}
			hostPorts[hp] = true
			opsPort = port(t, cfg.Ops.Address)

			grace, err := time.ParseDuration(s.StopGracePeriod)
			if err != nil {
				t.Fatalf("stop_grace_period %q: %v (compose's default of 10s is too short)", s.StopGracePeriod, err)
			}
			if need := cfg.Shutdown.PreStopDelay.D() + cfg.Shutdown.DrainTimeout.D(); grace <= need || cfg.Shutdown.PreStopDelay.D() == 0 {
				t.Errorf("stop_grace_period %s, pre_stop_delay %s: want a delay and a grace period beyond delay + drain %s",
					grace, cfg.Shutdown.PreStopDelay.D(), need)
			}

			// The shared state lives in the cluster's own services.
			dsn, err := url.Parse(composeVar.ReplaceAllString(s.Environment["PORTCULLIS_KEYS_DSN"], "x"))
			if err != nil || cfg.Keys.Store.Driver != "postgres" || dsn.Hostname() != "postgres" {
				t.Errorf("keys.store %s at %v (%v): want postgres at the postgres service", cfg.Keys.Store.Driver, dsn, err)
			}
			pg := file.Services["postgres"].Environment
			if dsn != nil && (dsn.User.Username() != pg["POSTGRES_USER"] || dsn.Path != "/"+pg["POSTGRES_DB"]) {
				t.Errorf("the DSN's user and database %s %s are not the postgres service's %s %s", dsn.User.Username(), dsn.Path, pg["POSTGRES_USER"], pg["POSTGRES_DB"])
			}
			st := cfg.RateLimits.Store
			if st.Type != "redis" || st.Redis == nil {
				t.Fatalf("rate_limits.store.type %q: want redis, so both gateways count in one place", st.Type)
			}
			if host, _, _ := net.SplitHostPort(st.Redis.Address); host != "redis" {
				t.Errorf("rate_limits.store.redis.address %s: want the redis service", st.Redis.Address)
			}
			if cfg.RateLimits.Instances != len(gateways) {
				t.Errorf("rate_limits.instances %d, want %d gateways", cfg.RateLimits.Instances, len(gateways))
			}
		})
	}

	t.Run("prometheus scrapes every gateway's ops listener", func(t *testing.T) {
		var prom struct {
			RuleFiles     []string `yaml:"rule_files"`
			ScrapeConfigs []struct {
				MetricsPath   string `yaml:"metrics_path"`
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"scrape_configs"`
		}
		b, err := os.ReadFile("compose/prometheus.yml")
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &prom); err != nil {
			t.Fatal(err)
		}
		var targets []string
		for _, sc := range prom.ScrapeConfigs {
			if sc.MetricsPath != "/metrics" {
				t.Errorf("metrics_path %q, want /metrics", sc.MetricsPath)
			}
			for _, st := range sc.StaticConfigs {
				targets = append(targets, st.Targets...)
			}
		}
		slices.Sort(targets)
		want := []string{"gateway-1:" + opsPort, "gateway-2:" + opsPort}
		if !slices.Equal(targets, want) {
			t.Errorf("targets %v, want %v", targets, want)
		}
		mounted := map[string]string{}
		for _, v := range file.Services["prometheus"].Volumes {
			parts := strings.Split(v, ":")
			mounted[parts[1]] = parts[0]
		}
		for _, rf := range prom.RuleFiles {
			if mounted[rf] != "../prometheus/alerts.yaml" {
				t.Errorf("rule file %s is not the repository's alerts (mounted from %q)", rf, mounted[rf])
			}
		}
	})
	t.Run("every file mounted from the repository exists", func(t *testing.T) {
		for name, s := range file.Services {
			for _, v := range s.Volumes {
				src, _, _ := strings.Cut(v, ":")
				// Named volumes, and the certificate the operator provides.
				if !strings.HasPrefix(src, ".") || src == "./tls" {
					continue
				}
				if _, err := os.Stat(filepath.Join("compose", src)); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			}
		}
	})
}
