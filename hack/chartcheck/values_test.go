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

package chartcheck

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// helmFails runs helm and returns its output, failing the test when helm succeeds.
func helmFails(t *testing.T, root, helm string, args ...string) string {
	t.Helper()
	cmd := exec.Command(helm, args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Errorf("helm %s succeeded, want a failure:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}

// everyOption turns on every optional feature of the chart at once (the file make
// helm-lint lints too); helm lint --strict and the schema must accept it.
var everyOption = []string{"-f", filepath.Join("hack", "chartcheck", "testdata", "every-option-values.yaml")}

// TestChartSchema: values.schema.json refuses a misspelt value at any depth and a value of
// the wrong type, accepts the defaults and every optional feature, and is valid JSON with
// additionalProperties false on every object it declares.
func TestChartSchema(t *testing.T) {
	root, helm, _ := tools(t)
	data, err := os.ReadFile(filepath.Join(root, chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	var walk func(path string, s map[string]any)
	walk = func(path string, s map[string]any) {
		if props, ok := s["properties"].(map[string]any); ok {
			if s["additionalProperties"] != false {
				t.Errorf("values.schema.json: %s declares properties without additionalProperties: false", path)
			}
			for k, v := range props {
				walk(path+"."+k, v.(map[string]any))
			}
		}
	}
	walk("values", schema)

	for _, typo := range [][]string{
		{"--set", "cloudQps=3"},
		{"--set", "image.tags=v1"},
		{"--set", "credentials.accesKey=AK"},
		{"--set", "podDisruptionBudget.minAvaliable=1"},
		{"--set", "securityContext.readOnlyRootFileSystem=true"},
		{"--set", "crds.keepp=false"},
		{"--set", "replicaCount=two"},
		{"--set", "defaultCredentials=envv"},
		{"--set", "image.pullPolicy=Sometimes"},
		{"--set", "image.digest=latest"},
	} {
		for _, cmd := range [][]string{{"lint", "--strict", chartDir}, {"template", release, chartDir}} {
			out := helmFails(t, root, helm, append(cmd, typo...)...)
			if !strings.Contains(out, "schema") && !strings.Contains(out, "additional properties") {
				t.Errorf("helm %s %s: the error does not name the schema:\n%s", cmd[0], typo[1], out)
			}
		}
	}
	for _, values := range [][]string{nil, everyOption} {
		run(t, root, helm, append([]string{"lint", "--strict", chartDir}, values...)...)
	}
}

// TestChartNewValues checks that each of the production values reaches its object.
func TestChartNewValues(t *testing.T) {
	root, helm, _ := tools(t)
	deployment := "Deployment/" + release + "-controller-manager"
	pdb := "PodDisruptionBudget/" + release + "-controller-manager"

	objs := renderChart(t, root, helm, everyOption...)
	d := objs[deployment]
	c := containers(t, d)[0]
	if got := c["image"]; got != "registry.example.test/vpnuser-operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" {
		t.Errorf("image with image.digest = %v", got)
	}
	envYAML, _ := yaml.Marshal(c["env"])
	if !strings.Contains(string(envYAML), "name: HTTPS_PROXY") || !strings.Contains(string(envYAML), "name: GOMEMLIMIT") {
		t.Errorf("env lacks extraEnv or the chart's own variables:\n%s", envYAML)
	}
	mounts, _ := yaml.Marshal(c["volumeMounts"])
	volumes, _ := yaml.Marshal(field(t, d, "spec", "template", "spec", "volumes"))
	for _, want := range []string{"name: private-ca", "name: cloud-credentials"} {
		if !strings.Contains(string(mounts), want) || !strings.Contains(string(volumes), want) {
			t.Errorf("volumes or mounts lack %s:\n%s\n%s", want, volumes, mounts)
		}
	}
	tsc, _ := yaml.Marshal(field(t, d, "spec", "template", "spec", "topologySpreadConstraints"))
	if !strings.Contains(string(tsc), "topologyKey: topology.kubernetes.io/zone") ||
		!strings.Contains(string(tsc), "app.kubernetes.io/instance: "+release) {
		t.Errorf("topologySpreadConstraints without the pod selector as labelSelector:\n%s", tsc)
	}
	// Merged into the restricted defaults, as Helm merges values.
	if got, _ := yaml.Marshal(field(t, d, "spec", "template", "spec", "securityContext")); string(got) !=
		"runAsNonRoot: true\nrunAsUser: 65532\nseccompProfile:\n  type: RuntimeDefault\n" {
		t.Errorf("podSecurityContext.runAsUser=65532: the pod's securityContext is\n%s", got)
	}
	if p := objs[pdb]; p == nil {
		t.Errorf("replicaCount=2 rendered no %s", pdb)
	} else if got := fmt.Sprint(field(t, p, "spec", "minAvailable")); got != "1" {
		t.Errorf("%s minAvailable = %v (%T)", pdb, got, got)
	}
	if crd := objs["CustomResourceDefinition/vpnusers.vpn.huaweicloud.io"]; crd == nil {
		t.Error("crds.enabled (default) rendered no CRD")
	} else if _, kept := crd.GetAnnotations()["helm.sh/resource-policy"]; kept {
		t.Error("crds.keep=false still annotates the CRD with helm.sh/resource-policy")
	}

	// The PodDisruptionBudget: auto with one replica is none (it would block drains);
	// true forces it; false with two replicas is none; maxUnavailable replaces minAvailable.
	for _, tc := range []struct {
		values []string
		want   bool
	}{
		{nil, false},
		{[]string{"--set", "podDisruptionBudget.enabled=true"}, true},
		{[]string{"--set", "replicaCount=2", "--set", "podDisruptionBudget.enabled=false"}, false},
	} {
		if got := renderChart(t, root, helm, tc.values...)[pdb] != nil; got != tc.want {
			t.Errorf("%v: PodDisruptionBudget rendered %v, want %v", tc.values, got, tc.want)
		}
	}
	p := renderChart(t, root, helm, "--set", "replicaCount=3", "--set", "podDisruptionBudget.maxUnavailable=1")[pdb]
	if p == nil || fmt.Sprint(field(t, p, "spec", "maxUnavailable")) != "1" || field(t, p, "spec", "minAvailable") != nil {
		t.Errorf("podDisruptionBudget.maxUnavailable=1: %v", p)
	}

	// An existing ServiceAccount: none rendered, every binding and the pod use its name.
	objs = renderChart(t, root, helm, "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=platform-sa")
	for key, u := range objs {
		if u.GetKind() == "ServiceAccount" {
			t.Errorf("serviceAccount.create=false rendered %s", key)
		}
		if subjects, ok := u.Object["subjects"].([]any); ok {
			if name := subjects[0].(map[string]any)["name"]; name != "platform-sa" {
				t.Errorf("%s binds %v, want platform-sa", key, name)
			}
		}
	}
	if got := field(t, objs[deployment], "spec", "template", "spec", "serviceAccountName"); got != "platform-sa" {
		t.Errorf("serviceAccountName = %v", got)
	}

	// crds.enabled=false: no CRD.
	if crd := renderChart(t, root, helm, "--set", "crds.enabled=false")["CustomResourceDefinition/vpnusers.vpn.huaweicloud.io"]; crd != nil {
		t.Error("crds.enabled=false still renders the CRD")
	}
}

// TestChartTestHook: the helm test Pod runs `manager preflight` with exactly the
// Deployment's arguments, environment, volumes, ServiceAccount and security contexts.
func TestChartTestHook(t *testing.T) {
	root, helm, _ := tools(t)
	for _, values := range [][]string{nil, everyOption, {"--set", "defaultCredentials=none", "--set", "goMemLimit="}} {
		objs := objects(t, run(t, root, helm, append([]string{"template", release, chartDir, "--namespace", namespace}, values...)...))
		pod := objs["Pod/"+release+"-preflight"]
		d := objs["Deployment/"+release+"-controller-manager"]
		if pod == nil || d == nil {
			t.Fatalf("%v: the test Pod or the Deployment is not rendered", values)
		}
		if got := pod.GetAnnotations()["helm.sh/hook"]; got != "test" {
			t.Errorf("the preflight Pod's helm.sh/hook = %q, want test", got)
		}
		if got := field(t, pod, "spec", "restartPolicy"); got != "Never" {
			t.Errorf("restartPolicy = %v", got)
		}
		pc, dc := podContainers(t, pod)[0], containers(t, d)[0]
		args, _ := pc["args"].([]any)
		if len(args) == 0 || args[0] != "preflight" {
			t.Fatalf("%v: the test Pod's args = %v, want preflight first", values, args)
		}
		if !equality.Semantic.DeepEqual(args[1:], dc["args"]) {
			t.Errorf("%v: the test Pod's flags differ from the operator's:\n%v\n%v", values, args[1:], dc["args"])
		}
		for _, f := range []string{"image", "command", "env", "volumeMounts", "securityContext", "resources"} {
			if !equality.Semantic.DeepEqual(pc[f], dc[f]) {
				t.Errorf("%v: container field %s differs between the test Pod and the Deployment: %v / %v", values, f, pc[f], dc[f])
			}
		}
		for _, f := range []string{"volumes", "serviceAccountName", "securityContext", "nodeSelector", "tolerations"} {
			if !equality.Semantic.DeepEqual(field(t, pod, "spec", f), field(t, d, "spec", "template", "spec", f)) {
				t.Errorf("%v: pod field %s differs between the test Pod and the Deployment", values, f)
			}
		}
	}
	// The restricted security context by default.
	objs := objects(t, run(t, root, helm, "template", release, chartDir, "--namespace", namespace))
	sc, _ := yaml.Marshal(podContainers(t, objs["Pod/"+release+"-preflight"])[0]["securityContext"])
	for _, want := range []string{"allowPrivilegeEscalation: false", "readOnlyRootFilesystem: true", "runAsNonRoot: true", "- ALL"} {
		if !strings.Contains(string(sc), want) {
			t.Errorf("the test Pod's securityContext lacks %s:\n%s", want, sc)
		}
	}
}

func podContainers(t *testing.T, u *unstructured.Unstructured) []map[string]any {
	t.Helper()
	list, _, err := unstructured.NestedSlice(u.Object, "spec", "containers")
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, c := range list {
		out = append(out, c.(map[string]any))
	}
	return out
}
