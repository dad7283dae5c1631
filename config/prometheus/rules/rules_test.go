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

package rules

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/vpnuser-operator/vpnuser-operator/internal/testtools"
)

const (
	rulesFile = "vpnuser-operator.rules.yaml"
	chartDir  = "config/helm/vpnuser-operator"
	// runbooks is where every runbook_url points: a section of the README.
	runbooks = "https://github.com/vpnuser-operator/vpnuser-operator/blob/main/README.md#"
)

type rule struct {
	Record      string            `json:"record"`
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	} `json:"groups"`
}

// unitTests is promtool's test file format, the part this package reads.
type unitTests struct {
	RuleFiles []string `json:"rule_files"`
	Tests     []struct {
		Name          string `json:"name"`
		AlertRuleTest []struct {
			AlertName string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

// tool is bin/name, built by `make target`.
func tool(t *testing.T, _, name, target string) string {
	t.Helper()
	return testtools.Bin(t, name, "make "+target)
}

var (
	repoRoot = testtools.Root
	run      = testtools.Run
)

// readYAML decodes the file; strictly (no unknown field) into the rules types, which
// cover all of Prometheus's rule fields.
func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	decode := yaml.UnmarshalStrict
	if _, loose := into.(*unitTests); loose {
		decode = yaml.Unmarshal
	}
	if err := decode(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func alerts(t *testing.T) []rule {
	t.Helper()
	var f ruleFile
	readYAML(t, rulesFile, &f)
	var out []rule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no alert", rulesFile)
	}
	return out
}

func testFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("tests", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool test files in tests/: %v", err)
	}
	return files
}

// TestPromtool runs `promtool check rules` and `promtool test rules` (the unit tests in
// tests/) with the promtool of `make promtool`.
func TestPromtool(t *testing.T) {
	root := repoRoot(t)
	promtool := tool(t, root, "promtool", "promtool")
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	out := run(t, dir, promtool, "check", "rules", rulesFile)
	t.Logf("promtool check rules: %s", bytes.TrimSpace(out))
	out = run(t, dir, promtool, append([]string{"test", "rules"}, testFiles(t)...)...)
	t.Logf("promtool test rules: %s", bytes.TrimSpace(out))
}

// TestEveryAlertIsTested: each alert has a unit test that expects it firing and one
// that expects it silent (the near miss), and the tests name no alert that does not exist.
func TestEveryAlertIsTested(t *testing.T) {
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, f := range testFiles(t) {
		var u unitTests
		readYAML(t, f, &u)
		if !slices.Equal(u.RuleFiles, []string{"../" + rulesFile}) {
			t.Errorf("%s: rule_files is %v, want [../%s]", f, u.RuleFiles, rulesFile)
		}
		for _, tc := range u.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.AlertName] = true
				} else {
					silent[a.AlertName] = true
				}
			}
		}
	}
	names := map[string]bool{}
	for _, a := range alerts(t) {
		names[a.Alert] = true
		if !fires[a.Alert] {
			t.Errorf("alert %s: no test in tests/ expects it to fire", a.Alert)
		}
		if !silent[a.Alert] {
			t.Errorf("alert %s: no test in tests/ expects it silent (the near miss)", a.Alert)
		}
	}
	for n := range fires {
		if !names[n] {
			t.Errorf("tests/ expect alert %s, which %s does not have", n, rulesFile)
		}
	}
	for n := range silent {
		if !names[n] {
			t.Errorf("tests/ expect alert %s silent, which %s does not have", n, rulesFile)
		}
	}
}

// githubAnchor is the anchor GitHub gives a Markdown heading.
func githubAnchor(heading string) string {
	s := strings.ToLower(strings.TrimSpace(heading))
	s = regexp.MustCompile(`[^\p{L}\p{N}\- _]`).ReplaceAllString(s, "")
	return strings.ReplaceAll(s, " ", "-")
}

