// Package argocd holds Argo CD's customizations for VpnUser and their tests: the health
// check (health.lua) and the resource actions pause, resume and reconcile (actions/, in
// Argo CD's layout), run the way Argo CD runs them (gopher-lua with only the base, package
// and table libraries, and its safe os for require("os")) on VpnUsers captured from the
// real operator (testdata/, listed in health_test.yaml and actions/action_test.yaml, Argo
// CD's own fixture formats). The health check is held to kstatus (sigs.k8s.io/cli-utils)
// on those and on thousands of generated states; argocd-cm-patch.yaml and
// argo-cd-values.yaml carry the scripts for argocd-cm and for the argo-cd Helm chart.
package argocd
