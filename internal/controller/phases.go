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
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// Reasons of the Normal events (Warnings carry the reason of the Ready condition).
const (
	eventCreated        = "Created"
	eventRecreating     = "Recreating"
	eventRecreated      = "Recreated"
	eventAdopted        = "Adopted"
	eventUpdated        = "Updated"
	eventDriftCorrected = "DriftCorrected"
	eventPasswordReset  = "PasswordReset"
	eventDeleted        = "Deleted"
	eventOrphaned       = "Orphaned"
)

// Actions of the events (events.k8s.io/v1 wants one).
const (
	actionReconcile     = "Reconcile"
	actionCreate        = "Create"
	actionAdopt         = "Adopt"
	actionUpdate        = "Update"
	actionResetPassword = "ResetPassword"
	actionDelete        = "Delete"
)

// createdAtSkew is how much earlier than its VpnUser a cloud user may seem to have been
// created (clocks differ) and still be taken for the one this VpnUser created.
const createdAtSkew = 5 * time.Minute

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
			return &outcome{state: stateWaiting, reason: vpnv1alpha1.ReasonSecretNotFound,
				message: fmt.Sprintf("Secret %q not found in namespace %q: create it with the password under the key %q",
					ref.Name, vu.Namespace, key)}
		}
		return &outcome{state: stateWaiting, reason: vpnv1alpha1.ReasonProgressing,
			message: fmt.Sprintf("Could not read Secret %q: %v", ref.Name, err),
			err:     fmt.Errorf("reading Secret %s/%s: %w", vu.Namespace, ref.Name, err)}
	}
	r.secretReads.read(types.NamespacedName{Namespace: vu.Namespace, Name: vu.Name}, secret)
	value, ok := secret.Data[key]
	if !ok {
		return &outcome{state: stateWaiting, reason: vpnv1alpha1.ReasonSecretNotFound,
			message: fmt.Sprintf("Secret %q has no key %q: put the password under that key, or name another one in spec.passwordSecretRef.key",
				ref.Name, key)}
	}
	password := vpnapi.NewSecret(string(value))
	if err := vpnapi.ValidatePassword(vu.CloudUserName(), password); err != nil {
		return &outcome{state: stateStalled, reason: vpnv1alpha1.ReasonInvalidPassword,
			message: fmt.Sprintf("The password in Secret %q, key %q, breaks the cloud's rules (%v): change it in the Secret; nothing was sent to the cloud",
				ref.Name, key, err)}
	}
	s.password = password
	s.secret = vpnv1alpha1.AppliedSecret{Name: ref.Name, Key: key, UID: string(secret.UID), ResourceVersion: secret.ResourceVersion}
	return nil
}

// resolvePasswordAndMark is resolvePassword for a VpnUser whose first create is near: it
// reads the Secret and adds the finalizer (which ensureCloudUser would add next) at the
// same time, so that the create waits for one API round trip instead of two. It does so
// only when the create is likely: no finalizer and no cloud user yet, the Secret present
// in the watch's metadata cache, and no earlier reconcile stopped at the Secret. If the
// Secret then lets the VpnUser down after all, the finalizer is taken off again: a
// VpnUser that has never reached the cloud keeps none.
func (r *VpnUserReconciler) resolvePasswordAndMark(ctx context.Context, s *scope) *outcome {
	vu := s.vu
	if !r.createLikely(ctx, vu) {
		return r.resolvePassword(ctx, s)
	}
	marked := vu.DeepCopy()
	finalizer := make(chan error, 1)
	go func() { finalizer <- r.ensureFinalizer(ctx, marked) }()
	o := r.resolvePassword(ctx, s)
	if err := <-finalizer; err != nil {
		if o != nil {
			return o
		}
		return &outcome{state: stateWaiting, reason: vpnv1alpha1.ReasonProgressing,
			message: "Could not add the finalizer; trying again", err: err}
	}
	// resolvePassword only reads the VpnUser: it takes the patched object as it is.
	*vu = *marked
	if o != nil {
		if err := r.dropFinalizer(ctx, vu); err != nil {
			o.err = errors.Join(o.err, err)
		}
	}
	return o
}

