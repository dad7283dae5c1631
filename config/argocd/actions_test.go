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
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the expected outputs of the actions and the argocd-cm snippets")

// actionNames are the actions, in the order the snippets list them.
var actionNames = []string{"pause", "resume", "reconcile"}

// actionTests is Argo CD's fixture format for actions (actions/action_test.yaml).
type actionTests struct {
	DiscoveryTests []struct {
		InputPath string           `json:"inputPath"`
		Result    []resourceAction `json:"result"`
	} `json:"discoveryTests"`
	ActionTests []struct {
		Action             string `json:"action"`
		InputPath          string `json:"inputPath"`
		ExpectedOutputPath string `json:"expectedOutputPath"`
	} `json:"actionTests"`
}

// resourceAction is Argo CD's ResourceAction, as discovery.lua describes one.
type resourceAction struct {
	Name        string `json:"name"`
	Disabled    bool   `json:"disabled"`
	IconClass   string `json:"iconClass,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func readObject(t *testing.T, path string) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, path)), &obj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return obj
}

// runScript runs a script in Argo CD's sandbox with obj and returns its result table.
func runScript(t *testing.T, script string, obj map[string]any) *lua.LTable {
	t.Helper()
	L := newSandbox(t)
	t.Cleanup(L.Close)
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("the script failed (Argo CD would report the error): %v", err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("the script returned %s, want a table", L.Get(-1).Type())
	}
	return ret
}

// discover runs discovery.lua as Argo CD's ExecuteResourceActionDiscovery reads it.
func discover(t *testing.T, obj map[string]any) []resourceAction {
	t.Helper()
	ret := runScript(t, readFile(t, filepath.Join("actions", "discovery.lua")), obj)
	var out []resourceAction
	ret.ForEach(func(k, v lua.LValue) {
		a := resourceAction{Name: k.String()}
		if fields, ok := v.(*lua.LTable); ok {
			a.Disabled = lua.LVAsBool(fields.RawGetString("disabled"))
			if s, ok := fields.RawGetString("iconClass").(lua.LString); ok {
				a.IconClass = string(s)
			}
			if s, ok := fields.RawGetString("displayName").(lua.LString); ok {
				a.DisplayName = string(s)
			}
		}
		out = append(out, a)
	})
	return out
}

// TestActions runs actions/action_test.yaml: discovery offers pause, or resume, and
// reconcile when not paused; each action changes nothing but its annotation.
func TestActions(t *testing.T) {
	var tests actionTests
	if err := yaml.UnmarshalStrict([]byte(readFile(t, filepath.Join("actions", "action_test.yaml"))), &tests); err != nil {
		t.Fatalf("action_test.yaml: %v", err)
	}
	for _, tc := range tests.DiscoveryTests {
		t.Run("discovery/"+filepath.Base(tc.InputPath), func(t *testing.T) {
			got := discover(t, readObject(t, filepath.Join("actions", tc.InputPath)))
			byName := func(a, b resourceAction) int { return strings.Compare(a.Name, b.Name) }
			slices.SortFunc(got, byName)
			want := slices.Clone(tc.Result)
			slices.SortFunc(want, byName)
			if !slices.Equal(got, want) {
				t.Errorf("discovery:\ngot  %+v\nwant %+v", got, want)
			}
		})
	}
	tested := map[string]bool{}
	for _, tc := range tests.ActionTests {
		t.Run(tc.Action+"/"+filepath.Base(tc.InputPath), func(t *testing.T) {
			tested[tc.Action] = true
			in := readObject(t, filepath.Join("actions", tc.InputPath))
			ret := runScript(t, readFile(t, filepath.Join("actions", tc.Action, "action.lua")), in)
			got, _ := fromLua(ret, in).(map[string]any)
			wantPath := filepath.Join("actions", tc.ExpectedOutputPath)
			if *update && tc.ExpectedOutputPath != tc.InputPath {
				data, err := yaml.Marshal(got)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(wantPath, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := readObject(t, wantPath); !equality.Semantic.DeepEqual(got, want) {
				gy, _ := yaml.Marshal(got)
				t.Errorf("%s on %s: got\n%s\nwant %s", tc.Action, tc.InputPath, gy, wantPath)
			}
			// Nothing but the annotations changes (Argo CD patches what differs).
			inRest, gotRest := withoutAnnotations(in), withoutAnnotations(got)
			if !equality.Semantic.DeepEqual(inRest, gotRest) {
				t.Errorf("%s changed more than metadata.annotations", tc.Action)
			}
		})
	}
	for _, name := range actionNames {
		if !tested[name] {
			t.Errorf("action_test.yaml does not test the action %s", name)
		}
	}
}

func withoutAnnotations(obj map[string]any) map[string]any {
	data, _ := yaml.Marshal(obj)
	var out map[string]any
	_ = yaml.Unmarshal(data, &out)
	if md, ok := out["metadata"].(map[string]any); ok {
		delete(md, "annotations")
	}
	return out
}

// The actions use nothing outside Argo CD's sandbox either: require("os") is the one
// module it gives them (date and time).
func TestActionsUseOnlyTheSandbox(t *testing.T) {
	scripts := []string{filepath.Join("actions", "discovery.lua")}
	for _, name := range actionNames {
		scripts = append(scripts, filepath.Join("actions", name, "action.lua"))
	}
	for _, path := range scripts {
		code := regexp.MustCompile(`(?m)--.*$`).ReplaceAllString(readFile(t, path), "")
		code = strings.ReplaceAll(code, `local os = require("os")`, "")
		code = regexp.MustCompile(`\bos\.(date|time)\s*\(`).ReplaceAllString(code, "(")
		for _, re := range []*regexp.Regexp{
			regexp.MustCompile(`\b(string|math|io|os|coroutine|debug|utf8)\s*\.`),
			regexp.MustCompile(`[\w\)\]"']\s*:\s*\w+\s*\(`),
			regexp.MustCompile(`\brequire\b`),
		} {
			if m := re.FindString(code); m != "" {
				t.Errorf("%s uses %q, which Argo CD's sandbox does not offer", path, m)
			}
		}
	}
}
