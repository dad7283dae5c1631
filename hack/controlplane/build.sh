#!/usr/bin/env bash
# Builds the local control plane (kube-apiserver, kubectl, etcd) from the Go module proxy
# into $1 (default: bin/k8s under the repository root). Only missing binaries are built.
# Each failure names the binary and keeps the compiler's output, so that a broken build is
# never discovered later as a panic deep inside envtest.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/../../bin/k8s"}
mkdir -p "$out"
out=$(cd "$out" && pwd)

K8S_VERSION=v1.37.2
K8S_MAJOR=1
K8S_MINOR=37
ETCD_VERSION=v3.6.16

vpkg=k8s.io/component-base/version
k8s_ldflags="-s -w -X $vpkg.gitVersion=$K8S_VERSION -X $vpkg.gitMajor=$K8S_MAJOR -X $vpkg.gitMinor=$K8S_MINOR -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"
k8s_ldflags="$k8s_ldflags -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=$K8S_MAJOR -X k8s.io/client-go/pkg/version.gitMinor=$K8S_MINOR"
etcd_ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION"

build() { # name dir package ldflags
  local name=$1 dir=$2 pkg=$3 ldflags=$4
  if [ -x "$out/$name" ]; then
    return 0
  fi
  echo "controlplane: building $name from $pkg (cached afterwards in $out)" >&2
  local log
  log=$(mktemp)
  if ! (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$name.tmp" "$pkg") >"$log" 2>&1; then
    echo "controlplane: FAILED to build $name ($pkg):" >&2
    tail -n 40 "$log" >&2
    rm -f "$log" "$out/$name.tmp"
    exit 1
  fi
  rm -f "$log"
  mv "$out/$name.tmp" "$out/$name"
}

build kube-apiserver "$here" k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
build kubectl "$here" k8s.io/kubernetes/cmd/kubectl "$k8s_ldflags"
build etcd "$here/etcd" go.etcd.io/etcd/server/v3 "$etcd_ldflags"
echo "controlplane: kube-apiserver $K8S_VERSION, kubectl $K8S_VERSION and etcd $ETCD_VERSION are in $out" >&2