// createLikely tells whether the reconcile of vu will most likely reach its first create
// (or adoption): see resolvePasswordAndMark.
func (r *VpnUserReconciler) createLikely(ctx context.Context, vu *vpnv1alpha1.VpnUser) bool {
	if vu.Status.ID != "" || controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer) {
		return false
	}
	switch readyCondition(vu).Reason {
	case vpnv1alpha1.ReasonSecretNotFound, vpnv1alpha1.ReasonInvalidPassword:
		return false
	}
	secret := &metav1.PartialObjectMetadata{}
	secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	// The cache, not the client: the client reads Secrets, even their metadata, uncached.
	return r.metadata != nil &&
		r.metadata.Get(ctx, types.NamespacedName{Namespace: vu.Namespace, Name: vu.Spec.PasswordSecretRef.Name}, secret) == nil
}

// ensureCloudUser finds the cloud user of the VpnUser, or makes it: by adoption when asked
// to, else by a create that is safe to repeat. A user deleted in the console is created
// again, with a new idempotency token; a user just created that the cloud does not show
// yet is waited for first.
//
// The finalizer is added here, before the first cloud write that can give the VpnUser a
// cloud user: it marks a VpnUser that may have one. A VpnUser still waiting for its
// Secret or its credentials has none, and its deletion needs no cloud call.
func (r *VpnUserReconciler) ensureCloudUser(ctx context.Context, s *scope) *outcome {
	vu := s.vu
	if err := r.ensureFinalizer(ctx, vu); err != nil {
		return &outcome{state: stateWaiting, reason: vpnv1alpha1.ReasonProgressing,
			message: "Could not add the finalizer; trying again", err: err}
	}
	if vu.Status.ID != "" {
		user, err := s.cloud.GetUser(ctx, vu.Spec.VpnServerID, vu.Status.ID)
		if err == nil {
			s.user = user
			r.takeOverObserved(ctx, s)
			return nil
		}
		if !isGone(err) {
			return r.failure(s, opGet, err)
		}
		if o := r.waitForNewUser(vu); o != nil {
			return o
		}
		logf.FromContext(ctx).Info("Cloud user deleted outside Kubernetes, creating it again", "userID", vu.Status.ID)
		r.event(vu, corev1.EventTypeWarning, eventRecreating, actionCreate,
			"The cloud user %q (%s) was deleted outside Kubernetes; creating it again", vu.CloudUserName(), vu.Status.ID)
		forgetCloudUser(vu)
		r.passwords.forget(vu.UID)
		vu.Status.Recreations++
	}
	// After a create that may have been sent, the create is repeated with the same token
	// rather than the user looked up: the cloud answers it with the user it made, if any,
	// and a name conflict then still leads to the adoption.
	if wantsAdoption(vu) && !s.createMayHaveBeenSent {
		users, err := s.cloud.ListUsers(ctx, vu.Spec.VpnServerID)
		if err != nil {
			return r.failure(s, opList, err)
		}
		if existing := findUser(users, vu.CloudUserName()); existing != nil {
			r.adopt(ctx, s, existing)
			return nil
		}
	}
	return r.createCloudUser(ctx, s)
}

// forgetCloudUser clears what the status says of a cloud user that is gone.
func forgetCloudUser(vu *vpnv1alpha1.VpnUser) {
	vu.Status.ID = ""
	vu.Status.IDRecordedAt = nil
	vu.Status.CreatedAt = nil
	vu.Status.UpdatedAt = nil
	vu.Status.AppliedPasswordSecret = nil
	vu.Status.PendingPasswordSecret = nil
	vu.Status.RejectedPasswordSecret = nil
}

