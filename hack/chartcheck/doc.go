// Package chartcheck holds the test that keeps the Helm chart in
// config/helm/vpnuser-operator in step with the kustomize install in config/default: it
// renders both with the real tools (bin/helm, bin/kustomize) and fails on any difference
// in the objects they create, the CRD, the RBAC rules, and the Deployment's security
// context, arguments, probes and resources.
package chartcheck
