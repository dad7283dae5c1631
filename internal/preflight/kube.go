/*
Copyright 2026 The vpnuser-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package preflight

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
)

// managerRole is config/rbac/role.yaml, the ClusterRole controller-gen makes of the
// operator's RBAC markers; `make manifests` copies it here.
//
//go:embed manager-role.yaml
var managerRole []byte

// defaultPodNamespaceFile is where a pod finds its namespace, as controller-runtime's
// leader election reads it.
const defaultPodNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Details and hints that several checks give.
const (
	needsKubeAPI = "needs the Kubernetes API"
	runAgain     = "run the preflight again"
)

// leaderElectionRules are what controller-runtime's leader election does in its
// namespace: a Lease (get, create, update) and a core Event when leadership changes
// (config/rbac/leader_election_role.yaml).
var leaderElectionRules = []rbacv1.PolicyRule{
	{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
	{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
}

// ManagerRules are the rules of the operator's ClusterRole.
func ManagerRules() ([]rbacv1.PolicyRule, error) {
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(managerRole, &role); err != nil {
		return nil, fmt.Errorf("the embedded manager role: %w", err)
	}
	return role.Rules, nil
}

// permission is one verb on one resource, as a SelfSubjectAccessReview asks it.
type permission struct {
	group, resource, subresource, verb string
}

func (p permission) String() string {
	r := p.resource
	if p.group != "" {
		r += "." + p.group
	}
	if p.subresource != "" {
		r += "/" + p.subresource
	}
	return p.verb + " " + r
}

// permissions expands rules into single permissions.
func permissions(rules []rbacv1.PolicyRule) []permission {
	var out []permission
	for _, rule := range rules {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				resource, sub, _ := strings.Cut(res, "/")
				for _, v := range rule.Verbs {
					out = append(out, permission{group: g, resource: resource, subresource: sub, verb: v})
				}
			}
		}
	}
	return out
}

// checkKubeAPI reaches the Kubernetes API server and asks who the preflight is.
func (r *run) checkKubeAPI(ctx context.Context) Result {
	res := Result{Check: CheckKubeAPI}
	if r.o.RESTConfig == nil {
		res.Status, res.Detail = StatusSkip, "no Kubernetes configuration given"
		return res
	}
	cfg, err := r.o.RESTConfig()
	if err != nil {
		res.Status, res.Detail = StatusFail, "no Kubernetes configuration: "+oneLine(err.Error())
		res.Fix = "run in the cluster with the operator's ServiceAccount, or set KUBECONFIG (or --kubeconfig)"
		return res
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = r.o.CheckTimeout
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		res.Status, res.Detail, res.Fix = StatusFail, oneLine(err.Error()), "correct the kubeconfig"
		return res
	}
	var version k8sversion.Info
	err = getJSON(ctx, cs, "/version", &version)
	if err != nil {
		res.Status, res.Detail = StatusFail, "the API server "+cfg.Host+" does not answer: "+oneLine(err.Error())
		res.Fix = "check the kubeconfig's server and credentials, or the pod's network to the API server"
		return res
	}
	r.rest = cfg
	who := ""
	if review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx,
		&authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{}); err == nil {
		r.user = review.Status.UserInfo.Username
		who = " as " + r.user
	}
	res.Status, res.Detail = StatusOK, fmt.Sprintf("%s (Kubernetes %s)%s", cfg.Host, version.GitVersion, who)
	return res
}

// getJSON reads a discovery document of the API server (a path such as /version) into v,
// within ctx.
func getJSON(ctx context.Context, cs *kubernetes.Clientset, path string, v any) error {
	raw, err := cs.Discovery().RESTClient().Get().AbsPath(path).Do(ctx).Raw()
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// checkCRD looks for the VpnUser resource in the API server's discovery.
func (r *run) checkCRD(ctx context.Context) Result {
	res := Result{Check: CheckCRD}
	if r.rest == nil {
		res.Status, res.Detail = StatusSkip, needsKubeAPI
		return res
	}
	cs, err := kubernetes.NewForConfig(r.rest)
	if err != nil {
		res.Status, res.Detail = StatusFail, oneLine(err.Error())
		return res
	}
	gv := vpnv1alpha1.GroupVersion.String()
	var list metav1.APIResourceList
	err = getJSON(ctx, cs, "/apis/"+gv, &list)
	if err != nil && !apierrors.IsNotFound(err) {
		res.Status, res.Detail, res.Fix = StatusFail, "discovery of "+gv+": "+oneLine(err.Error()), runAgain
		return res
	}
	if err == nil {
		for _, ar := range list.APIResources {
			if ar.Name == "vpnusers" {
				res.Status, res.Detail = StatusOK, "vpnusers."+vpnv1alpha1.GroupVersion.Group+" is served in "+gv
				return res
			}
		}
	}
	res.Status, res.Detail = StatusFail, "vpnusers."+vpnv1alpha1.GroupVersion.Group+" is not served in "+gv
	res.Fix = "install the CRD: kubectl apply -f config/crd/bases (the chart installs it from its crds/)"
	return res
}

// checkPermissions asks the API server, with a SelfSubjectAccessReview per permission,
// whether the preflight's identity (the operator's ServiceAccount in its pod) has every
// permission of the manager role, in each watched namespace or cluster-wide.
func (r *run) checkPermissions(ctx context.Context) Result {
	res := Result{Check: CheckPermissions}
	if r.rest == nil {
		res.Status, res.Detail = StatusSkip, needsKubeAPI
		return res
	}
	rules, err := ManagerRules()
	if err != nil {
		res.Status, res.Detail = StatusFail, err.Error()
		return res
	}
	namespaces := r.o.WatchNamespaces
	where := "cluster-wide"
	if namespaces == nil {
		namespaces = []string{metav1.NamespaceAll}
	} else {
		where = "in the namespaces " + strings.Join(namespaces, ", ")
	}
	var asked, missed int
	var missing []string
	for _, ns := range namespaces {
		m, n, err := r.review(ctx, ns, permissions(rules))
		if err != nil {
			res.Status, res.Detail = StatusFail, "cannot ask the API server: "+oneLine(err.Error())
			res.Fix = runAgain
			return res
		}
		asked += n
		missed += len(m)
		if len(m) > 0 {
			missing = append(missing, describeMissing(ns, m, n))
		}
	}
	if missed > 0 {
		res.Status = StatusFail
		res.Detail = fmt.Sprintf("%d of %d permissions missing%s: %s", missed, asked, r.asUser(),
			strings.Join(missing, "; "))
		res.Fix = "bind the manager role (config/rbac/role.yaml; the chart's manager RBAC) to the operator's " +
			"ServiceAccount with a ClusterRoleBinding, or with a RoleBinding in each watched namespace"
		return res
	}
	res.Status, res.Detail = StatusOK, fmt.Sprintf("all %d permissions of the manager role granted %s", asked, where)
	return res
}

// checkLeaderElection asks for leader election's permissions in its namespace.
func (r *run) checkLeaderElection(ctx context.Context) Result {
	res := Result{Check: CheckLeaderElection}
	switch {
	case !r.o.LeaderElection:
		res.Status, res.Detail = StatusSkip, "--leader-elect is off"
		return res
	case r.rest == nil:
		res.Status, res.Detail = StatusSkip, needsKubeAPI
		return res
	}
	ns := r.o.LeaderElectionNamespace
	if ns == "" {
		file := r.o.PodNamespaceFile
		if file == "" {
			file = defaultPodNamespaceFile
		}
		b, err := os.ReadFile(file)
		if err != nil || strings.TrimSpace(string(b)) == "" {
			res.Status, res.Detail = StatusFail, "no namespace for the Lease: not in a pod, and --leader-election-namespace is not set"
			res.Fix = "set --leader-election-namespace (required outside a cluster)"
			return res
		}
		ns = strings.TrimSpace(string(b))
	}
	missing, n, err := r.review(ctx, ns, permissions(leaderElectionRules))
	switch {
	case err != nil:
		res.Status, res.Detail, res.Fix = StatusFail, "cannot ask the API server: "+oneLine(err.Error()), runAgain
	case len(missing) > 0:
		res.Status = StatusFail
		res.Detail = fmt.Sprintf("%d of %d permissions missing%s: %s", len(missing), n, r.asUser(),
			describeMissing(ns, missing, n))
		res.Fix = "bind the leader-election Role (config/rbac/leader_election_role.yaml) to the operator's " +
			"ServiceAccount in " + ns
	default:
		res.Status, res.Detail = StatusOK, fmt.Sprintf("Lease and Event permissions granted in %s", ns)
	}
	return res
}

func (r *run) asUser() string {
	if r.user == "" {
		return ""
	}
	return " for " + r.user
}

// describeMissing lists the permissions missing in namespace ns ("" cluster-wide) of
// those asked: "in ns: verb resource, ...", or "in ns: all 12" when none is granted.
func describeMissing(ns string, missing []string, asked int) string {
	where := "cluster-wide"
	if ns != "" {
		where = "in " + ns
	}
	if len(missing) == asked && asked > 1 {
		return fmt.Sprintf("%s: all %d", where, asked)
	}
	return where + ": " + strings.Join(missing, ", ")
}

// review asks for each permission in namespace ns ("" cluster-wide) and returns those
// denied, as "verb resource".
func (r *run) review(ctx context.Context, ns string, perms []permission) (missing []string, asked int, err error) {
	cs, err := kubernetes.NewForConfig(r.rest)
	if err != nil {
		return nil, 0, err
	}
	for _, p := range perms {
		ssar := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Group: p.group, Resource: p.resource, Subresource: p.subresource, Verb: p.verb,
			},
		}}
		got, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, ssar, metav1.CreateOptions{})
		if err != nil {
			return nil, 0, err
		}
		if !got.Status.Allowed {
			missing = append(missing, p.String())
		}
	}
	return missing, len(perms), nil
}