// waitForNewUser keeps a user that this operator created, and that no GET has shown yet,
// from being taken for deleted at once: the cloud is eventually consistent, and a GET
// just after a create may answer 404. It is looked at again shortly, and created again
// only if still missing after NewUserGrace. A user seen once (createdAt set) is gone when
// the cloud says so.
func (r *VpnUserReconciler) waitForNewUser(vu *vpnv1alpha1.VpnUser) *outcome {
	if vu.Status.CreatedAt != nil || vu.Status.IDRecordedAt == nil {
		return nil
	}
	retry := r.Retry.withDefaults()
	waited := time.Since(vu.Status.IDRecordedAt.Time)
	if waited >= retry.NewUserGrace {
		return nil
	}
	return &outcome{state: stateWaiting, reason: vpnv1alpha1.ReasonProgressing,
		message: fmt.Sprintf("Waiting for the cloud to show the new user %q (%s), created %s ago; it is created again if the cloud still does not show it after %s",
			vu.CloudUserName(), vu.Status.ID, waited.Round(time.Second), retry.NewUserGrace),
		result: ctrl.Result{RequeueAfter: min(retry.NewUserPoll, retry.NewUserGrace-waited)}}
}

// takeOverObserved makes a user observed until now (managementPolicy Observe, switched to
// Manage) this VpnUser's: the same id, never a second user; syncSpec and syncPassword
// then push the spec and the Secret's password.
func (r *VpnUserReconciler) takeOverObserved(ctx context.Context, s *scope) {
	vu := s.vu
	if readyCondition(vu).Reason != vpnv1alpha1.ReasonObserved || vu.Status.AppliedPasswordSecret != nil {
		return
	}
	s.adopted = true
	logf.FromContext(ctx).Info("Took over the observed cloud user", "userID", vu.Status.ID)
	r.event(vu, corev1.EventTypeNormal, eventAdopted, actionAdopt,
		"Took over the observed cloud user %q (%s), as spec.managementPolicy is Manage; its spec and the password of Secret %q are applied",
		vu.CloudUserName(), vu.Status.ID, s.secret.Name)
}

// createCloudUser creates the cloud user. Its idempotency token follows from what the
// status has persisted (the VpnUser's UID, and the counts of re-creations and refused
// creates), so a crash, a timeout or a lost answer repeats the same token, which the
// cloud answers with the user it already made; nothing needs writing before the create.
// A create the cloud refuses for good made nothing: its token is retired, so that the
// next create, with a corrected spec, does not send a token the cloud may remember with
// other parameters.
func (r *VpnUserReconciler) createCloudUser(ctx context.Context, s *scope) *outcome {
	vu := s.vu
	token := clientToken(vu.UID, vu.Status.Recreations+vu.Status.RefusedCreates)
	id, err := s.cloud.CreateUser(ctx, vu.Spec.VpnServerID, vpnapi.CreateUserRequest{
		Name:        vu.CloudUserName(),
		Password:    s.password,
		Description: vu.Spec.Description,
		UserGroupID: vu.Spec.UserGroupID,
	}, token)
	if err != nil {
		if vpnapi.IsInvalid(err) {
			vu.Status.RefusedCreates++
		}
		if mayBeNameConflict(err) {
			return r.nameConflict(ctx, s, err)
		}
		return r.failure(s, opCreate, err)
	}
	vu.Status.ID = id
	vu.Status.IDRecordedAt = ptr.To(metav1.Now())
	vu.Status.AppliedPasswordSecret = ptr.To(s.secret)
	vu.Status.PendingPasswordSecret = nil
	vu.Status.RejectedPasswordSecret = nil
	r.passwords.applied(vu.UID, s.password)
	s.created = true
	reason := eventCreated
	if vu.Status.Recreations > 0 {
		reason = eventRecreated
	}
	logf.FromContext(ctx).Info("Created the cloud user", "userID", id, "recreations", vu.Status.Recreations)
	r.event(vu, corev1.EventTypeNormal, reason, actionCreate, "Created the cloud user %q (%s) on VPN server %s",
		vu.CloudUserName(), id, vu.Spec.VpnServerID)

	user, err := s.cloud.GetUser(ctx, vu.Spec.VpnServerID, id)
	if err != nil {
		if isGone(err) {
			if o := r.waitForNewUser(vu); o != nil {
				return o
			}
		}
		return r.failure(s, opGet, err)
	}
	s.user = user
	return nil
}

