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

package argocd

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

// The mapping between kstatus (sigs.k8s.io/cli-utils, what helm --wait and Flux use) and
// health.lua, which TestHealthAgreesWithKstatus holds them to:
//
//	kstatus      Argo CD health
//	Current      Healthy
//	InProgress   Progressing
//	Failed       Degraded
//	Terminating  Progressing (Argo CD shows deletions as Progressing anyway)
//
// with two deliberate exceptions:
//   - the annotation vpn.huaweicloud.io/paused: "true" is Suspended whatever the status says:
//     kstatus has no such status (it reports the pause reported by the operator as
//     InProgress, since Ready is False, and before the operator reports it whatever the
//     status still says);
//   - an object on which no condition decides (no Ready True, False or Unknown, no
//     Reconciling or Stalled True), for example one the operator has not seen with a CRD
//     that does not default status: kstatus falls back to Current ("Resource is
//     current"), health.lua says Progressing until the operator reports Ready.
func wantHealth(t *testing.T, obj map[string]any) (string, string) {
	t.Helper()
	// As the API server gives it: whole numbers are int64.
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(u)
	if err != nil {
		t.Fatalf("kstatus: %v", err)
	}
	if u.GetAnnotations()["vpn.huaweicloud.io/paused"] == "true" {
		return "Suspended", string(res.Status)
	}
	switch res.Status {
	case status.CurrentStatus:
		if !readyTrue(obj) {
			return "Progressing", "Current by kstatus's fallback: no condition decides"
		}
		return "Healthy", string(res.Status)
	case status.InProgressStatus, status.TerminatingStatus:
		return "Progressing", string(res.Status)
	case status.FailedStatus:
		return "Degraded", string(res.Status)
	}
	t.Fatalf("kstatus returned %s", res.Status)
	return "", ""
}

// readyTrue reports whether kstatus's Current comes from a Ready condition that is True.
func readyTrue(obj map[string]any) bool {
	conditions, _, _ := unstructured.NestedSlice(obj, "status", "conditions")
	for _, c := range conditions {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			switch m["status"] {
			case "True":
				return true
			case "False", "Unknown":
				return false
			}
		}
	}
	return false
}

// TestHealthAgreesWithKstatus runs kstatus and health.lua (in Argo CD's sandbox) over every
// fixture captured from the operator and over generated states that a newer or older
// operator could write, and fails where they disagree on the mapping above.
func TestHealthAgreesWithKstatus(t *testing.T) {
	script := readScript(t)
	check := func(t *testing.T, name string, obj map[string]any) {
		t.Helper()
		want, ks := wantHealth(t, deepCopy(obj))
		got, message := runHealth(t, script, obj)
		if got != want {
			y, _ := yaml.Marshal(obj)
			t.Errorf("%s: health.lua says %s (%q), kstatus says %s, which maps to %s:\n%s", name, got, message, ks, want, y)
		}
	}

	fixtures, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range fixtures {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(data, &obj); err != nil {
			t.Fatal(err)
		}
		check(t, f, obj)
	}

	// Generated states, from a real object (healthy.yaml): every combination of the three
	// conditions (absent, True, False, Unknown; Ready with a reason that is terminal, the
	// pause, or ordinary), their order, with or without observedGeneration (current or
	// behind), status.observedGeneration absent, current or behind, a deletion timestamp,
	// and the paused annotation absent, "true" or "false".
	base := readObject(t, filepath.Join("testdata", "healthy.yaml"))
	n := 0
	for _, ready := range []string{"", "True", "False", "Unknown"} {
		for _, reason := range []string{"Synced", "NameConflict", "Paused"} {
			if ready != "False" && reason != "Synced" {
				continue
			}
			for _, reconciling := range []string{"", "True", "False"} {
				for _, stalled := range []string{"", "True", "False"} {
					for _, stalledFirst := range []bool{false, true} {
						if stalledFirst && (reconciling != "True" || stalled != "True") {
							continue // the order decides only between two True conditions
						}
						for _, condGen := range []string{"current", "absent", "behind"} {
							for _, observed := range []string{"current", "absent", "behind"} {
								for _, deleting := range []bool{false, true} {
									for _, paused := range []string{"", "true", "false"} {
										obj := generated(base, ready, reason, reconciling, stalled, stalledFirst, condGen, observed, deleting, paused)
										name := fmt.Sprintf("ready=%s/%s reconciling=%s stalled=%s stalledFirst=%v condGen=%s observed=%s deleting=%v paused=%q",
											ready, reason, reconciling, stalled, stalledFirst, condGen, observed, deleting, paused)
										check(t, name, obj)
										n++
									}
								}
							}
						}
					}
				}
			}
		}
	}
	t.Logf("kstatus and health.lua agree on %d fixtures and %d generated states", len(fixtures), n)
}

