// Package deploy holds the deployment assets (container image, systemd
// unit, Kubernetes manifests, a compose file for a local cluster); its
// tests check what can be checked offline: the manifests and the compose
// file against the configuration they mount.
package deploy

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/portcullis/portcullis/internal/app"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pki"
)

type object struct {
	Kind     string                `yaml:"kind"`
	Metadata struct{ Name string } `yaml:"metadata"`
	Data     map[string]string     `yaml:"data"`
	Spec     struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		PodSelector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"podSelector"`
		MinAvailable *int `yaml:"minAvailable"`
		Template     struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		Ingress []struct {
			Ports []struct{ Port int } `yaml:"ports"`
		} `yaml:"ingress"`
	} `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot *bool `yaml:"runAsNonRoot"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name      string                 `yaml:"name"`
		ConfigMap *struct{ Name string } `yaml:"configMap"`
		Secret    *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type container struct {
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string    `yaml:"name"`
		Value     string    `yaml:"value"`
		ValueFrom yaml.Node `yaml:"valueFrom"`
	} `yaml:"env"`
	ReadinessProbe probe `yaml:"readinessProbe"`
	LivenessProbe  probe `yaml:"livenessProbe"`
	Lifecycle      *struct {
		PreStop yaml.Node `yaml:"preStop"`
	} `yaml:"lifecycle"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
	} `yaml:"volumeMounts"`
}

func readManifests(t *testing.T, file string) map[string]object {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	objs := map[string]object{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(false)
	for {
		var o object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if _, dup := objs[o.Kind]; dup {
			t.Fatalf("%s: two %s objects; the test reads one of each", file, o.Kind)
		}
		objs[o.Kind] = o
	}
	return objs
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The Kubernetes manifests agree with the configuration they mount: the
// configuration is one `serve` accepts, every variable it reads is set by
// the Deployment, the probes hit the ops listener, the kubelet waits for
// the pre-stop delay and the drain, and the pod runs unprivileged.
func TestKubernetesManifests(t *testing.T) {
	objs := readManifests(t, "kubernetes/portcullis.yaml")
	for _, kind := range []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "NetworkPolicy", "Service"} {
		if _, ok := objs[kind]; !ok {
			t.Fatalf("no %s", kind)
		}
	}
	dep := objs["Deployment"]
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	doc, ok := objs["ConfigMap"].Data["portcullis.yaml"]
	if !ok {
		t.Fatal("the ConfigMap has no portcullis.yaml")
	}

	set := map[string]string{}
	for _, e := range c.Env {
		set[e.Name] = e.Value
	}
	var mounts []string
	for _, vm := range c.VolumeMounts {
		mounts = append(mounts, vm.MountPath)
	}
	cfg := checkMountedConfig(t, "the Deployment", doc, set, mounts)

	// The config file the container is started with is the mounted one.
	cfgPath := c.Args[len(c.Args)-1]
	found := false
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == cfgPath && vm.SubPath == "portcullis.yaml" {
			found = true
		}
	}
	if len(c.Args) < 2 || c.Args[0] != "serve" || !found {
		t.Errorf("args %q: want serve with the mounted portcullis.yaml", c.Args)
	}

	ports := map[string]string{}
	for _, p := range c.Ports {
		ports[p.Name] = strconv.Itoa(p.ContainerPort)
	}
	checks := []struct {
		name      string
		got, want string
	}{
		{"https containerPort is the listener's port", ports["https"], port(t, cfg.Listeners[0].Address)},
		{"ops containerPort is the ops listener's port", ports["ops"], port(t, cfg.Ops.Address)},
		{"readiness probe path", probePath(c.ReadinessProbe), "/readyz"},
		{"readiness probe port", probePort(c.ReadinessProbe), "ops"},
		{"liveness probe path", probePath(c.LivenessProbe), "/healthz"},
		{"liveness probe port", probePort(c.LivenessProbe), "ops"},
	}
	for _, ck := range checks {
		t.Run(ck.name, func(t *testing.T) {
			if ck.got != ck.want {
				t.Fatalf("got %q, want %q", ck.got, ck.want)
			}
		})
	}

	t.Run("grace period covers the pre-stop delay and the drain", func(t *testing.T) {
		need := cfg.Shutdown.PreStopDelay.D() + cfg.Shutdown.DrainTimeout.D()
		grace := 30 // the Kubernetes default
		if pod.TerminationGracePeriodSeconds != nil {
			grace = *pod.TerminationGracePeriodSeconds
		}
		if time.Duration(grace)*time.Second <= need {
			t.Fatalf("terminationGracePeriodSeconds %d; want more than pre_stop_delay + drain_timeout = %s", grace, need)
		}
		if cfg.Shutdown.PreStopDelay.D() == 0 {
			t.Fatal("shutdown.pre_stop_delay is 0: endpoints would still route to a pod that stopped accepting")
		}
		if c.Lifecycle != nil && !c.Lifecycle.PreStop.IsZero() {
			t.Fatal("a preStop hook adds to pre_stop_delay, and the image has no shell to run one")
		}
	})
	t.Run("unprivileged", func(t *testing.T) {
		sc := c.SecurityContext
		if pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			t.Fatalf("security context %+v, pod %+v", sc, pod.SecurityContext)
		}
	})
	t.Run("secrets come from Secrets", func(t *testing.T) {
		for _, e := range c.Env {
			secret := strings.Contains(e.Name, "PEPPER") || strings.Contains(e.Name, "MASTER_KEY") ||
				strings.Contains(e.Name, "DSN") || strings.Contains(e.Name, "PASSWORD")
			if secret && (e.Value != "" || e.ValueFrom.IsZero()) {
				t.Errorf("%s must come from a secretKeyRef, never a literal value", e.Name)
			}
		}
	})
	t.Run("the budget and the policy select the pods", func(t *testing.T) {
		labels := dep.Spec.Template.Metadata.Labels
		for kind, sel := range map[string]map[string]string{
			"Deployment":          dep.Spec.Selector.MatchLabels,
			"PodDisruptionBudget": objs["PodDisruptionBudget"].Spec.Selector.MatchLabels,
			"NetworkPolicy":       objs["NetworkPolicy"].Spec.PodSelector.MatchLabels,
		} {
			if len(sel) == 0 {
				t.Errorf("%s selects nothing", kind)
			}
			for k, v := range sel {
				if labels[k] != v {
					t.Errorf("%s selects %s=%s, which the pods do not carry", kind, k, v)
				}
			}
		}
		if m := objs["PodDisruptionBudget"].Spec.MinAvailable; m == nil || *m < 1 {
			t.Error("the PodDisruptionBudget keeps no pod available")
		}
	})
	t.Run("the network policy admits the listener", func(t *testing.T) {
		want := port(t, cfg.Listeners[0].Address)
		for _, in := range objs["NetworkPolicy"].Spec.Ingress {
			for _, p := range in.Ports {
				if strconv.Itoa(p.Port) == want {
					return
				}
			}
		}
		t.Fatalf("no ingress rule for port %s", want)
	})
}

