package argocd

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

// healthTests is Argo CD's fixture format (resource_customizations/*/health_test.yaml).
type healthTests struct {
	Tests []struct {
		HealthStatus struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"healthStatus"`
		InputPath string `json:"inputPath"`
	} `json:"tests"`
}

// The statuses Argo CD accepts; any other string shows the resource as Unknown.
var validStatus = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true,
}

// runHealth runs the script in Argo CD's sandbox (newSandbox) with the object as the
// global obj, and returns what it returned.
func runHealth(t *testing.T, script string, obj map[string]any) (status, message string) {
	t.Helper()
	L := newSandbox(t)
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := doCompiled(L, script); err != nil {
		t.Fatalf("the health check failed to run (Argo CD would show Unknown): %v", err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("the health check returned %s, want a table", L.Get(-1).Type())
	}
	s, _ := ret.RawGetString("status").(lua.LString)
	m, _ := ret.RawGetString("message").(lua.LString)
	return string(s), string(m)
}

// toLua converts decoded JSON into Lua values the way Argo CD does.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case map[string]any:
		t := L.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range v {
			t.Append(toLua(L, e))
		}
		return t
	default:
		panic("unexpected JSON value")
	}
}

func readScript(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("health.lua")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestHealthFixtures(t *testing.T) {
	script := readScript(t)
	data, err := os.ReadFile("health_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tests healthTests
	if err := yaml.UnmarshalStrict(data, &tests); err != nil {
		t.Fatalf("health_test.yaml: %v", err)
	}
	if len(tests.Tests) == 0 {
		t.Fatal("health_test.yaml lists no tests")
	}
	seen := map[string]bool{}
	for _, tc := range tests.Tests {
		t.Run(filepath.Base(tc.InputPath), func(t *testing.T) {
			in, err := os.ReadFile(tc.InputPath)
			if err != nil {
				t.Fatal(err)
			}
			var obj map[string]any
			if err := yaml.Unmarshal(in, &obj); err != nil {
				t.Fatal(err)
			}
			status, message := runHealth(t, script, obj)
			if !validStatus[status] {
				t.Fatalf("status %q is not one Argo CD knows", status)
			}
			seen[status] = true
			if status != tc.HealthStatus.Status || message != tc.HealthStatus.Message {
				t.Errorf("got %s %q, want %s %q", status, message, tc.HealthStatus.Status, tc.HealthStatus.Message)
			}
		})
	}
	for _, s := range []string{"Healthy", "Progressing", "Degraded", "Suspended"} {
		if !seen[s] {
			t.Errorf("no fixture is %s", s)
		}
	}
}

// Argo CD's sandbox has no string, math, io or os library and strings have no methods
// there, so a path the fixtures miss must not use them either.
func TestHealthUsesOnlyTheSandbox(t *testing.T) {
	script := readScript(t)
	code := regexp.MustCompile(`(?m)--.*$`).ReplaceAllString(script, "")
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`\b(string|math|io|os|coroutine|debug|utf8)\s*\.`),
		regexp.MustCompile(`[\w\)\]"']\s*:\s*\w+\s*\(`), // s:lower(), ("x"):rep(2)
		regexp.MustCompile(`\brequire\b`),
	} {
		if m := re.FindString(code); m != "" {
			t.Errorf("health.lua uses %q, which Argo CD's default sandbox does not offer", m)
		}
	}
}

// The script must not fail on odd objects a cluster can hold.
func TestHealthOddObjects(t *testing.T) {
	script := readScript(t)
	for name, obj := range map[string]map[string]any{
		"no status":        {"metadata": map[string]any{"name": "a", "generation": float64(1)}},
		"empty conditions": {"metadata": map[string]any{"name": "a"}, "status": map[string]any{"conditions": []any{}}},
		"no ready": {"metadata": map[string]any{"name": "a", "generation": float64(1)}, "status": map[string]any{
			"conditions": []any{map[string]any{"type": "Other", "status": "True"}}}},
		"ready without reason": {"metadata": map[string]any{"name": "a"}, "status": map[string]any{
			"conditions": []any{map[string]any{"type": "Ready", "status": "Unknown"}}}},
		"deleting": {"metadata": map[string]any{"name": "a", "deletionTimestamp": "2026-01-01T00:00:00Z"}},
	} {
		t.Run(name, func(t *testing.T) {
			status, message := runHealth(t, script, obj)
			if status != "Progressing" || message == "" {
				t.Errorf("got %s %q, want Progressing with a message", status, message)
			}
		})
	}
}
