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

package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/controlplane"
)

// These tests send manifests to a real kube-apiserver with the CRD installed: everything
// the schema can refuse must be refused there, with a message a person understands.

var (
	k8sClient client.Client
	namespace string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	env, err := controlplane.NewEnvironment()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the control plane:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if err := vpnv1alpha1.AddToScheme(scheme.Scheme); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	namespace = "validation-" + rand.String(6)
	if err := k8sClient.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

const (
	serverID = "6b2f8d3e-4a1c-4e5f-9b7d-2c8a1e3f5d70"
	groupID  = "7625fd92-2e20-4e4d-8c56-66f110fbfaa8"
)

// manifest makes a VpnUser from YAML, as a person would write it.
func manifest(t *testing.T, text string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte("apiVersion: vpn.huaweicloud.io/v1alpha1\nkind: VpnUser\n"+text), &u.Object); err != nil {
		t.Fatalf("bad test manifest: %v", err)
	}
	u.SetNamespace(namespace)
	return u
}

// valid is the spec of a valid VpnUser, indented for a manifest.
func valid(extra string) string {
	return "spec:\n  vpnServerId: " + serverID + "\n  passwordSecretRef:\n    name: alice-password\n" + extra
}

func TestInvalidManifestsAreRefused(t *testing.T) {
	long := strings.Repeat("a", 33)
	for _, c := range []struct {
		name     string
		manifest string
		want     string
	}{
		{"vpnServerId not a UUID", "metadata: {name: user-a}\nspec:\n  vpnServerId: not-a-uuid\n  passwordSecretRef: {name: pw}\n",
			"vpnServerId must be a UUID"},
		{"vpnServerId a UUID without dashes", "metadata: {name: user-a}\nspec:\n  vpnServerId: 6b2f8d3e4a1c4e5f9b7d2c8a1e3f5d70\n  passwordSecretRef: {name: pw}\n",
			"vpnServerId must be a UUID"},
		{"vpnServerId too long", "metadata: {name: user-a}\nspec:\n  vpnServerId: " + serverID + "-0\n  passwordSecretRef: {name: pw}\n",
			"spec.vpnServerId: Too long"},
		{"vpnServerId missing", "metadata: {name: user-a}\nspec:\n  passwordSecretRef: {name: pw}\n",
			"spec.vpnServerId: Required value"},
		{"userName too short", "metadata: {name: user-a}\n" + valid("  userName: abc\n"),
			"spec.userName: Invalid value: \"abc\": spec.userName in body should be at least 4 chars long"},
		{"userName too long", "metadata: {name: user-a}\n" + valid("  userName: "+long+"\n"),
			"spec.userName: Too long"},
		{"userName with a space", "metadata: {name: user-a}\n" + valid("  userName: alice smith\n"),
			"userName may contain only letters, digits, '.', '_' and '-'"},
		{"userName with a slash", "metadata: {name: user-a}\n" + valid("  userName: alice/smith\n"),
			"userName may contain only letters, digits, '.', '_' and '-'"},
		{"userName Administrator", "metadata: {name: user-a}\n" + valid("  userName: Administrator\n"),
			"userName is reserved by the cloud"},
		{"userName l3sw_x", "metadata: {name: user-a}\n" + valid("  userName: l3sw_x\n"),
			"userName is reserved by the cloud"},
		{"userName L3SW_Core", "metadata: {name: user-a}\n" + valid("  userName: L3SW_Core\n"),
			"userName is reserved by the cloud"},
		{"userName LINK", "metadata: {name: user-a}\n" + valid("  userName: LINK\n"),
			"userName is reserved by the cloud"},
		{"userName secureNAT", "metadata: {name: user-a}\n" + valid("  userName: secureNAT\n"),
			"userName is reserved by the cloud"},
		{"description with a space", "metadata: {name: user-a}\n" + valid("  description: team a\n"),
			"description may contain only letters, digits and '_' (no spaces)"},
		{"description too long", "metadata: {name: user-a}\n" + valid("  description: "+strings.Repeat("d", 65)+"\n"),
			"spec.description: Too long"},
		{"userGroupId not a UUID", "metadata: {name: user-a}\n" + valid("  userGroupId: group-1\n"),
			"userGroupId must be a UUID"},
		{"passwordSecretRef missing", "metadata: {name: user-a}\nspec:\n  vpnServerId: " + serverID + "\n",
			"spec.passwordSecretRef: Required value"},
		{"passwordSecretRef without a name", "metadata: {name: user-a}\nspec:\n  vpnServerId: " + serverID + "\n  passwordSecretRef: {key: pw}\n",
			"spec.passwordSecretRef.name: Required value"},
		{"Secret name with upper case", "metadata: {name: user-a}\nspec:\n  vpnServerId: " + serverID + "\n  passwordSecretRef: {name: Alice_Password}\n",
			"passwordSecretRef.name must be a valid Secret name"},
		{"Secret key with a space", "metadata: {name: user-a}\nspec:\n  vpnServerId: " + serverID + "\n  passwordSecretRef: {name: pw, key: my key}\n",
			"passwordSecretRef.key must be a valid Secret key"},
		{"Secret key empty", "metadata: {name: user-a}\nspec:\n  vpnServerId: " + serverID + "\n  passwordSecretRef: {name: pw, key: \"\"}\n",
			"spec.passwordSecretRef.key in body should be at least 1 chars long"},
		{"unknown deletionPolicy", "metadata: {name: user-a}\n" + valid("  deletionPolicy: Retain\n"),
			`spec.deletionPolicy: Unsupported value: "Retain": supported values: "Delete", "Orphan"`},
		{"metadata.name too long without userName", "metadata: {name: " + long + "}\n" + valid(""),
			"metadata.name is used as the cloud user name when spec.userName is not set"},
		{"metadata.name too short without userName", "metadata: {name: bob}\n" + valid(""),
			"metadata.name is used as the cloud user name when spec.userName is not set"},
		{"metadata.name reserved without userName", "metadata: {name: administrator}\n" + valid(""),
			"metadata.name is used as the cloud user name when spec.userName is not set"},
		{"no spec", "metadata: {name: user-a}\n", "spec: Required value"},
		{"unknown managementPolicy", "metadata: {name: user-a}\n" + valid("  managementPolicy: ReadOnly\n"),
			`spec.managementPolicy: Unsupported value: "ReadOnly": supported values: "Manage", "Observe"`},
		{"managementPolicy Manage without passwordSecretRef", "metadata: {name: user-a}\nspec:\n  vpnServerId: " + serverID + "\n  managementPolicy: Manage\n",
			"passwordSecretRef is required when managementPolicy is Manage"},
		{"credentials Secret name with upper case", "metadata: {name: user-a}\n" + valid("  credentialsSecretRef: {name: Cloud_Keys}\n"),
			"credentialsSecretRef.name must be a valid Secret name"},
		{"credentials Secret without a name", "metadata: {name: user-a}\n" + valid("  credentialsSecretRef: {}\n"),
			"spec.credentialsSecretRef.name: Required value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := k8sClient.Create(context.Background(), manifest(t, c.manifest))
			if err == nil {
				t.Fatalf("the API server accepted it; want a refusal containing %q", c.want)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("error = %v; want Invalid", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}

func TestInvalidUpdatesAreRefused(t *testing.T) {
	for _, c := range []struct {
		name   string
		create string
		change func(u *unstructured.Unstructured)
		want   string
	}{
		{"changing vpnServerId", valid(""), func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "11111111-2222-4333-8444-555555555555", "spec", "vpnServerId")
		}, "vpnServerId is immutable"},
		{"changing userName", valid("  userName: alice01\n"), func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "alice02", "spec", "userName")
		}, "userName is immutable"},
		{"adding userName", valid(""), func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "alice03", "spec", "userName")
		}, "userName is immutable"},
		{"removing userName", valid("  userName: alice04\n"), func(u *unstructured.Unstructured) {
			unstructured.RemoveNestedField(u.Object, "spec", "userName")
		}, "userName is immutable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			u := manifest(t, "metadata: {name: upd-"+rand.String(6)+"}\n"+c.create)
			if err := k8sClient.Create(ctx, u); err != nil {
				t.Fatalf("creating: %v", err)
			}
			c.change(u)
			err := k8sClient.Update(ctx, u)
			if err == nil || !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v\nwant an Invalid error containing %q", err, c.want)
			}
		})
	}
}