// checkMountedConfig applies to a configuration what validate (and serve,
// before binding) would, with the environment set (literal values) and
// the mount points of the container that runs it: every ${VAR} it reads is
// set, literal file paths are under a mount, and it passes app.Check.
func checkMountedConfig(t *testing.T, who, doc string, set map[string]string, mounts []string) *config.Config {
	t.Helper()
	env := testValues(t, t.TempDir())
	for _, m := range envRef.FindAllStringSubmatch(doc, -1) {
		if _, ok := set[m[1]]; !ok {
			t.Errorf("the configuration reads ${%s}, which %s does not set", m[1], who)
		}
		if _, ok := env[m[1]]; !ok {
			t.Fatalf("the test has no throwaway value for ${%s}", m[1])
		}
	}
	for name, v := range set {
		if !strings.HasPrefix(v, "/") {
			continue
		}
		mounted := false
		for _, m := range mounts {
			if strings.HasPrefix(v, m+"/") {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("%s=%s is not under any volume mount", name, v)
		}
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := config.Parse([]byte(doc), lookup)
	if err != nil {
		t.Fatalf("the mounted configuration is invalid:\n%v", err)
	}
	if err := app.Check(cfg, nil, app.Options{Env: lookup}); err != nil {
		t.Fatalf("validate refuses the mounted configuration:\n%v", err)
	}
	return cfg
}

func probePath(p probe) string {
	if p.HTTPGet == nil {
		return ""
	}
	return p.HTTPGet.Path
}

func probePort(p probe) string {
	if p.HTTPGet == nil {
		return ""
	}
	return p.HTTPGet.Port
}

// testValues are throwaway values for the variables the manifests'
// configuration reads: files under dir for paths, random secrets.
func testValues(t *testing.T, dir string) map[string]string {
	t.Helper()
	ca, err := pki.NewCA("deploy test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "gw", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := leaf.WriteFiles(dir, "tls")
	if err != nil {
		t.Fatal(err)
	}
	secret := func(n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	return map[string]string{
		"PORTCULLIS_TLS_CERT":       cert,
		"PORTCULLIS_TLS_KEY":        key,
		"PORTCULLIS_PEPPER":         secret(48),
		"PORTCULLIS_MASTER_KEY":     "v1:" + secret(32),
		"PORTCULLIS_KEYS_DSN":       "postgres://portcullis:x@" + filepath.Base(dir) + ".invalid:5432/portcullis?sslmode=verify-full",
		"PORTCULLIS_REDIS_PASSWORD": secret(16),
	}
}
