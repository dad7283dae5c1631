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
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const (
	healthKey  = "resource.customizations.health.vpn.huaweicloud.io_VpnUser"
	actionsKey = "resource.customizations.actions.vpn.huaweicloud.io_VpnUser"
)

// The two ways to install the scripts: a patch of argocd-cm, and values for the argo-cd
// Helm chart, which manages argocd-cm from configs.cm. go test -update writes them.
var snippets = map[string]struct{ header, prefix, indent string }{
	"argocd-cm-patch.yaml": {
		header: `# Adds the VpnUser health check and resource actions (pause, resume, reconcile) to Argo CD.
# Merge it into the argocd-cm ConfigMap of the Argo CD namespace, for example:
#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file config/argocd/argocd-cm-patch.yaml
# The scripts are config/argocd/health.lua and config/argocd/actions/ (a test keeps them
# identical: go test ./config/argocd -update rewrites this file). They need no extra Lua
# library: do not set resource.customizations.useOpenLibs for them.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
`,
		indent: "  ",
	},
	"argo-cd-values.yaml": {
		header: `# The VpnUser health check and resource actions as values of the argo-cd Helm chart, which
# writes argocd-cm from configs.cm: add them to your values, or pass this file too:
#   helm upgrade argocd argo/argo-cd -n argocd --reuse-values -f config/argocd/argo-cd-values.yaml
# The same scripts as argocd-cm-patch.yaml (go test ./config/argocd -update rewrites both).
configs:
  cm:
`,
		indent: "    ",
	},
}

// indentBlock indents every non-empty line of text.
func indentBlock(text, indent string) string {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = indent + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// actionsValue is the value of resource.customizations.actions.<group>_<kind>: a YAML
// document with discovery.lua and the definitions.
func actionsValue(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("discovery.lua: |\n")
	b.WriteString(indentBlock(readFile(t, filepath.Join("actions", "discovery.lua")), "  "))
	b.WriteString("definitions:\n")
	for _, name := range actionNames {
		b.WriteString("- name: " + name + "\n  action.lua: |\n")
		b.WriteString(indentBlock(readFile(t, filepath.Join("actions", name, "action.lua")), "    "))
	}
	return b.String()
}

func snippet(t *testing.T, header, indent string) string {
	t.Helper()
	return header +
		indent + healthKey + ": |\n" + indentBlock(readScript(t), indent+"  ") +
		indent + actionsKey + ": |\n" + indentBlock(actionsValue(t), indent+"  ")
}

// TestConfigMapSnippets: the argocd-cm patch and the argo-cd chart's values carry
// health.lua and the actions as they are, in the format Argo CD reads.
func TestConfigMapSnippets(t *testing.T) {
	for file, s := range snippets {
		t.Run(file, func(t *testing.T) {
			want := snippet(t, s.header, s.indent)
			if *update {
				if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := readFile(t, file); got != want {
				t.Fatalf("%s differs from health.lua and actions/: run go test ./config/argocd -update", file)
			}
			// Read it back as Argo CD does: the ConfigMap's data, then the actions' YAML.
			var doc struct {
				Data    map[string]string `json:"data"`
				Configs struct {
					CM map[string]string `json:"cm"`
				} `json:"configs"`
			}
			if err := yaml.Unmarshal([]byte(want), &doc); err != nil {
				t.Fatal(err)
			}
			data := doc.Data
			if data == nil {
				data = doc.Configs.CM
			}
			if data[healthKey] != readScript(t) {
				t.Errorf("%s: %s is not health.lua", file, healthKey)
			}
			var actions struct {
				Discovery   string `json:"discovery.lua"`
				Definitions []struct {
					Name      string `json:"name"`
					ActionLua string `json:"action.lua"`
				} `json:"definitions"`
			}
			if err := yaml.UnmarshalStrict([]byte(data[actionsKey]), &actions); err != nil {
				t.Fatalf("%s: %s: %v", file, actionsKey, err)
			}
			if actions.Discovery != readFile(t, filepath.Join("actions", "discovery.lua")) {
				t.Errorf("%s: discovery.lua differs", file)
			}
			if len(actions.Definitions) != len(actionNames) {
				t.Fatalf("%s: %d definitions, want %d", file, len(actions.Definitions), len(actionNames))
			}
			for i, d := range actions.Definitions {
				if d.Name != actionNames[i] || d.ActionLua != readFile(t, filepath.Join("actions", d.Name, "action.lua")) {
					t.Errorf("%s: the definition %s differs from actions/%s/action.lua", file, d.Name, actionNames[i])
				}
			}
		})
	}
}
