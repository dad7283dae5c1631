// Package chartcheck holds the test that keeps the Helm chart in
// config/helm/vpnuser-operator in step with the kustomize install in config/default: it
// renders both with the real tools (bin/helm, bin/kustomize) and fails on any difference
// in the objects they create, the CRD, the RBAC rules, and the Deployment's security
// context, arguments, probes and resources. It also checks values.schema.json, the values
// the kustomize install does not have, the helm test hook, and the CRD's lifecycle with the
// real helm on a local control plane. crdtemplate.go makes templates/crd.yaml from the
// generated CRD (hack/chartcheck/crdtemplate, run by make manifests).
package chartcheck