// nameConflict tells a create refused for a duplicate name from other refusals, by
// listing the server's users: the cloud's message is not to be relied upon.
//
// A user of that name may also be the one an earlier create of this VpnUser made, whose
// answer was lost: the retry, with the same token, is refused if the spec or the
// password changed in between ("token already used with different parameters"). When a
// create may have been sent and the user is no older than the VpnUser, it is taken for
// this VpnUser's, as a deletion would (deleteCloudUser); the spec and the password are
// then applied to it.
func (r *VpnUserReconciler) nameConflict(ctx context.Context, s *scope, createErr error) *outcome {
	vu := s.vu
	users, err := s.cloud.ListUsers(ctx, vu.Spec.VpnServerID)
	if err != nil {
		return r.failure(s, opList, err)
	}
	existing := findUser(users, vu.CloudUserName())
	if existing == nil {
		return r.failure(s, opCreate, createErr)
	}
	if s.createMayHaveBeenSent && madeForThisVpnUser(existing, vu) {
		r.recoverLostCreate(ctx, s, existing)
		return nil
	}
	if wantsAdoption(vu) {
		r.adopt(ctx, s, existing)
		return nil
	}
	// The user of that name is not this VpnUser's: without the finalizer, a deletion does
	// not look it up (and cannot delete it).
	if err := r.dropFinalizer(ctx, vu); err != nil {
		return &outcome{state: stateWaiting, reason: vpnv1alpha1.ReasonProgressing,
			message: "Could not remove the finalizer after a name conflict; trying again", err: err}
	}
	return &outcome{state: stateStalled, reason: vpnv1alpha1.ReasonNameConflict,
		message: fmt.Sprintf("A user named %q already exists on VPN server %s (id %s) and this VpnUser did not create it: "+
			"set the annotation %s: \"true\" to adopt it (its password is then reset from the Secret), or choose another spec.userName (%v)",
			vu.CloudUserName(), vu.Spec.VpnServerID, existing.ID, vpnv1alpha1.AnnotationAdopt, createErr)}
}

// recoverLostCreate takes the user that an earlier create of this VpnUser made, whose
// answer was lost, for the VpnUser's own. The password it was made with is not known (the
// Secret may have changed since): it is reset from the Secret, and a refusal as one of
// its last passwords means it already has it (see syncPassword).
func (r *VpnUserReconciler) recoverLostCreate(ctx context.Context, s *scope, existing *vpnapi.User) {
	vu := s.vu
	vu.Status.ID = existing.ID
	vu.Status.IDRecordedAt = ptr.To(metav1.Now())
	vu.Status.AppliedPasswordSecret = nil
	vu.Status.PendingPasswordSecret = ptr.To(s.secret)
	vu.Status.RejectedPasswordSecret = nil
	r.passwords.forget(vu.UID)
	s.user = existing
	s.created = true
	reason := eventCreated
	if vu.Status.Recreations > 0 {
		reason = eventRecreated
	}
	logf.FromContext(ctx).Info("Found the cloud user made by an earlier create whose answer was lost", "userID", existing.ID)
	r.event(vu, corev1.EventTypeNormal, reason, actionCreate,
		"Created the cloud user %q (%s) on VPN server %s (found after the answer to the create was lost); the spec and the password of Secret %q are applied",
		vu.CloudUserName(), existing.ID, vu.Spec.VpnServerID, s.secret.Name)
}

