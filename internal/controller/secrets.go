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
	"crypto/sha256"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
)

// passwordSecretField indexes VpnUsers by the name of their password Secret, so that a
// changed Secret finds the VpnUsers that use it.
const passwordSecretField = "spec.passwordSecretRef.name"

// credentialsSecretField indexes VpnUsers by the name of their credentials Secret, so that
// changed credentials are used at once (a rotated key pair, a Secret that arrives late).
const credentialsSecretField = "spec.credentialsSecretRef.name"

func indexPasswordSecret(obj client.Object) []string {
	vu, ok := obj.(*vpnv1alpha1.VpnUser)
	if !ok || vu.Spec.PasswordSecretRef.Name == "" {
		return nil
	}
	return []string{vu.Spec.PasswordSecretRef.Name}
}

func indexCredentialsSecret(obj client.Object) []string {
	vu, ok := obj.(*vpnv1alpha1.VpnUser)
	if !ok || vu.Spec.CredentialsSecretRef == nil || vu.Spec.CredentialsSecretRef.Name == "" {
		return nil
	}
	return []string{vu.Spec.CredentialsSecretRef.Name}
}

// secretHandler enqueues, for a change of a Secret (its metadata), the VpnUsers that take
// their password or their cloud credentials from it. A VpnUser that has already read
// this very version of its password Secret is left out: Helm, Argo CD and kubectl apply
// create a VpnUser and its Secret together, and the Secret's event, arriving while or
// after the VpnUser is reconciled, would otherwise reconcile it a second time for
// nothing. A deleted Secret reaches every VpnUser that uses it.
func (r *VpnUserReconciler) secretHandler() handler.TypedEventHandler[client.Object, reconcile.Request] {
	enqueue := func(ctx context.Context, secret client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request], deleted bool) {
		for _, req := range r.vpnUsersForSecret(ctx, secret, deleted) {
			q.Add(req)
		}
	}
	return handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, e.Object, q, false)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, e.ObjectNew, q, false)
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, e.Object, q, true)
		},
		GenericFunc: func(ctx context.Context, e event.TypedGenericEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, e.Object, q, true)
		},
	}
}

// vpnUsersForSecret maps a Secret (its metadata) to the VpnUsers of its namespace that
// take their password or their cloud credentials from it; unless the Secret was deleted,
// without those that have read this version of it as their password Secret.
func (r *VpnUserReconciler) vpnUsersForSecret(ctx context.Context, secret client.Object, deleted bool) []reconcile.Request {
	seen := map[types.NamespacedName]bool{}
	var requests []reconcile.Request
	for _, field := range []string{passwordSecretField, credentialsSecretField} {
		var users vpnv1alpha1.VpnUserList
		if err := r.List(ctx, &users, client.InNamespace(secret.GetNamespace()),
			client.MatchingFields{field: secret.GetName()}); err != nil {
			logf.FromContext(ctx).Error(err, "Failed to list the VpnUsers of a Secret", "secret", klog.KObj(secret), "field", field)
			continue
		}
		for _, vu := range users.Items {
			key := types.NamespacedName{Namespace: vu.Namespace, Name: vu.Name}
			if seen[key] {
				continue
			}
			seen[key] = true
			if !deleted && field == passwordSecretField && r.mem.secretReads.has(key, secret) {
				continue
			}
			requests = append(requests, reconcile.Request{NamespacedName: key})
		}
	}
	return requests
}

// secretReads remembers, for each VpnUser, the version of its password Secret that its
// last reconcile read (see secretHandler).
type secretReads struct {
	m keyed[secretVersion] // by VpnUser
}

// secretVersion identifies one version of a Secret (its name, UID and resourceVersion) by
// a digest of them: 16 bytes in the map rather than three strings the map would keep alive
// (about 100 bytes a VpnUser more at 10,000).
type secretVersion [16]byte

func versionOf(secret client.Object) secretVersion {
	h := sha256.New()
	for _, part := range []string{secret.GetName(), string(secret.GetUID()), secret.GetResourceVersion()} {
		_, _ = h.Write([]byte(part))
		_, _ = h.Write([]byte{0})
	}
	var v secretVersion
	copy(v[:], h.Sum(nil))
	return v
}

// read notes that the VpnUser key read secret.
func (s *secretReads) read(key types.NamespacedName, secret client.Object) {
	s.m.store(key, versionOf(secret))
}

// has tells whether the VpnUser key has read this version of secret.
func (s *secretReads) has(key types.NamespacedName, secret client.Object) bool {
	v, ok := s.m.load(key)
	return ok && v == versionOf(secret)
}

func (s *secretReads) forget(key types.NamespacedName) { s.m.delete(key) }

// quiet returns ctx with a logger that drops everything, for reading a Secret: client-go
// logs the bodies of requests and responses through the context's logger at high
// verbosity (--zap-log-level=8 and up), and a Secret's body holds its values.
func quiet(ctx context.Context) context.Context {
	return logr.NewContext(ctx, logr.Discard())
}
