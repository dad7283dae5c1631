package rig

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// The operator's ServiceAccount (see ServiceAccountKubeconfig).
const (
	ServiceAccountNamespace = "vpnuser-system"
	serviceAccountName      = "vpnuser-operator"
)

// ServiceAccountKubeconfig makes the operator's ServiceAccount, binds it to the
// ClusterRole that controller-gen generates from the RBAC markers (roleFile,
// config/rbac/role.yaml), and writes a kubeconfig of its token into dir: the operator then
// authenticates and is authorized as it is in a cluster (a bearer token and RBAC), not as
// the rig's client-certificate administrator. It returns the kubeconfig's path.
func (cp *ControlPlane) ServiceAccountKubeconfig(ctx context.Context, dir, roleFile string) (string, error) {
	const namespace, name = ServiceAccountNamespace, serviceAccountName
	raw, err := os.ReadFile(roleFile)
	if err != nil {
		return "", err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(raw, role); err != nil {
		return "", fmt.Errorf("reading %s: %w", roleFile, err)
	}
	role.Name = name
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}},
	}
	for _, obj := range []client.Object{ns, sa, role, binding} {
		if err := client.IgnoreAlreadyExists(cp.Client.Create(ctx, obj)); err != nil {
			return "", fmt.Errorf("creating the operator's %T: %w", obj, err)
		}
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](24 * 3600)}}
	if err := cp.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		return "", fmt.Errorf("requesting a token for the operator's ServiceAccount: %w", err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["rig"] = &clientcmdapi.Cluster{Server: cp.Config.Host, CertificateAuthorityData: cp.Config.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: "rig", AuthInfo: name}
	cfg.CurrentContext = name
	path := filepath.Join(dir, "operator.kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

// GrantLeaderElection gives the operator's ServiceAccount (see ServiceAccountKubeconfig)
// the Role of roleFile (config/rbac/leader_election_role.yaml: the Lease, and the Events
// of a leadership change) in its own namespace, as the install does, and returns that
// namespace: the operator's --leader-election-namespace.
func (cp *ControlPlane) GrantLeaderElection(ctx context.Context, roleFile string) (string, error) {
	raw, err := os.ReadFile(roleFile)
	if err != nil {
		return "", err
	}
	role := &rbacv1.Role{}
	if err := yaml.Unmarshal(raw, role); err != nil {
		return "", fmt.Errorf("reading %s: %w", roleFile, err)
	}
	role.Namespace, role.Name = ServiceAccountNamespace, serviceAccountName+"-leader-election"
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: role.Namespace, Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ServiceAccountNamespace, Name: serviceAccountName}},
	}
	for _, obj := range []client.Object{role, binding} {
		if err := client.IgnoreAlreadyExists(cp.Client.Create(ctx, obj)); err != nil {
			return "", fmt.Errorf("creating the operator's leader-election %T: %w", obj, err)
		}
	}
	return ServiceAccountNamespace, nil
}
