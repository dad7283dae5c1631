#!/usr/bin/env bash
# Builds the release tools the project drives for real (helm v4) from the Go module proxy
# into $1 (default: bin/ under the repository root). Only missing binaries are built. Each
# failure names the binary and keeps the compiler's output. The versions are the ones
# pinned in this folder's go.mod; bump them there (go get helm.sh/helm/v4@vX.Y.Z) and here.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/../../bin"}
mkdir -p "$out"
out=$(cd "$out" && pwd)

HELM_VERSION=v4.3.1

# helm reports the version stamped here (`helm version`); without it a source build says v4.3.
helm_ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
helm_ldflags="$helm_ldflags -X helm.sh/helm/v4/internal/version.gitTreeState=clean"

pinned=$(cd "$here" && go list -m -f '{{.Version}}' helm.sh/helm/v4)
if [ "$pinned" != "$HELM_VERSION" ]; then
  echo "tools: build.sh says helm $HELM_VERSION but hack/tools/go.mod pins $pinned; make them agree" >&2
  exit 1
fi

build() { # name package ldflags
  local name=$1 pkg=$2 ldflags=$3
  if [ -x "$out/$name" ]; then
    return 0
  fi
  echo "tools: building $name from $pkg (cached afterwards in $out)" >&2
  local log
  log=$(mktemp)
  if ! (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$name.tmp" "$pkg") >"$log" 2>&1; then
    echo "tools: FAILED to build $name ($pkg):" >&2
    tail -n 40 "$log" >&2
    rm -f "$log" "$out/$name.tmp"
    exit 1
  fi
  rm -f "$log"
  mv "$out/$name.tmp" "$out/$name"
}

build helm helm.sh/helm/v4/cmd/helm "$helm_ldflags"
echo "tools: helm $HELM_VERSION is in $out" >&2