func TestValidManifestsAreAcceptedWithDefaults(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name, manifest string
	}{
		{"minimal", "metadata: {name: minimal-user}\n" + valid("")},
		{"everything", "metadata: {name: a-kubernetes-name-longer-than-the-cloud-allows-x}\n" +
			valid("  userName: Alice.Smith_01-x\n  description: Team_A_01\n  userGroupId: "+strings.ToUpper(groupID)+
				"\n  deletionPolicy: Orphan\n")},
		{"empty description and a name with a reserved word inside", "metadata: {name: linked-user}\n" + valid("  description: \"\"\n")},
		{"metadata.name with l3sw but no underscore", "metadata: {name: l3switch-admin}\n" + valid("")},
		{"credentials Secret", "metadata: {name: tenant-user}\n" + valid("  credentialsSecretRef: {name: cloud-keys}\n")},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := manifest(t, c.manifest)
			if err := k8sClient.Create(ctx, u); err != nil {
				t.Fatalf("refused: %v", err)
			}
			got := &vpnv1alpha1.VpnUser{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
				t.Fatal(err)
			}
			if got.Spec.PasswordSecretRef.Key != vpnv1alpha1.DefaultPasswordKey {
				t.Errorf("passwordSecretRef.key = %q; want the default %q", got.Spec.PasswordSecretRef.Key, vpnv1alpha1.DefaultPasswordKey)
			}
			if _, set, _ := unstructured.NestedString(u.Object, "spec", "deletionPolicy"); !set &&
				got.Spec.DeletionPolicy != vpnv1alpha1.DeletionPolicyDelete {
				t.Errorf("deletionPolicy = %q; want the default Delete", got.Spec.DeletionPolicy)
			}
		})
	}

	t.Run("Observe needs no passwordSecretRef", func(t *testing.T) {
		u := manifest(t, "metadata: {name: observed-user}\nspec:\n  vpnServerId: "+serverID+"\n  managementPolicy: Observe\n")
		if err := k8sClient.Create(ctx, u); err != nil {
			t.Fatalf("refused: %v", err)
		}
		got := &vpnv1alpha1.VpnUser{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
			t.Fatal(err)
		}
		if got.Spec.ManagementPolicy != vpnv1alpha1.ManagementPolicyObserve {
			t.Errorf("managementPolicy = %q", got.Spec.ManagementPolicy)
		}
		const step = "switching to Manage without a passwordSecretRef"
		got.Spec.ManagementPolicy = vpnv1alpha1.ManagementPolicyManage
		err := k8sClient.Update(ctx, got)
		if err == nil || !strings.Contains(err.Error(), "passwordSecretRef is required when managementPolicy is Manage") {
			t.Errorf("%s: error = %v", step, err)
		}
	})

	t.Run("managementPolicy defaults to Manage", func(t *testing.T) {
		u := manifest(t, "metadata: {name: managed-user}\n"+valid(""))
		if err := k8sClient.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		got := &vpnv1alpha1.VpnUser{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
			t.Fatal(err)
		}
		if got.Spec.ManagementPolicy != vpnv1alpha1.ManagementPolicyManage {
			t.Errorf("managementPolicy = %q; want the default Manage", got.Spec.ManagementPolicy)
		}
	})

	t.Run("mutable fields can change", func(t *testing.T) {
		u := manifest(t, "metadata: {name: changing-user}\n"+valid("  userName: changing01\n"))
		if err := k8sClient.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		got := &vpnv1alpha1.VpnUser{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
			t.Fatal(err)
		}
		got.Spec.Description = "now_described"
		got.Spec.UserGroupID = groupID
		got.Spec.DeletionPolicy = vpnv1alpha1.DeletionPolicyOrphan
		got.Spec.PasswordSecretRef = vpnv1alpha1.SecretKeyReference{Name: "another-secret", Key: "pw"}
		if err := k8sClient.Update(ctx, got); err != nil {
			t.Fatalf("refused: %v", err)
		}
	})
}