// madeForThisVpnUser tells whether a cloud user of the VpnUser's name may have been made by
// one of its creates: it is no older than the VpnUser (give or take clock skew).
func madeForThisVpnUser(u *vpnapi.User, vu *vpnv1alpha1.VpnUser) bool {
	return !u.CreatedAt.Before(vu.CreationTimestamp.Add(-createdAtSkew))
}

// adopt takes over an existing cloud user; syncSpec and syncPassword then make it follow
// the spec and the Secret.
func (r *VpnUserReconciler) adopt(ctx context.Context, s *scope, existing *vpnapi.User) {
	vu := s.vu
	vu.Status.ID = existing.ID
	vu.Status.AppliedPasswordSecret = nil
	vu.Status.PendingPasswordSecret = nil
	vu.Status.RejectedPasswordSecret = nil
	r.passwords.forget(vu.UID)
	s.user = existing
	s.adopted = true
	logf.FromContext(ctx).Info("Adopted the existing cloud user", "userID", existing.ID)
	r.event(vu, corev1.EventTypeNormal, eventAdopted, actionAdopt,
		"Adopted the existing cloud user %q (%s); its password is reset from Secret %q",
		vu.CloudUserName(), existing.ID, s.secret.Name)
}

// syncSpec puts the description and the user group of the spec on the cloud user. A
// difference found when the spec was already applied is drift, made in the console.
func (r *VpnUserReconciler) syncSpec(ctx context.Context, s *scope) *outcome {
	vu, user := s.vu, s.user
	var req vpnapi.UpdateUserRequest
	var changes []string
	if user.Description != vu.Spec.Description {
		req.Description = ptr.To(vu.Spec.Description)
		changes = append(changes, fmt.Sprintf("description from %q to %q", user.Description, vu.Spec.Description))
	}
	// An empty userGroupId leaves the group to the cloud.
	if vu.Spec.UserGroupID != "" && !strings.EqualFold(user.UserGroupID, vu.Spec.UserGroupID) {
		req.UserGroupID = ptr.To(vu.Spec.UserGroupID)
		changes = append(changes, fmt.Sprintf("userGroupId from %q to %q", user.UserGroupID, vu.Spec.UserGroupID))
	}
	if len(changes) == 0 {
		return nil
	}
	drift := !s.created && !s.adopted && vu.Status.ObservedGeneration == vu.Generation
	updated, err := s.cloud.UpdateUser(ctx, vu.Spec.VpnServerID, vu.Status.ID, req)
	if err != nil {
		return r.failure(s, opUpdate, err)
	}
	if updated != nil {
		s.user = updated
	}
	what := strings.Join(changes, " and ")
	if drift {
		logf.FromContext(ctx).Info("Corrected drift of the cloud user", "userID", vu.Status.ID, "changes", what)
		r.event(vu, corev1.EventTypeWarning, eventDriftCorrected, actionUpdate,
			"Put back the %s of the cloud user %q, changed outside Kubernetes: %s", fieldNames(req), vu.CloudUserName(), what)
		return nil
	}
	logf.FromContext(ctx).Info("Updated the cloud user", "userID", vu.Status.ID, "changes", what)
	r.event(vu, corev1.EventTypeNormal, eventUpdated, actionUpdate, "Updated the cloud user %q: %s", vu.CloudUserName(), what)
	return nil
}

func fieldNames(req vpnapi.UpdateUserRequest) string {
	var names []string
	if req.Description != nil {
		names = append(names, "description")
	}
	if req.UserGroupID != nil {
		names = append(names, "userGroupId")
	}
	return strings.Join(names, " and ")
}

