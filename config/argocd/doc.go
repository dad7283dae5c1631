// Package argocd holds the Argo CD health check of VpnUser (health.lua) and its test,
// which runs the script the way Argo CD does (gopher-lua with only the base, package and
// table libraries) on VpnUsers captured from the real operator (testdata/, listed in
// health_test.yaml, Argo CD's own fixture format).
package argocd
