//go:build tools

// Package controlplane pins the sources of the local control plane (kube-apiserver,
// etcd and kubectl) that the tests and the demo run. It is built by `make controlplane`
// and never imported by the operator, so the operator's go.mod never pulls
// k8s.io/kubernetes.
package controlplane

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