// syncPassword resets the cloud password once for each new version of the Secret whose
// password is not the one the cloud user already has. A version the cloud refused is not
// tried again: the next version is.
func (r *VpnUserReconciler) syncPassword(ctx context.Context, s *scope) *outcome {
	vu := s.vu
	if sameSecret(vu.Status.AppliedPasswordSecret, s.secret) {
		return nil
	}
	if r.passwords.isApplied(vu.UID, s.password) {
		// Only the Secret's metadata changed (a label, Helm or Argo CD applying it again),
		// or it went back to the password the user has: there is nothing to reset.
		vu.Status.AppliedPasswordSecret = ptr.To(s.secret)
		vu.Status.RejectedPasswordSecret = nil
		logf.FromContext(ctx).V(1).Info("The password Secret changed but not its password", "userID", vu.Status.ID,
			"secret", klog.KRef(vu.Namespace, s.secret.Name), "secretResourceVersion", s.secret.ResourceVersion)
		return nil
	}
	if sameSecret(vu.Status.RejectedPasswordSecret, s.secret) {
		message := fmt.Sprintf("The cloud refused the password of Secret %q (resourceVersion %s); put another password in the Secret",
			s.secret.Name, s.secret.ResourceVersion)
		if previous := readyCondition(vu); previous.Reason == vpnv1alpha1.ReasonPasswordRejected {
			message = previous.Message
		}
		return &outcome{state: stateStalled, reason: vpnv1alpha1.ReasonPasswordRejected, message: message,
			result: r.nextObservation(s)}
	}
	// A reset is recorded before it is sent. Finding the record of this very version at
	// the start means an earlier reset of it got no answer (lost on the way, or the
	// operator stopped): it may have been applied.
	retried := sameSecret(vu.Status.PendingPasswordSecret, s.secret)
	if !retried {
		vu.Status.PendingPasswordSecret = ptr.To(s.secret)
		if err := s.status.patch(ctx, vu); err != nil {
			return &outcome{state: stateWaiting, reason: vpnv1alpha1.ReasonProgressing,
				message: "Could not record the password reset; trying again", err: err}
		}
	}
	err := s.cloud.ResetPassword(ctx, vu.Spec.VpnServerID, vu.Status.ID, s.password)
	switch {
	case err == nil:
	case isAmbiguous(err):
		// The cloud may have applied it: status.pendingPasswordSecret stays, and a retry
		// that is refused as a reused password then means it did (see below).
		return r.failure(s, opResetPassword, err)
	case vpnapi.IsInvalid(err) && retried:
		logf.FromContext(ctx).Info("The cloud refused a password it already has: the reset whose answer was lost was applied",
			"userID", vu.Status.ID, "error", err.Error())
	default:
		vu.Status.PendingPasswordSecret = nil
		o := r.failure(s, opResetPassword, err)
		if o.reason == vpnv1alpha1.ReasonPasswordRejected {
			vu.Status.RejectedPasswordSecret = ptr.To(s.secret)
			o.message = fmt.Sprintf("The cloud refused the password in Secret %q key %q (resourceVersion %s) as one of the user's last 5 passwords (%v); "+
				"if the password did not change (only the Secret's metadata did, and the operator restarted since it applied it), this is harmless: "+
				"the cloud user keeps its current password; set a new password in the Secret to clear it",
				s.secret.Name, s.secret.Key, s.secret.ResourceVersion, err)
			// The user works with its old password: keep watching it, without this password.
			o.result = r.nextObservation(s)
		}
		return o
	}
	vu.Status.PendingPasswordSecret = nil
	r.passwords.applied(vu.UID, s.password)
	vu.Status.AppliedPasswordSecret = ptr.To(s.secret)
	vu.Status.RejectedPasswordSecret = nil
	logf.FromContext(ctx).Info("Reset the password of the cloud user", "userID", vu.Status.ID,
		"secret", klog.KRef(vu.Namespace, s.secret.Name), "secretResourceVersion", s.secret.ResourceVersion)
	r.event(vu, corev1.EventTypeNormal, eventPasswordReset, actionResetPassword,
		"Reset the password of the cloud user %q from Secret %q (resourceVersion %s)",
		vu.CloudUserName(), s.secret.Name, s.secret.ResourceVersion)
	return nil
}

