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
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
)

// A restart (an upgrade, a node drain, a leader change) reconciles every VpnUser at once:
// the informers list them all. Reading every cloud user back then would spend minutes of
// the account's quota on users nothing changed. So a VpnUser whose status is complete for
// its generation and its password Secret's version is not read back at once: its next
// observation comes at its place in the period, as if the operator had never stopped, and
// nothing is written. New work still goes first: the priority queue gives the initial
// list a low priority, and a new VpnUser, a spec change or a rotated Secret is never
// complete.

// settledUntil is when a settled VpnUser's next periodic observation is due.
type settledUntil struct {
	due time.Time
	// periodic is false when the sync period is 0: no observation is ever due.
	periodic bool
	// credentials is the version of the credentials Secret then: changed credentials are
	// tried at once.
	credentials string
}

// dueEarly is how early a reconcile may come and still be the observation due (the
// queue's timers are not exact).
const dueEarly = 100 * time.Millisecond

// quiet tells whether the reconcile of vu has nothing to do now, and when to come back:
// vu is complete, and its observation is not due (or its due time is unknown: the
// operator just started, and the observation takes its place in the period).
func (r *VpnUserReconciler) quiet(ctx context.Context, vu *vpnv1alpha1.VpnUser, period time.Duration) (ctrl.Result, bool) {
	if !vu.DeletionTimestamp.IsZero() || !r.complete(ctx, vu) {
		r.mem.settled.delete(keyOf(vu))
		return ctrl.Result{}, false
	}
	now := time.Now()
	if until, ok := r.mem.settled.load(keyOf(vu)); ok {
		switch {
		case until.credentials != r.credentialsVersion(ctx, vu):
			return ctrl.Result{}, false
		case !until.periodic && period <= 0:
			return ctrl.Result{}, true
		case until.periodic && now.Before(until.due.Add(-dueEarly)):
			return ctrl.Result{RequeueAfter: until.due.Sub(now)}, true
		}
		return ctrl.Result{}, false
	}
	if period <= 0 {
		r.settle(ctx, vu, 0)
		return ctrl.Result{}, true
	}
	wait := r.mem.schedule.next(keyOf(vu), period)
	r.settle(ctx, vu, wait)
	return ctrl.Result{RequeueAfter: wait}, true
}

// settle records that a reconcile left vu Ready, with its next observation after wait (0:
// none); unsettle, that it did not.
func (r *VpnUserReconciler) settle(ctx context.Context, vu *vpnv1alpha1.VpnUser, wait time.Duration) {
	r.mem.settled.store(keyOf(vu), settledUntil{due: time.Now().Add(wait), periodic: wait > 0,
		credentials: r.credentialsVersion(ctx, vu)})
}

// credentialsVersion is the resourceVersion of vu's credentials Secret in the metadata
// cache ("" for the operator's own credentials, or a Secret not there).
func (r *VpnUserReconciler) credentialsVersion(ctx context.Context, vu *vpnv1alpha1.VpnUser) string {
	ref := vu.Spec.CredentialsSecretRef
	if ref == nil || r.metadata == nil {
		return ""
	}
	secret := secretMetadata()
	if r.metadata.Get(ctx, types.NamespacedName{Namespace: vu.Namespace, Name: ref.Name}, secret) != nil {
		return ""
	}
	return string(secret.UID) + "/" + secret.ResourceVersion
}

// secretMetadata is an empty Secret's metadata, to read from the metadata cache.
func secretMetadata() *metav1.PartialObjectMetadata {
	secret := &metav1.PartialObjectMetadata{}
	secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return secret
}

func (r *VpnUserReconciler) unsettle(vu *vpnv1alpha1.VpnUser) { r.mem.settled.delete(keyOf(vu)) }

// complete tells whether vu's status says it all: Ready published for this generation,
// the cloud user known, nothing pending, the reconcile request handled and, for a managed
// user, the password of the password Secret's current version applied.
func (r *VpnUserReconciler) complete(ctx context.Context, vu *vpnv1alpha1.VpnUser) bool {
	st := &vu.Status
	if st.ID == "" || st.ObservedGeneration != vu.Generation || st.PendingCreate != nil || !publishedReady(vu) {
		return false
	}
	if v, ok := vu.Annotations[vpnv1alpha1.AnnotationReconcileRequestedAt]; ok && v != st.LastHandledReconcileAt {
		return false
	}
	if isObserveOnly(vu) {
		return st.ManagementPolicy == vpnv1alpha1.ManagementPolicyObserve
	}
	applied := st.AppliedPasswordSecret
	if st.ManagementPolicy != vpnv1alpha1.ManagementPolicyManage || applied == nil ||
		st.PendingPasswordSecret != nil || st.RejectedPasswordSecret != nil || r.metadata == nil {
		return false
	}
	ref := vu.Spec.PasswordSecretRef
	key := ref.Key
	if key == "" {
		key = vpnv1alpha1.DefaultPasswordKey
	}
	secret := secretMetadata()
	if r.metadata.Get(ctx, types.NamespacedName{Namespace: vu.Namespace, Name: ref.Name}, secret) != nil {
		return false
	}
	return applied.Name == ref.Name && applied.Key == key && applied.UID == string(secret.UID) &&
		applied.ResourceVersion == secret.ResourceVersion
}
