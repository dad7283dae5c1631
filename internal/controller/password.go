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
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// resolvePasswordAndMark reads the password (resolvePassword). For a VpnUser whose first
// create is near it adds the finalizer at the same time (see markWhile), which
// ensureCloudUser would otherwise add next, one API round trip later.
func (r *VpnUserReconciler) resolvePasswordAndMark(ctx context.Context, s *scope) *outcome {
	if !r.createLikely(ctx, s.vu) {
		return r.resolvePassword(ctx, s)
	}
	return r.markWhile(ctx, s.vu, func() *outcome { return r.resolvePassword(ctx, s) })
}

// createLikely tells whether the reconcile of vu will most likely reach its first create
// (or adoption): no finalizer and no cloud user yet, the password Secret present in the
// watch's metadata cache, and not the very version of it that an earlier reconcile read
// without going on to the create (a missing key or a password the cloud would refuse).
func (r *VpnUserReconciler) createLikely(ctx context.Context, vu *vpnv1alpha1.VpnUser) bool {
	if vu.Status.ID != "" || controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer) || r.metadata == nil {
		return false
	}
	secret := secretMetadata()
	// The cache, not the client: the client reads Secrets, even their metadata, uncached.
	if r.metadata.Get(ctx, types.NamespacedName{Namespace: vu.Namespace, Name: vu.Spec.PasswordSecretRef.Name}, secret) != nil {
		return false
	}
	return !r.mem.secretReads.has(keyOf(vu), secret)
}

// resolvePassword reads the password from the Secret and checks it against the cloud's
// rules, so that a missing or weak password costs no cloud call.
func (r *VpnUserReconciler) resolvePassword(ctx context.Context, s *scope) *outcome {
	vu := s.vu
	ref := vu.Spec.PasswordSecretRef
	key := ref.Key
	if key == "" {
		key = vpnv1alpha1.DefaultPasswordKey
	}
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(quiet(ctx), types.NamespacedName{Namespace: vu.Namespace, Name: ref.Name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return waiting(vpnv1alpha1.ReasonSecretNotFound,
				fmt.Sprintf("Secret %q not found in namespace %q: create it with the password under the key %q",
					ref.Name, vu.Namespace, key), nil)
		}
		return waiting(vpnv1alpha1.ReasonProgressing, fmt.Sprintf("Could not read Secret %q: %v", ref.Name, err),
			fmt.Errorf("reading Secret %s/%s: %w", vu.Namespace, ref.Name, err))
	}
	r.mem.secretReads.read(keyOf(vu), secret)
	value, ok := secret.Data[key]
	if !ok {
		return waiting(vpnv1alpha1.ReasonSecretNotFound,
			fmt.Sprintf("Secret %q has no key %q: put the password under that key, or name another one in spec.passwordSecretRef.key",
				ref.Name, key), nil)
	}
	password := vpnapi.NewSecret(string(value))
	if err := vpnapi.ValidatePassword(vu.CloudUserName(), password); err != nil {
		// The error states the rule that was broken, never the password.
		return stalled(vpnv1alpha1.ReasonInvalidPassword,
			fmt.Sprintf("The password in Secret %q, key %q, breaks the cloud's rules (%v): change it in the Secret; nothing was sent to the cloud",
				ref.Name, key, err))
	}
	s.password = password
	s.secret = vpnv1alpha1.AppliedSecret{Name: ref.Name, Key: key, UID: string(secret.UID), ResourceVersion: secret.ResourceVersion}
	return nil
}

// syncPassword resets the cloud password once for each new version of the Secret whose
// password is not the one the cloud user already has. A version the cloud refused is not
// tried again: the next version is.
func (r *VpnUserReconciler) syncPassword(ctx context.Context, s *scope) *outcome {
	vu := s.vu
	password := r.passwordOf(vu)
	switch decidePassword(&vu.Status, s.secret, r.mem.passwords.isApplied(userRef{key: keyOf(vu), uid: vu.UID}, s.password)) {
	case passwordUpToDate:
		return nil
	case passwordUnchanged:
		// Only the Secret's metadata changed (a label, Helm or Argo CD applying it again),
		// or it went back to the password the user has: there is nothing to reset.
		password.confirmed(s.secret)
		logf.FromContext(ctx).V(1).Info("The password Secret changed but not its password", "userID", vu.Status.ID,
			"secret", klog.KRef(vu.Namespace, s.secret.Name), "secretResourceVersion", s.secret.ResourceVersion)
		return nil
	case passwordRefusedBefore:
		o := stalled(vpnv1alpha1.ReasonPasswordRejected, fmt.Sprintf(
			"The cloud refused the password of Secret %q (resourceVersion %s); put another password in the Secret",
			s.secret.Name, s.secret.ResourceVersion))
		o.keepMessage = true
		o.result = r.nextObservation(s)
		return o
	case passwordResetAgain:
		return r.resetPassword(ctx, s, password, true)
	default:
		return r.resetPassword(ctx, s, password, false)
	}
}

// resetPassword sends the Secret's password to the cloud user. A first reset of a version
// is recorded as pending, and written, before it is sent (see passwordState.pending);
// again tells that it was, by an earlier reset whose answer never came.
func (r *VpnUserReconciler) resetPassword(ctx context.Context, s *scope, password passwordState, again bool) *outcome {
	vu := s.vu
	if !again {
		password.pending(s.secret)
		if err := s.status.patch(ctx, vu); err != nil {
			return waiting(vpnv1alpha1.ReasonProgressing, "Could not record the password reset; trying again", err)
		}
	}
	err := s.cloud.ResetPassword(ctx, vu.Spec.VpnServerID, vu.Status.ID, s.password)
	switch resetAnswer(err, again) {
	case resetNotSent:
		if !again {
			// Nothing was sent: the reset is not pending (it is sent at the reconcile's turn).
			password.refused()
		}
		return r.failure(s, opResetPassword, err)
	case resetUnanswered:
		// The reset stays pending: a retry refused as a reused password means it was applied.
		return r.failure(s, opResetPassword, err)
	case resetRefused:
		o := r.failure(s, opResetPassword, err)
		if o.reason != vpnv1alpha1.ReasonPasswordRejected {
			password.refused()
			return o
		}
		password.rejected(s.secret)
		o.message = fmt.Sprintf("The cloud refused the password in Secret %q key %q (resourceVersion %s) as one of the user's last 5 passwords (%v); "+
			"if the password did not change (only the Secret's metadata did, and the operator restarted since it applied it), this is harmless: "+
			"the cloud user keeps its current password; set a new password in the Secret to clear it",
			s.secret.Name, s.secret.Key, s.secret.ResourceVersion, err)
		// The user works with its old password: keep watching it, without this password.
		o.result = r.nextObservation(s)
		return o
	}
	if err != nil {
		logf.FromContext(ctx).Info("The cloud refused a password it already has: the reset whose answer was lost was applied",
			"userID", vu.Status.ID, "error", err.Error())
	}
	password.applied(s.secret, s.password)
	logf.FromContext(ctx).Info("Reset the password of the cloud user", "userID", vu.Status.ID,
		"secret", klog.KRef(vu.Namespace, s.secret.Name), "secretResourceVersion", s.secret.ResourceVersion)
	r.event(vu, corev1.EventTypeNormal, eventPasswordReset, actionResetPassword,
		"Reset the password of the cloud user %q from Secret %q (resourceVersion %s)",
		vu.CloudUserName(), s.secret.Name, s.secret.ResourceVersion)
	return nil
}