// observe copies what the cloud holds into the status, and schedules the next look.
func (r *VpnUserReconciler) observe(_ context.Context, s *scope) *outcome {
	vu, user := s.vu, s.user
	copyCloudUser(vu, user)

	// Created and Adopted stay the reason until the spec changes.
	reason := vpnv1alpha1.ReasonSynced
	previous := readyCondition(vu)
	switch {
	case s.created:
		reason = vpnv1alpha1.ReasonCreated
	case s.adopted:
		reason = vpnv1alpha1.ReasonAdopted
	case previous.Status == metav1.ConditionTrue && previous.ObservedGeneration == vu.Generation &&
		(previous.Reason == vpnv1alpha1.ReasonCreated || previous.Reason == vpnv1alpha1.ReasonAdopted):
		reason = previous.Reason
	}
	var message string
	switch reason {
	case vpnv1alpha1.ReasonCreated:
		message = fmt.Sprintf("Created the cloud user %q (%s) on VPN server %s", user.Name, user.ID, vu.Spec.VpnServerID)
	case vpnv1alpha1.ReasonAdopted:
		message = fmt.Sprintf("Adopted the existing cloud user %q (%s) on VPN server %s", user.Name, user.ID, vu.Spec.VpnServerID)
	default:
		message = fmt.Sprintf("The cloud user %q (%s) on VPN server %s follows the spec", user.Name, user.ID, vu.Spec.VpnServerID)
	}
	return &outcome{state: stateReady, reason: reason, message: message, result: r.nextObservation(s)}
}

// findObservedUser finds the cloud user to observe (managementPolicy Observe): by its id
// once known, else by name in the server's list. It never writes to the cloud.
func (r *VpnUserReconciler) findObservedUser(ctx context.Context, s *scope) *outcome {
	vu := s.vu
	// Under Observe the operator vouches for no password: a later Manage pushes the
	// Secret's.
	vu.Status.AppliedPasswordSecret = nil
	vu.Status.PendingPasswordSecret = nil
	vu.Status.RejectedPasswordSecret = nil
	r.passwords.forget(vu.UID)
	if vu.Status.ID != "" {
		user, err := s.cloud.GetUser(ctx, vu.Spec.VpnServerID, vu.Status.ID)
		if err == nil {
			s.user = user
			return nil
		}
		if !isGone(err) {
			return r.failure(s, opGet, err)
		}
		// Deleted in the console, perhaps made again under the same name: look it up.
		forgetCloudUser(vu)
	}
	users, err := s.cloud.ListUsers(ctx, vu.Spec.VpnServerID)
	if err != nil {
		return r.failure(s, opList, err)
	}
	user := findUser(users, vu.CloudUserName())
	if user == nil {
		forgetCloudUser(vu)
		when := "when the VpnUser changes (the annotation " + vpnv1alpha1.AnnotationSyncPeriod + " turns periodic looks off)"
		if s.period > 0 {
			when = "in " + s.period.String()
		}
		return &outcome{state: stateWaiting, reason: vpnv1alpha1.ReasonNotFound,
			message: fmt.Sprintf("No user named %q on VPN server %s to observe (spec.managementPolicy is Observe, so the operator does not create it); looking again %s",
				vu.CloudUserName(), vu.Spec.VpnServerID, when),
			result: r.nextObservation(s)}
	}
	vu.Status.ID = user.ID
	s.user = user
	return nil
}

// mirror copies the observed cloud user into the status; console changes show there and
// are not put back.
func (r *VpnUserReconciler) mirror(_ context.Context, s *scope) *outcome {
	vu, user := s.vu, s.user
	copyCloudUser(vu, user)
	return &outcome{state: stateReady, reason: vpnv1alpha1.ReasonObserved,
		message: fmt.Sprintf("Observing the cloud user %q (%s) on VPN server %s; spec.managementPolicy is Observe, so nothing is written to the cloud",
			user.Name, user.ID, vu.Spec.VpnServerID),
		result: r.nextObservation(s)}
}

