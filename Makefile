# vpnuser-operator: every target documents itself in `make help`.

# Image URL to use all building/pushing image targets
IMG ?= vpnuser-operator:dev
VERSION ?= dev

# CONTAINER_TOOL defines the container tool to be used for building images.
CONTAINER_TOOL ?= docker

# Setting SHELL to bash allows bash commands to be executed by recipes.
# Options are set to exit when a recipe line exits non-zero or a piped command fails.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

.PHONY: demo
demo: build controlplane localcluster fakecloud kubectl ## Run the operator locally on embedded defaults: local control plane, fake cloud, sample VpnUsers.
	@hack/demo.sh

##@ Development

.PHONY: manifests
manifests: controller-gen crd-ref-docs ## Generate the CRD, RBAC and the API reference (api/v1alpha1/reference.md) from the Go types and markers.
	"$(CONTROLLER_GEN)" rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases
	@# The Helm chart carries the generated CRD (as a template: crds.enabled, crds.keep) and a copy of the RBAC rules (hack/chartcheck fails when they drift).
	go run ./hack/chartcheck/crdtemplate -out config/helm/vpnuser-operator/templates/crd.yaml config/crd/bases/*.yaml
	cp config/rbac/role.yaml config/helm/vpnuser-operator/files/manager-role.yaml
	@# manager preflight checks these rules with SelfSubjectAccessReviews (it embeds this copy).
	cp config/rbac/role.yaml internal/preflight/manager-role.yaml
	@# The alerting rules (one source, config/prometheus/rules) and the Grafana dashboard (generated
	@# by hack/dashboard with its picture): the chart's copies and kustomize's PrometheusRule.
	cp config/prometheus/rules/vpnuser-operator.rules.yaml config/helm/vpnuser-operator/files/prometheus-rules.yaml
	hack/prometheusrule.sh > config/prometheus/rules/prometheusrule.yaml
	cd hack/dashboard && go run . -out ../../config/grafana
	cp config/grafana/vpnuser-operator.json config/helm/vpnuser-operator/files/grafana-dashboard.json
	"$(CRD_REF_DOCS)" --log-level=ERROR --source-path=./api --config=hack/crd-ref-docs.yaml --renderer=markdown \
		--output-path=api/v1alpha1/reference.md

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	"$(CONTROLLER_GEN)" object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run gofmt -w on the code.
	gofmt -w $$(git ls-files '*.go'; git ls-files --others --exclude-standard '*.go')

.PHONY: vet
vet: ## Run go vet against code.
	go vet ./...

GO_TEST_FLAGS ?= -race -count=1
.PHONY: test
test: manifests generate controlplane helm kustomize promtool ## Run all tests (unit, fake cloud conformance, envtest on a real kube-apiserver built here, chart drift, Argo CD health).
	@# hack/dashboard is a module of its own (the Prometheus and Grafana modules stay out of the operator's go.mod).
	cd hack/dashboard && go test $(GO_TEST_FLAGS) ./...
	KUBEBUILDER_ASSETS="$(K8S_BIN)" CHARTCHECK_REQUIRE_TOOLS=1 go test $(GO_TEST_FLAGS) ./...

.PHONY: test-chaos
test-chaos: build controlplane ## Chaos suite: faults, operator SIGKILLs and an API server restart; asserts nothing is lost or duplicated.
	go test -tags chaos -count=1 -timeout 25m -v ./hack/chaos

.PHONY: bench
bench: build controlplane ## Benchmark at N=100,1000,5000,10000 VpnUsers, then the half-rate, restart and failover phases (BENCH_N=..., BENCH_FLAGS=...; about 50 min); writes bin/bench.json. See hack/bench/README.md.
	go run ./hack/bench -n "$(BENCH_N)" -out bin/bench.json $(BENCH_FLAGS)
BENCH_N ?= 100,1000,5000,10000
BENCH_FLAGS ?=

.PHONY: bench-smoke
bench-smoke: build controlplane ## A short run of every bench phase (N=100 and 300, a 2m period, 60 s windows; about 7 min), writing bin/bench-smoke.json: checks the harness, not the figures.
	go run ./hack/bench -n 100,300 -repeats 1 -repeats-small 1 -big-secrets 0 -half-n 200 \
		-restart-n 300 -restart-sync-period 2m -restart-window 60s -out bin/bench-smoke.json $(BENCH_FLAGS)

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	"$(GOLANGCI_LINT)" run

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint and apply its fixes.
	"$(GOLANGCI_LINT)" run --fix

.PHONY: verify
verify: manifests generate golangci-lint ## Fail when generated files are stale or code is unformatted, vetted or linted badly.
	@hack/verify.sh "$(GOLANGCI_LINT)"

##@ Build

.PHONY: build
build: manifests generate ## Build the manager binary into bin/manager.
	go build -ldflags "-X main.version=$(VERSION)" -o bin/manager .

.PHONY: run
run: manifests generate ## Run the operator from your host against the cluster of your kubeconfig.
	go run -ldflags "-X main.version=$(VERSION)" .

.PHONY: localcluster
localcluster: ## Build hack/localcluster (a local etcd + kube-apiserver with the CRD installed).
	go build -o bin/localcluster ./hack/localcluster

.PHONY: fakecloud
fakecloud: ## Build hack/fakecloud (the fake Huawei Cloud VPN user API).
	go build -o bin/fakecloud ./hack/fakecloud

# No container engine runs on the development machines: images are built elsewhere.
.PHONY: docker-build
docker-build: ## Build the container image with the manager.
	$(CONTAINER_TOOL) build --build-arg VERSION=$(VERSION) --build-arg REVISION=$$(git rev-parse HEAD) \
		--build-arg CREATED=$$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ) -t ${IMG} .

.PHONY: docker-push
docker-push: ## Push the container image.
	$(CONTAINER_TOOL) push ${IMG}

.PHONY: build-installer
build-installer: manifests generate kustomize ## Generate a consolidated YAML with CRDs and deployment in dist/install.yaml.
	mkdir -p dist
	"$(KUSTOMIZE)" build config/default | sed 's|image: controller:latest|image: $(IMG)|' > dist/install.yaml

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

.PHONY: install
install: manifests kustomize kubectl ## Install CRDs into the cluster of your kubeconfig.
	"$(KUSTOMIZE)" build config/crd | "$(KUBECTL)" apply -f -

.PHONY: uninstall
uninstall: manifests kustomize kubectl ## Uninstall CRDs from the cluster of your kubeconfig.
	"$(KUSTOMIZE)" build config/crd | "$(KUBECTL)" delete --ignore-not-found=$(ignore-not-found) -f -

.PHONY: deploy
deploy: manifests kustomize kubectl ## Deploy the operator to the cluster of your kubeconfig (IMG=...).
	"$(KUSTOMIZE)" build config/default | sed 's|image: controller:latest|image: $(IMG)|' | "$(KUBECTL)" apply -f -

.PHONY: undeploy
undeploy: kustomize kubectl ## Remove the operator from the cluster of your kubeconfig.
	"$(KUSTOMIZE)" build config/default | "$(KUBECTL)" delete --ignore-not-found=$(ignore-not-found) -f -

##@ Release

.PHONY: helm-lint
helm-lint: helm ## Lint the operator's Helm chart and the example chart of VpnUsers (helm lint --strict).
	"$(HELM)" lint --strict config/helm/vpnuser-operator
	"$(HELM)" lint --strict config/helm/vpnuser-operator --set credentials.create=true \
		--set credentials.accessKey=AK --set credentials.secretKey=SK --set credentials.projectId=0123456789abcdef0123456789abcdef
	"$(HELM)" lint --strict config/helm/vpnuser-operator -f hack/chartcheck/testdata/every-option-values.yaml
	"$(HELM)" lint --strict config/samples/chart

.PHONY: chart-check
chart-check: manifests helm kustomize controlplane ## Fail when the Helm chart drifts from config/default (renders both with the real tools); install, upgrade and uninstall it with helm on a local control plane.
	KUBEBUILDER_ASSETS="$(K8S_BIN)" CHARTCHECK_REQUIRE_TOOLS=1 go test -count=1 ./hack/chartcheck/ ./config/argocd/

.PHONY: test-e2e
test-e2e: build release-image localcluster fakecloud controlplane helm kustomize ## End to end: the release image's operator, local control plane, fake cloud, real kubectl and helm.
	go test -tags e2e -count=1 -timeout 20m -v ./hack/e2e/

.PHONY: release
release: manifests generate kustomize helm cyclonedx-gomod ## Build the release into dist/ without a container engine (VERSION=x.y.z; IMG_REPO=...): the multi-arch OCI image, install.yaml and chart pinned by digest, SBOM, SHA256SUMS.
	go -C hack/release run . -root "$(CURDIR)" -version "$(VERSION)" -out dist -image "$(IMG_REPO)"

.PHONY: release-image
release-image: ## Build the release image's linux/amd64 layout into bin/release/image and extract its manager to bin/manager-image (make test-e2e runs that binary).
	go -C hack/release run . -root "$(CURDIR)" -image-only -platforms linux/amd64 -version "$(VERSION)" \
		-out bin/release -extract bin/manager-image

.PHONY: test-release
test-release: ## Build the release image twice and check it: same digest, config, labels, the binary runs (hack/release).
	go -C hack/release test -count=1 -timeout 30m -v .

## The repository that install.yaml and the chart of `make release` pull the image from.
IMG_REPO ?= ghcr.io/vpnuser-operator/vpnuser-operator

##@ Dependencies

## Location to install dependencies to
LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p "$(LOCALBIN)"

## The local control plane, built from source by hack/controlplane/build.sh.
K8S_BIN ?= $(LOCALBIN)/k8s
KUBECTL ?= $(K8S_BIN)/kubectl

## Tool Binaries
KUSTOMIZE ?= $(LOCALBIN)/kustomize
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT = $(LOCALBIN)/golangci-lint
# golangci-lint's cache keeps absolute file paths: a cache shared by two checkouts (say a
# clone in /tmp and this one) replays the other checkout's findings, and without the files
# it can no longer honour their nolint directives or skip generated code. One per checkout.
export GOLANGCI_LINT_CACHE ?= $(LOCALBIN)/.cache/golangci-lint
CRD_REF_DOCS ?= $(LOCALBIN)/crd-ref-docs

## Tool Versions
KUSTOMIZE_VERSION ?= v5.8.1
CONTROLLER_TOOLS_VERSION ?= v0.21.0
GOLANGCI_LINT_VERSION ?= v2.12.2
CRD_REF_DOCS_VERSION ?= v0.3.0

CYCLONEDX_GOMOD ?= $(LOCALBIN)/cyclonedx-gomod
CYCLONEDX_GOMOD_VERSION ?= v1.10.0
CRANE ?= $(LOCALBIN)/crane
CRANE_VERSION ?= v0.22.1

.PHONY: cyclonedx-gomod
cyclonedx-gomod: $(CYCLONEDX_GOMOD) ## Install cyclonedx-gomod (the release's SBOM) locally if necessary.
$(CYCLONEDX_GOMOD): $(LOCALBIN)
	$(call go-install-tool,$(CYCLONEDX_GOMOD),github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod,$(CYCLONEDX_GOMOD_VERSION))

.PHONY: crane
crane: $(CRANE) ## Install crane (pushes the release's image layout to a registry) locally if necessary.
$(CRANE): $(LOCALBIN)
	$(call go-install-tool,$(CRANE),github.com/google/go-containerregistry/cmd/crane,$(CRANE_VERSION))

.PHONY: controlplane
controlplane: ## Build kube-apiserver, etcd and kubectl from source into bin/k8s (only what is missing).
	@hack/controlplane/build.sh "$(K8S_BIN)"

.PHONY: kubectl
kubectl: controlplane ## Build kubectl v1.37.2 into bin/k8s.

HELM ?= $(LOCALBIN)/helm

.PHONY: helm
helm: $(LOCALBIN) ## Build helm v4 from the Go module proxy into bin/ (hack/tools; only when missing).
	@hack/tools/build.sh "$(LOCALBIN)"

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Install kustomize locally if necessary.
$(KUSTOMIZE): $(LOCALBIN)
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen locally if necessary.
$(CONTROLLER_GEN): $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: crd-ref-docs
crd-ref-docs: $(CRD_REF_DOCS) ## Install crd-ref-docs locally if necessary.
$(CRD_REF_DOCS): $(LOCALBIN)
	$(call go-install-tool,$(CRD_REF_DOCS),github.com/elastic/crd-ref-docs,$(CRD_REF_DOCS_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Install golangci-lint locally if necessary.
$(GOLANGCI_LINT): $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

## promtool checks and unit-tests the alerting rules (config/prometheus/rules). Its version
## is the one hack/dashboard/go.mod pins for the PromQL parser (a test there checks they agree).
PROMTOOL ?= $(LOCALBIN)/promtool
PROMTOOL_VERSION ?= v0.316.0

.PHONY: promtool
promtool: $(PROMTOOL) ## Build promtool (Prometheus's rules checker) locally if necessary.
# Without Prometheus's service discovery plugins (cloud SDKs, client-go), which the rules
# commands do not use: a cold build takes a third of the CPU time and memory.
$(PROMTOOL): export GOFLAGS += -tags=remove_all_sd
$(PROMTOOL): $(LOCALBIN)
	$(call go-install-tool,$(PROMTOOL),github.com/prometheus/prometheus/cmd/promtool,$(PROMTOOL_VERSION))

# go-install-tool will 'go install' any package with custom target and name of binary, if it doesn't exist
# $1 - target path with name of binary
# $2 - package url which can be installed
# $3 - specific version of package
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$(1)-$(3)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Installing $${package}" ;\
rm -f "$(1)" ;\
GOBIN="$(LOCALBIN)" go install $${package} ;\
mv "$(LOCALBIN)/$$(basename "$(1)")" "$(1)-$(3)" ;\
} ;\
ln -sf "$$(realpath "$(1)-$(3)")" "$(1)"
endef
