// Package e2e is the end-to-end suite (`make test-e2e`, build tag e2e, so `go test ./...`
// skips it). It runs what users run: the built operator binary under its own
// ServiceAccount's RBAC, the local control plane (etcd + kube-apiserver built from
// source), the fake Huawei Cloud VPN API over HTTP, and the real kubectl and helm
// binaries, and checks the cloud's side through the fake's admin API.
//
// Set E2E_CAPTURE_DIR to keep the VpnUsers it sees in each state as YAML: they are the
// fixtures of the Argo CD health check (config/argocd/testdata).
package e2e
