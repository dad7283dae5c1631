#!/usr/bin/env bash
# Fails when the tree is not what `make generate manifests` and gofmt make of it, or when
# go vet or golangci-lint find anything. Run through `make verify`, which regenerates first.
set -euo pipefail
golangci_lint=${1:?usage: hack/verify.sh PATH_TO_GOLANGCI_LINT}
cd "$(dirname "$0")/.."
# One golangci-lint cache per checkout: its entries carry absolute paths (see the Makefile).
export GOLANGCI_LINT_CACHE="${GOLANGCI_LINT_CACHE:-$PWD/bin/.cache/golangci-lint}"
status=0

# Generated files (deepcopy, CRDs, RBAC) must be committed as generated.
if ! git diff --quiet -- . || [ -n "$(git ls-files --others --exclude-standard -- api config)" ]; then
  echo "verify: the tree differs from what is committed after 'make generate manifests':" >&2
  git status --short -- . >&2
  git --no-pager diff --stat -- . >&2
  echo "verify: run 'make generate manifests' and commit the result (never edit generated files by hand)" >&2
  status=1
fi

unformatted=$(gofmt -l $(git ls-files '*.go'; git ls-files --others --exclude-standard '*.go'))
if [ -n "$unformatted" ]; then
  echo "verify: gofmt would change these files (run 'make fmt'):" >&2
  echo "$unformatted" >&2
  status=1
fi

for mod in . hack/controlplane hack/controlplane/etcd hack/tools hack/release hack/dashboard; do
  if ! (cd "$mod" && go mod tidy -diff >/dev/null 2>&1); then
    echo "verify: go.mod/go.sum of $mod are not tidy (run 'go mod tidy' there)" >&2
    status=1
  fi
done

echo "verify: go vet ./..." >&2
go vet ./... || status=1
echo "verify: golangci-lint run" >&2
"$golangci_lint" run ./... || status=1
# The end-to-end and chaos suites sit behind build tags.
"$golangci_lint" run --build-tags chaos,e2e ./hack/... || status=1
# The release builder is a module of its own (its go-containerregistry stays out of the
# operator's go.mod).
echo "verify: go vet and golangci-lint in hack/release" >&2
(cd hack/release && go vet ./... && "$golangci_lint" run --config ../../.golangci.yml ./...) || status=1
# hack/dashboard is a module of its own (the Grafana SDK and the PromQL parser).
echo "verify: go vet and golangci-lint in hack/dashboard" >&2
(cd hack/dashboard && go vet ./... && "$golangci_lint" run ./...) || status=1

if [ "$status" -ne 0 ]; then
  echo "verify: FAILED" >&2
else
  echo "verify: OK" >&2
fi
exit "$status"
