//go:build tools

// Package etcd pins the etcd server that the local control plane runs. It is a module of
// its own because k8s.io/kubernetes requires a newer etcd than the one we run.
package etcd

import _ "go.etcd.io/etcd/server/v3"
