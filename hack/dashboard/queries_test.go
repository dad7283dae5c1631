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

package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// Paths from this directory.
var (
	repo = filepath.Join("..", "..")
	// exportedList is written from what the operator's /metrics serves in the envtest
	// suite (internal/controller): one metric family per line, histograms by base name.
	exportedList = filepath.Join(repo, "internal", "controller", "testdata", "exported-metrics.txt")
	rulesFile    = filepath.Join(repo, "config", "prometheus", "rules", "vpnuser-operator.rules.yaml")
	dashboardDir = filepath.Join(repo, "config", "grafana")
	chartCopy    = filepath.Join(repo, "config", "helm", "vpnuser-operator", "files", "grafana-dashboard.json")
)

// builtin are the series a query may name that no operator serves: Prometheus's own, and
// the leader gauge, which exists only with --leader-elect (the envtest suite runs without).
var builtin = []string{"up", "ALERTS", "ALERTS_FOR_STATE", "leader_election_master_status"}

// exported reads the list of metric families the operator serves.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(exportedList)
	if err != nil {
		t.Fatalf("the list of exported metrics: %v", err)
	}
	defer func() { _ = f.Close() }()
	names := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			names[line] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("%s lists no metric", exportedList)
	}
	return names
}

// known reports whether a series name is served: a family of the list, or a histogram's
// (or summary's) _bucket, _sum or _count of one.
func known(name string, families map[string]bool) bool {
	if families[name] || slices.Contains(builtin, name) {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && families[base] {
			return true
		}
	}
	return false
}

// metricNames parses a PromQL expression and returns the metric names its selectors use.
func metricNames(expr string) ([]string, error) {
	node, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == "__name__" {
				name = m.Value
			}
		}
		names = append(names, name)
		return nil
	})
	return names, nil
}

type ruleGroups struct {
	Groups []struct {
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// labelValues matches a Grafana variable query label_values(<selector>, <label>).
var labelValues = regexp.MustCompile(`^label_values\((.*),\s*\w+\)$`)

// promQuery is one PromQL expression and where it comes from.
type promQuery struct{ where, expr string }

func queries(t *testing.T) (qs []promQuery, recorded map[string]bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dashboardDir, jsonFile))
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseModel(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			qs = append(qs, promQuery{"panel " + p.Title, promQL(tg.Expr)})
		}
	}
	for _, v := range m.Templating.List {
		if v.Type != "query" {
			continue
		}
		s, _ := v.Query.(string)
		sel := labelValues.FindStringSubmatch(s)
		if sel == nil {
			t.Errorf("variable %s: query %q is not label_values(<selector>, <label>)", v.Name, s)
			continue
		}
		qs = append(qs, promQuery{"variable " + v.Name, sel[1]})
	}

	data, err = os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules ruleGroups
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	recorded = map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
				qs = append(qs, promQuery{"record " + r.Record, r.Expr})
			} else {
				qs = append(qs, promQuery{"alert " + r.Alert, r.Expr})
			}
		}
	}
	return qs, recorded
}

// TestQueriesNameExportedMetrics parses every dashboard query and every rule with the
// PromQL parser, and fails on a metric the operator does not export.
func TestQueriesNameExportedMetrics(t *testing.T) {
	families := exported(t)
	qs, recorded := queries(t)
	used := map[string]bool{}
	for _, q := range qs {
		names, err := metricNames(q.expr)
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", q.where, q.expr, err)
			continue
		}
		if len(names) == 0 && !strings.HasPrefix(q.where, "record ") {
			t.Errorf("%s: %q reads no metric", q.where, q.expr)
		}
		for _, n := range names {
			used[n] = true
			if !known(n, families) && !recorded[n] {
				t.Errorf("%s: %q names %s, which the operator does not export (%s)", q.where, q.expr, n, exportedList)
			}
		}
	}
	t.Logf("%d queries, %d metric names, all exported", len(qs), len(used))
}

// TestCheckerCatchesUnknownMetrics: the check above fails on a misspelt name and maps
// histogram series to their family.
func TestCheckerCatchesUnknownMetrics(t *testing.T) {
	families := map[string]bool{"vpnuser_time_to_ready_seconds": true}
	names, err := metricNames(promQL(`histogram_quantile(0.9, sum by (le) (rate(vpnuser_time_to_ready_seconds_bucket{job=~"$job"}[$__rate_interval]))) / vpnuser_time_to_ready_second_count`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"vpnuser_time_to_ready_seconds_bucket", "vpnuser_time_to_ready_second_count"}) {
		t.Fatalf("names %v", names)
	}
	if !known(names[0], families) || known(names[1], families) {
		t.Errorf("known(%s)=%v, known(%s)=%v; want true, false", names[0], known(names[0], families), names[1], known(names[1], families))
	}
	if _, err := metricNames(`rate(vpnapi_calls_total[$__rate_interval])`); err == nil {
		t.Errorf("an unreplaced Grafana macro parsed")
	}
}

// TestGeneratedFilesAreFresh: config/grafana and the chart's copy are what `make
// manifests` writes from dashboard.go.
func TestGeneratedFilesAreFresh(t *testing.T) {
	data, err := dashboardJSON()
	if err != nil {
		t.Fatal(err)
	}
	picture, err := render(data)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]byte{
		filepath.Join(dashboardDir, jsonFile): data,
		filepath.Join(dashboardDir, svgFile):  picture,
		chartCopy:                             data,
	} {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what hack/dashboard generates: run 'make manifests'", path)
		}
	}
}

// TestPromtoolVersion: the Makefile builds the promtool of the Prometheus module this
// module's parser comes from, so that the rules' checks and this test agree on PromQL.
func TestPromtoolVersion(t *testing.T) {
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join(repo, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`github.com/prometheus/prometheus (v\S+)`).FindSubmatch(mod)
	got := regexp.MustCompile(`(?m)^PROMTOOL_VERSION \?= (\S+)$`).FindSubmatch(makefile)
	if want == nil || got == nil || string(got[1]) != string(want[1]) {
		t.Errorf("the Makefile's PROMTOOL_VERSION (%q) is not the github.com/prometheus/prometheus of hack/dashboard/go.mod (%q)", got, want)
	}
}
