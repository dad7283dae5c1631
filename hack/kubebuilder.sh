#!/usr/bin/env bash
# Runs kubebuilder (v4.15.0, installed into bin/ from the Go module proxy on first use) on
# this project. kubebuilder's go/v4 plugin insists on cmd/main.go, and this project keeps
# main.go at the root: for the length of the command, cmd/main.go is a link to it, so
# that the scaffolding markers in main.go are edited in place. Example:
#   hack/kubebuilder.sh create api --group vpn --version v1alpha1 --kind VpnGroup
set -euo pipefail
cd "$(dirname "$0")/.."
version=v4.15.0
bin="$PWD/bin/kubebuilder-$version"
if [ ! -x "$bin" ]; then
  echo "kubebuilder: installing $version into bin/" >&2
  GOBIN="$PWD/bin/.kubebuilder" go install "sigs.k8s.io/kubebuilder/v4@$version"
  mv "$PWD/bin/.kubebuilder/kubebuilder" "$bin"
  rmdir "$PWD/bin/.kubebuilder"
fi
if [ -e cmd ]; then
  echo "kubebuilder: cmd/ exists; this project keeps main.go at the root" >&2
  exit 1
fi
mkdir cmd
ln -s ../main.go cmd/main.go
trap 'rm -rf cmd' EXIT
"$bin" "$@"