// copyCloudUser copies what the cloud holds of a user into the status.
func copyCloudUser(vu *vpnv1alpha1.VpnUser, user *vpnapi.User) {
	vu.Status.UserName = user.Name
	vu.Status.Description = user.Description
	vu.Status.UserGroupID = user.UserGroupID
	vu.Status.UserGroupName = user.UserGroupName
	vu.Status.CreatedAt = cloudTime(user.CreatedAt)
	vu.Status.UpdatedAt = cloudTime(user.UpdatedAt)
}

// nextObservation schedules the next periodic look at the cloud user, in the object's
// sync period; none when the annotation sync-period turned them off.
func (r *VpnUserReconciler) nextObservation(s *scope) ctrl.Result {
	key := types.NamespacedName{Namespace: s.vu.Namespace, Name: s.vu.Name}
	if s.period <= 0 {
		r.schedule.forget(key)
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: r.schedule.next(key, s.period)}
}

// deleteCloudUser deletes the cloud user of a VpnUser with deletionPolicy Delete. Without
// a recorded id, a create may have reached the cloud before its answer was lost (the
// VpnUser has the finalizer): the user is looked up by name, so that it does not leak.
func (r *VpnUserReconciler) deleteCloudUser(ctx context.Context, s *scope) *outcome {
	vu := s.vu
	id := vu.Status.ID
	if id == "" {
		users, err := s.cloud.ListUsers(ctx, vu.Spec.VpnServerID)
		if err != nil && !isGone(err) {
			return withDeletionHint(r.failure(s, opList, err))
		}
		if u := findUser(users, vu.CloudUserName()); u != nil && madeForThisVpnUser(u, vu) {
			id = u.ID
		}
	}
	if id == "" {
		return nil
	}
	if err := s.cloud.DeleteUser(ctx, vu.Spec.VpnServerID, id); err != nil && !isGone(err) {
		return withDeletionHint(r.failure(s, opDelete, err))
	}
	logf.FromContext(ctx).Info("Deleted the cloud user", "userID", id)
	r.event(vu, corev1.EventTypeNormal, eventDeleted, actionDelete, "Deleted the cloud user %q (%s)", vu.CloudUserName(), id)
	return nil
}

func withDeletionHint(o *outcome) *outcome {
	if o.reason == vpnv1alpha1.ReasonCredentialsNotFound {
		o.message += "; the VpnUser keeps its finalizer until the cloud user is deleted, which needs these credentials: " +
			"restore the Secret, or set spec.deletionPolicy: Orphan to let it go and leave the cloud user in place"
		return o
	}
	o.message += "; the VpnUser keeps its finalizer until the cloud user is deleted: " +
		"set spec.deletionPolicy: Orphan to let it go and leave the cloud user in place"
	return o
}

// clientToken is the idempotency token of a create: the VpnUser's UID for the first, and
// a UUID derived from it and the count of re-creations for each re-creation, so that
// each attempt is repeatable and distinct from the others.
func clientToken(uid types.UID, recreations int32) string {
	if recreations == 0 {
		return string(uid)
	}
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(string(uid)+":"+strconv.Itoa(int(recreations)))).String()
}

func findUser(users []vpnapi.User, name string) *vpnapi.User {
	for i := range users {
		if users[i].Name == name {
			return &users[i]
		}
	}
	return nil
}

func sameSecret(a *vpnv1alpha1.AppliedSecret, b vpnv1alpha1.AppliedSecret) bool {
	return a != nil && *a == b
}

func wantsAdoption(vu *vpnv1alpha1.VpnUser) bool {
	return vu.Annotations[vpnv1alpha1.AnnotationAdopt] == annotationEnabled
}

// event records an event on vu; its note never holds a password.
func (r *VpnUserReconciler) event(vu *vpnv1alpha1.VpnUser, eventType, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(vu, nil, eventType, reason, action, note, args...)
	}
}