// generated is base (generation 2) with the status and metadata described.
func generated(base map[string]any, ready, reason, reconciling, stalled string, stalledFirst bool,
	condGen, observed string, deleting bool, paused string) map[string]any {
	obj := deepCopy(base)
	obj["metadata"].(map[string]any)["generation"] = float64(2)
	st := obj["status"].(map[string]any)
	cond := func(typ, s string) map[string]any {
		c := map[string]any{"type": typ, "status": s, "reason": reason, "message": typ + " is " + s,
			"lastTransitionTime": "2026-12-07T00:00:00Z"}
		switch condGen {
		case "current":
			c["observedGeneration"] = float64(2)
		case "behind":
			c["observedGeneration"] = float64(1)
		}
		return c
	}
	var conditions []any
	add := func(typ, s string) {
		if s != "" {
			conditions = append(conditions, cond(typ, s))
		}
	}
	add("Ready", ready)
	if stalledFirst {
		add("Stalled", stalled)
		add("Reconciling", reconciling)
	} else {
		add("Reconciling", reconciling)
		add("Stalled", stalled)
	}
	if conditions == nil {
		delete(st, "conditions")
	} else {
		st["conditions"] = conditions
	}
	switch observed {
	case "current":
		st["observedGeneration"] = float64(2)
	case "absent":
		delete(st, "observedGeneration")
	case "behind":
		st["observedGeneration"] = float64(1)
	}
	md := obj["metadata"].(map[string]any)
	if deleting {
		md["deletionTimestamp"] = "2026-12-07T00:00:00Z"
	}
	annotations, _ := md["annotations"].(map[string]any)
	if annotations == nil {
		annotations = map[string]any{}
		md["annotations"] = annotations
	}
	if paused != "" {
		annotations["vpn.huaweicloud.io/paused"] = paused
	}
	return obj
}

func deepCopy(obj map[string]any) map[string]any {
	return runtime.DeepCopyJSON(obj)
}

// TestHealthNamedStates: the states a newer or older operator, or a stopped one, leaves,
// with the health each must show.
func TestHealthNamedStates(t *testing.T) {
	script := readScript(t)
	base := readObject(t, filepath.Join("testdata", "healthy.yaml"))
	for _, tc := range []struct {
		name string
		obj  map[string]any
		want string
	}{
		{"Ready True while Reconciling True", generated(base, "True", "Synced", "True", "False", false, "current", "current", false, ""), "Progressing"},
		{"Ready True, conditions without observedGeneration", generated(base, "True", "Synced", "False", "False", false, "absent", "current", false, ""), "Healthy"},
		{"Ready True, status.observedGeneration behind", generated(base, "True", "Synced", "False", "False", false, "current", "behind", false, ""), "Progressing"},
		{"Stalled True, status.observedGeneration behind", generated(base, "False", "NameConflict", "False", "True", false, "current", "behind", false, ""), "Progressing"},
		{"Stalled True", generated(base, "False", "NameConflict", "False", "True", false, "current", "current", false, ""), "Degraded"},
		{"Ready False NameConflict without Stalled", generated(base, "False", "NameConflict", "False", "", false, "current", "current", false, ""), "Progressing"},
		{"being deleted", generated(base, "True", "Synced", "False", "False", false, "current", "current", true, ""), "Progressing"},
		{"paused annotation, not yet reported (Ready True)", generated(base, "True", "Synced", "False", "False", false, "current", "current", false, "true"), "Suspended"},
		{"paused annotation while the operator is down (stalled before)", generated(base, "False", "NameConflict", "False", "True", false, "current", "current", false, "true"), "Suspended"},
		{"paused and being deleted (the operator makes no call)", generated(base, "False", "Paused", "False", "False", false, "current", "current", true, "true"), "Suspended"},
		{"pause reported, annotation removed (resuming)", generated(base, "False", "Paused", "False", "False", false, "current", "current", false, ""), "Progressing"},
		{"paused annotation \"false\"", generated(base, "True", "Synced", "False", "False", false, "current", "current", false, "false"), "Healthy"},
		{"no conditions, status.observedGeneration current", generated(base, "", "Synced", "", "", false, "current", "current", false, ""), "Progressing"},
	} {
		if got, message := runHealth(t, script, tc.obj); got != tc.want || message == "" {
			t.Errorf("%s: got %s %q, want %s", tc.name, got, message, tc.want)
		}
	}
}
