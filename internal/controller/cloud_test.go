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

package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// secretReader serves Secrets from a map, as the API server would.
type secretReader struct {
	client.Reader
	secrets map[string]*corev1.Secret
}

func (r *secretReader) Get(_ context.Context, key types.NamespacedName, obj client.Object, _ ...client.GetOption) error {
	s, ok := r.secrets[key.String()]
	if !ok {
		return apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
	}
	s.DeepCopyInto(obj.(*corev1.Secret))
	return nil
}

func TestSecretClientsCachePerVersionAndShareALimiterPerProject(t *testing.T) {
	const projectA, projectB = "0b8c1e6f3f5d4c2a9e7b6a5d4c3b2a19", "1c9d2f7a4e6b5c3d8a9f0e1d2c3b4a51"
	secret := func(name, rv, projectID string) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name, UID: types.UID(name + "-uid"), ResourceVersion: rv},
			Data: map[string][]byte{
				vpnv1alpha1.CredentialsKeyAccessKey: []byte("AK"),
				vpnv1alpha1.CredentialsKeySecretKey: []byte("SK-never-printed"),
				vpnv1alpha1.CredentialsKeyProjectID: []byte(projectID),
			},
		}
	}
	reader := &secretReader{secrets: map[string]*corev1.Secret{
		"team/one": secret("one", "1", projectA),
		"team/two": secret("two", "1", projectA),
	}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &SecretClients{Reader: reader, Config: vpnapi.Config{Endpoint: "http://127.0.0.1:1", QPS: 5, Burst: 7},
		Now: func() time.Time { return now }}
	user := func(secretName string) *vpnv1alpha1.VpnUser {
		return &vpnv1alpha1.VpnUser{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "u"},
			Spec: vpnv1alpha1.VpnUserSpec{CredentialsSecretRef: &vpnv1alpha1.LocalSecretReference{Name: secretName}}}
	}
	ctx := context.Background()
	first, err := c.ClientFor(ctx, user("one"))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c.ClientFor(ctx, user("one"))
	if first != again {
		t.Error("the same Secret version made a second client")
	}
	reader.secrets["team/one"] = secret("one", "2", projectB)
	rotated, _ := c.ClientFor(ctx, user("one"))
	if rotated == first {
		t.Error("a changed Secret kept its old client")
	}
	if _, err := c.ClientFor(ctx, user("two")); err != nil {
		t.Fatal(err)
	}
	if len(c.limiters) != 2 || c.Limiter("AK", projectA) == c.Limiter("AK", projectB) {
		t.Errorf("limiters = %v; want one per set of credentials", c.limiters)
	}
	// Another namespace that declares project A with keys of its own gets a limiter of its own.
	foreign := secret("three", "1", projectA)
	foreign.Data[vpnv1alpha1.CredentialsKeyAccessKey] = []byte("OTHER-AK")
	reader.secrets["team/three"] = foreign
	if _, err := c.ClientFor(ctx, user("three")); err != nil {
		t.Fatal(err)
	}
	if len(c.limiters) != 3 || c.Limiter("OTHER-AK", projectA) == c.Limiter("AK", projectA) {
		t.Errorf("limiters = %v; want the other access key kept apart", c.limiters)
	}

	// A VpnUser being deleted whose credentials Secret went first (a namespace deletion)
	// uses the last client of that Secret; one that is not being deleted waits for it.
	delete(reader.secrets, "team/two")
	deleting := user("two")
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	if _, err := c.ClientFor(ctx, deleting); err != nil {
		t.Errorf("a VpnUser being deleted without its credentials Secret: %v; want the last client", err)
	}
	if _, err := c.ClientFor(ctx, user("two")); err == nil {
		t.Error("a VpnUser not being deleted used the credentials of a Secret that is gone")
	}
	reader.secrets["team/two"] = secret("two", "1", projectA)

	now = now.Add(credentialsCacheTTL + time.Minute)
	if _, err := c.ClientFor(ctx, user("two")); err != nil {
		t.Fatal(err)
	}
	if len(c.clients) != 1 {
		t.Errorf("%d clients cached; want the unused one dropped", len(c.clients))
	}

	for _, tc := range []struct {
		name   string
		secret *corev1.Secret
		vu     *vpnv1alpha1.VpnUser
		want   []string
	}{
		{"no Secret", nil, user("missing"), []string{`"missing"`, "not found", vpnv1alpha1.CredentialsKeyAccessKey}},
		{"no SK", func() *corev1.Secret {
			s := secret("partial", "1", projectA)
			delete(s.Data, vpnv1alpha1.CredentialsKeySecretKey)
			return s
		}(), user("partial"), []string{`"partial"`, vpnv1alpha1.CredentialsKeySecretKey}},
		{"bad project", secret("badproject", "1", "nope"), user("badproject"), []string{`"badproject"`, vpnv1alpha1.CredentialsKeyProjectID}},
		{"no default", nil, &vpnv1alpha1.VpnUser{}, []string{"--default-credentials=none", "spec.credentialsSecretRef"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.secret != nil {
				reader.secrets["team/"+tc.secret.Name] = tc.secret
			}
			_, err := c.ClientFor(ctx, tc.vu)
			e, ok := asCredentialsNotFound(err)
			if !ok {
				t.Fatalf("error = %v; want a CredentialsNotFoundError", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(e.Message, want) {
					t.Errorf("message %q does not name %q", e.Message, want)
				}
			}
			if strings.Contains(e.Message, "SK-never-printed") {
				t.Error("the message shows the secret key")
			}
		})
	}
}