// TestAlertsAreDocumented: each alert has a severity, a summary, a description, a for:
// and a runbook_url that points at a heading of the README.
func TestAlertsAreDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(string(readme), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	for _, a := range alerts(t) {
		if !slices.Contains([]string{"critical", "warning", "info"}, a.Labels["severity"]) {
			t.Errorf("alert %s: severity %q, want critical, warning or info", a.Alert, a.Labels["severity"])
		}
		if a.For == "" {
			t.Errorf("alert %s has no for:", a.Alert)
		}
		for _, k := range []string{"summary", "description"} {
			if a.Annotations[k] == "" {
				t.Errorf("alert %s has no %s", a.Alert, k)
			}
		}
		want := runbooks + strings.ToLower(a.Alert)
		if got := a.Annotations["runbook_url"]; got != want {
			t.Errorf("alert %s: runbook_url %q, want %q", a.Alert, got, want)
		}
		if !anchors[strings.ToLower(a.Alert)] {
			t.Errorf("alert %s: the README has no heading %q (its runbook)", a.Alert, a.Alert)
		}
	}
}

// spec returns the rules file parsed, as the spec of a PrometheusRule holds it.
func spec(t *testing.T, path string) map[string]any {
	t.Helper()
	var m map[string]any
	readYAML(t, path, &m)
	return m
}

// TestCopiesAreFresh: the chart's copy of the rules and kustomize's PrometheusRule are
// what `make manifests` makes of the rules file.
func TestCopiesAreFresh(t *testing.T) {
	root := repoRoot(t)
	want, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(root, chartDir, "files", "prometheus-rules.yaml")
	got, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s is not a copy of config/prometheus/rules/%s: run 'make manifests'", copyPath, rulesFile)
	}
	pr := spec(t, "prometheusrule.yaml")
	if !equality.Semantic.DeepEqual(pr["spec"], spec(t, rulesFile)) {
		t.Errorf("prometheusrule.yaml does not hold %s: run 'make manifests'", rulesFile)
	}
}

// objects decodes a multi-document YAML stream.
func objects(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var objs []map[string]any
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("decoding rendered YAML: %v", err)
		}
		if m != nil {
			objs = append(objs, m)
		}
	}
}

func prometheusRules(objs []map[string]any) []map[string]any {
	var out []map[string]any
	for _, o := range objs {
		if o["kind"] == "PrometheusRule" {
			out = append(out, o)
		}
	}
	return out
}

// TestInstalledRules renders the chart (off by default; on, with additional labels) and
// kustomize's config/prometheus, and checks that both install exactly the rules file.
func TestInstalledRules(t *testing.T) {
	root := repoRoot(t)
	helm := tool(t, root, "helm", "helm")
	kustomize := tool(t, root, "kustomize", "kustomize")
	want := spec(t, rulesFile)

	if got := prometheusRules(objects(t, run(t, root, helm, "template", "vpnuser-operator", chartDir))); len(got) != 0 {
		t.Errorf("the chart renders %d PrometheusRule(s) by default, want none (prometheusRule.enabled=false)", len(got))
	}
	chart := prometheusRules(objects(t, run(t, root, helm, "template", "vpnuser-operator", chartDir,
		"--namespace", "monitoring-test", "--set", "prometheusRule.enabled=true",
		"--set", "prometheusRule.additionalLabels.release=kube-prometheus-stack")))
	if len(chart) != 1 {
		t.Fatalf("the chart renders %d PrometheusRules with prometheusRule.enabled=true, want 1", len(chart))
	}
	meta := chart[0]["metadata"].(map[string]any)
	labels, _ := meta["labels"].(map[string]any)
	if labels["release"] != "kube-prometheus-stack" || meta["namespace"] != "monitoring-test" {
		t.Errorf("the chart's PrometheusRule: labels %v, namespace %v; want prometheusRule.additionalLabels and the release's namespace", labels, meta["namespace"])
	}
	if !equality.Semantic.DeepEqual(chart[0]["spec"], want) {
		t.Errorf("the chart's PrometheusRule does not hold %s", rulesFile)
	}

	kust := prometheusRules(objects(t, run(t, root, kustomize, "build", "config/prometheus")))
	if len(kust) != 1 {
		t.Fatalf("kustomize build config/prometheus renders %d PrometheusRules, want 1", len(kust))
	}
	if !equality.Semantic.DeepEqual(kust[0]["spec"], want) {
		t.Errorf("kustomize's PrometheusRule does not hold %s", rulesFile)
	}
}
