/*
Copyright 2026 The vpnuser-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package grafana

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpnuser-operator/vpnuser-operator/internal/testtools"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const (
	chartDir  = "config/helm/vpnuser-operator"
	dataKey   = "vpnuser-operator.json"
	dashboard = "config/grafana/vpnuser-operator.json"
)

// tools returns the repository root and the paths of helm and kustomize.
func tools(t *testing.T) (root, helm, kustomize string) {
	t.Helper()
	return testtools.Root(t), testtools.Bin(t, "helm", "make helm"), testtools.Bin(t, "kustomize", "make kustomize")
}

// configMaps renders with the tool and returns the dashboard ConfigMaps (those with the
// dashboard's data key).
func configMaps(t *testing.T, dir, name string, args ...string) []map[string]any {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	var cms []map[string]any
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return cms
			}
			t.Fatalf("decoding rendered YAML: %v", err)
		}
		if data, _ := m["data"].(map[string]any); m["kind"] == "ConfigMap" && data[dataKey] != nil {
			cms = append(cms, m)
		}
	}
}

func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, _ := v.(map[string]any)
		v = mm[p]
	}
	return v
}

// TestDashboardConfigMaps: kustomize's config/grafana and the chart (off by default; on,
// with its label, namespace and annotations) deliver exactly vpnuser-operator.json.
func TestDashboardConfigMaps(t *testing.T) {
	root, helm, kustomize := tools(t)
	want, err := os.ReadFile(filepath.Join(root, dashboard))
	if err != nil {
		t.Fatal(err)
	}

	kust := configMaps(t, root, kustomize, "build", "config/grafana")
	if len(kust) != 1 {
		t.Fatalf("kustomize build config/grafana renders %d dashboard ConfigMaps, want 1", len(kust))
	}
	if got := field(kust[0], "data", dataKey); got != string(want) {
		t.Errorf("kustomize's ConfigMap does not hold %s", dashboard)
	}
	if got := field(kust[0], "metadata", "labels", "grafana_dashboard"); got != "1" {
		t.Errorf("kustomize's ConfigMap: label grafana_dashboard=%v, want \"1\"", got)
	}

	if got := configMaps(t, root, helm, "template", "vpnuser-operator", chartDir); len(got) != 0 {
		t.Errorf("the chart renders %d dashboard ConfigMaps by default, want none (grafana.dashboard.enabled=false)", len(got))
	}
	chart := configMaps(t, root, helm, "template", "vpnuser-operator", chartDir, "--namespace", "vpn",
		"--set", "grafana.dashboard.enabled=true")
	if len(chart) != 1 {
		t.Fatalf("the chart renders %d dashboard ConfigMaps with grafana.dashboard.enabled=true, want 1", len(chart))
	}
	if got := field(chart[0], "data", dataKey); got != string(want) {
		t.Errorf("the chart's ConfigMap does not hold %s", dashboard)
	}
	if l, ns := field(chart[0], "metadata", "labels", "grafana_dashboard"), field(chart[0], "metadata", "namespace"); l != "1" || ns != "vpn" {
		t.Errorf("the chart's ConfigMap: label grafana_dashboard=%v in namespace %v, want \"1\" in the release's (vpn)", l, ns)
	}
	custom := configMaps(t, root, helm, "template", "vpnuser-operator", chartDir, "--namespace", "vpn",
		"--set", "grafana.dashboard.enabled=true", "--set", "grafana.dashboard.label=dashboards",
		"--set", "grafana.dashboard.labelValue=vpn", "--set", "grafana.dashboard.namespace=monitoring",
		"--set", "grafana.dashboard.annotations.grafana_folder=VPN")
	if len(custom) != 1 {
		t.Fatalf("the chart renders %d dashboard ConfigMaps with custom values, want 1", len(custom))
	}
	if l, ns, a := field(custom[0], "metadata", "labels", "dashboards"), field(custom[0], "metadata", "namespace"),
		field(custom[0], "metadata", "annotations", "grafana_folder"); l != "vpn" || ns != "monitoring" || a != "VPN" {
		t.Errorf("the chart's ConfigMap: label dashboards=%v, namespace %v, annotation grafana_folder=%v; want vpn, monitoring, VPN", l, ns, a)
	}
}
