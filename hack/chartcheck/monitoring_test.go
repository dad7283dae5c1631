package chartcheck

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const serviceMonitor = "ServiceMonitor/" + release + "-controller-manager-metrics-monitor"

// TestServiceMonitor checks the chart's ServiceMonitor (metrics.serviceMonitor) against
// config/prometheus: off by default, the same endpoint when on, and each selecting its own
// metrics Service.
func TestServiceMonitor(t *testing.T) {
	root, helm, kustomize := tools(t)
	if objs := renderChart(t, root, helm); objs[serviceMonitor] != nil {
		t.Errorf("%s is rendered by default", serviceMonitor)
	}
	chart := renderChart(t, root, helm, "--set", "metrics.serviceMonitor.enabled=true")
	kust := objects(t, run(t, root, kustomize, "build", "config/prometheus"))
	c, k := chart[serviceMonitor], kust[serviceMonitor]
	if c == nil || k == nil {
		t.Fatalf("%s: chart %v, config/prometheus %v (rendered: %v)", serviceMonitor, c != nil, k != nil, slices.Collect(maps.Keys(kust)))
	}
	if c.GetNamespace() != namespace || k.GetNamespace() != namespace {
		t.Errorf("namespaces %q (chart), %q (config/prometheus); want %q", c.GetNamespace(), k.GetNamespace(), namespace)
	}
	sameField(t, serviceMonitor, k, c, "spec", "endpoints")

	// Each selects the metrics Service of its install path, whose port it names.
	service := "Service/" + release + "-metrics-service"
	for what, pair := range map[string][2]*unstructured.Unstructured{
		"chart":                                {c, chart[service]},
		"config/prometheus and config/default": {k, renderKustomize(t, root, kustomize)[service]},
	} {
		sm, svc := pair[0], pair[1]
		if svc == nil {
			t.Fatalf("%s: no %s", what, service)
		}
		selector, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
		for l, v := range selector {
			if svc.GetLabels()[l] != v {
				t.Errorf("%s: the ServiceMonitor selects %s=%s, which %s lacks (labels %v)", what, l, v, service, svc.GetLabels())
			}
		}
		ports, _ := yaml.Marshal(field(t, svc, "spec", "ports"))
		if !strings.Contains(string(ports), "name: https\n") {
			t.Errorf("%s: %s has no port https:\n%s", what, service, ports)
		}
	}

	// Labels, interval, a token from a Secret and a verified certificate.
	chart = renderChart(t, root, helm, "--set", "metrics.serviceMonitor.enabled=true",
		"--set", "metrics.serviceMonitor.labels.release=kube-prometheus-stack",
		"--set", "metrics.serviceMonitor.interval=1m",
		"--set-json", `metrics.serviceMonitor.authorization={"type":"Bearer","credentials":{"name":"prom-token","key":"token"}}`,
		"--set-json", `metrics.serviceMonitor.tlsConfig={"insecureSkipVerify":false,"ca":{"secret":{"name":"metrics-ca","key":"ca.crt"}}}`)
	c = chart[serviceMonitor]
	if c.GetLabels()["release"] != "kube-prometheus-stack" {
		t.Errorf("labels %v lack release=kube-prometheus-stack", c.GetLabels())
	}
	endpoint, _ := yaml.Marshal(field(t, c, "spec", "endpoints"))
	for _, want := range []string{"interval: 1m\n", "name: prom-token\n", "name: metrics-ca\n", "insecureSkipVerify: false\n"} {
		if !strings.Contains(string(endpoint), want) {
			t.Errorf("endpoint lacks %q:\n%s", strings.TrimSpace(want), endpoint)
		}
	}
	if strings.Contains(string(endpoint), "bearerTokenFile") {
		t.Errorf("both authorization and bearerTokenFile:\n%s", endpoint)
	}

	// No metrics endpoint, nothing to scrape.
	if objs := renderChart(t, root, helm, "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.enabled=false"); objs[serviceMonitor] != nil {
		t.Errorf("%s is rendered with metrics.enabled=false", serviceMonitor)
	}
}

// TestMetricsPerObject checks that metrics.perObject reaches the flag.
func TestMetricsPerObject(t *testing.T) {
	root, helm, _ := tools(t)
	deployment := "Deployment/" + release + "-controller-manager"
	for value, want := range map[string]bool{"": false, "true": true} {
		var extra []string
		if value != "" {
			extra = []string{"--set", "metrics.perObject=" + value}
		}
		args, _ := yaml.Marshal(containers(t, renderChart(t, root, helm, extra...)[deployment])[0]["args"])
		if got := strings.Contains(string(args), "- --metrics-per-object\n"); got != want {
			t.Errorf("metrics.perObject=%q: --metrics-per-object in args %v, want %v:\n%s", value, got, want, args)
		}
	}
}
