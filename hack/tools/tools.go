//go:build tools

// Package tools pins the command-line tools that the project builds from the Go module
// proxy into bin/ (see build.sh), in a module of its own so that the operator's go.mod
// never depends on them.
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
)
