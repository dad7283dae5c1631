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
	"strconv"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// createdAtSkew is how much earlier than its VpnUser a cloud user may seem to have been
// created (clocks differ) and still be taken for the one this VpnUser created.
const createdAtSkew = 5 * time.Minute

// ensureCloudUser finds the cloud user of the VpnUser, or makes it: by adoption when asked
// to, else by a create that is safe to repeat. A user deleted in the console is created
// again, with a new idempotency token; a user just created that the cloud does not show
// yet is waited for first.
//
// The finalizer is added here, before the first cloud write that can give the VpnUser a
// cloud user (see finalizer.go).
func (r *VpnUserReconciler) ensureCloudUser(ctx context.Context, s *scope) *outcome {
	vu := s.vu
	if err := r.ensureFinalizer(ctx, vu); err != nil {
		return waiting(vpnv1alpha1.ReasonProgressing, "Could not add the finalizer; trying again", err)
	}
	if vu.Status.ID != "" {
		if o, found := r.readCloudUser(ctx, s); found || o != nil {
			return o
		}
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

// readCloudUser reads the cloud user of the recorded id. found: it exists (s.user is
// set). A user the cloud does not show is waited for if it was just created
// (waitForNewUser), else taken for deleted outside Kubernetes: the status forgets it, and
// the caller creates it again.
func (r *VpnUserReconciler) readCloudUser(ctx context.Context, s *scope) (o *outcome, found bool) {
	vu := s.vu
	user, err := s.cloud.GetUser(ctx, vu.Spec.VpnServerID, vu.Status.ID)
	if err == nil {
		s.user = user
		r.takeOverObserved(ctx, s)
		return nil, true
	}
	if !vpnapi.IsNotFound(err) {
		return r.failure(s, opGet, err), false
	}
	if o := r.waitForNewUser(vu); o != nil {
		return o, false
	}
	logf.FromContext(ctx).Info("Cloud user deleted outside Kubernetes, creating it again", "userID", vu.Status.ID)
	r.event(vu, corev1.EventTypeWarning, eventRecreating, actionCreate,
		"The cloud user %q (%s) was deleted outside Kubernetes; creating it again", vu.CloudUserName(), vu.Status.ID)
	r.forgetCloudUser(vu)
	vu.Status.Recreations++
	return nil, false
}

// forgetCloudUser clears what the status says of a cloud user that is gone.
func (r *VpnUserReconciler) forgetCloudUser(vu *vpnv1alpha1.VpnUser) {
	vu.Status.ID = ""
	vu.Status.IDRecordedAt = nil
	vu.Status.CreatedAt = nil
	vu.Status.UpdatedAt = nil
	r.passwordOf(vu).forget()
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
	o := waiting(vpnv1alpha1.ReasonProgressing,
		fmt.Sprintf("Waiting for the cloud to show the new user %q (%s), created %s ago; it is created again if the cloud still does not show it after %s",
			vu.CloudUserName(), vu.Status.ID, waited.Round(time.Second), retry.NewUserGrace), nil)
	o.result = ctrl.Result{RequeueAfter: min(retry.NewUserPoll, retry.NewUserGrace-waited)}
	return o
}

// takeOverObserved makes a user observed until now (managementPolicy Observe, switched to
// Manage) this VpnUser's: the same id, never a second user; syncSpec and syncPassword
// then push the spec and the Secret's password.
func (r *VpnUserReconciler) takeOverObserved(ctx context.Context, s *scope) {
	vu := s.vu
	if vu.Status.ManagementPolicy != vpnv1alpha1.ManagementPolicyObserve || vu.Status.AppliedPasswordSecret != nil {
		return
	}
	vu.Status.ManagementPolicy = vpnv1alpha1.ManagementPolicyManage
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
		// A refusal may be a duplicate name; only a list of the server's users can tell
		// (the cloud's message is not to be relied upon).
		if vpnapi.IsInvalid(err) {
			vu.Status.RefusedCreates++
			return r.nameConflict(ctx, s, err)
		}
		return r.failure(s, opCreate, err)
	}
	vu.Status.ID = id
	vu.Status.IDRecordedAt = ptr.To(metav1.Now())
	r.passwordOf(vu).applied(s.secret, s.password)
	s.created = true
	logf.FromContext(ctx).Info("Created the cloud user", "userID", id, "recreations", vu.Status.Recreations)
	r.event(vu, corev1.EventTypeNormal, createdEvent(vu), actionCreate, "Created the cloud user %q (%s) on VPN server %s",
		vu.CloudUserName(), id, vu.Spec.VpnServerID)

	user, err := s.cloud.GetUser(ctx, vu.Spec.VpnServerID, id)
	if err != nil {
		if vpnapi.IsNotFound(err) {
			if o := r.waitForNewUser(vu); o != nil {
				return o
			}
		}
		return r.failure(s, opGet, err)
	}
	s.user = user
	return nil
}

// createdEvent is the reason of the event of a create: Created, or Recreated for a user
// deleted outside Kubernetes.
func createdEvent(vu *vpnv1alpha1.VpnUser) string {
	if vu.Status.Recreations > 0 {
		return eventRecreated
	}
	return eventCreated
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
	if err := r.removeFinalizer(ctx, vu); err != nil {
		return waiting(vpnv1alpha1.ReasonProgressing, "Could not remove the finalizer after a name conflict; trying again", err)
	}
	return stalled(vpnv1alpha1.ReasonNameConflict,
		fmt.Sprintf("A user named %q already exists on VPN server %s (id %s) and this VpnUser did not create it: "+
			"set the annotation %s: \"true\" to adopt it (its password is then reset from the Secret), or choose another spec.userName (%v)",
			vu.CloudUserName(), vu.Spec.VpnServerID, existing.ID, vpnv1alpha1.AnnotationAdopt, createErr))
}

// recoverLostCreate takes the user that an earlier create of this VpnUser made, whose
// answer was lost, for the VpnUser's own. The password it was made with is not known (the
// Secret may have changed since): it is reset from the Secret, and a refusal as one of
// its last passwords means it already has it (see resetAnswer).
func (r *VpnUserReconciler) recoverLostCreate(ctx context.Context, s *scope, existing *vpnapi.User) {
	vu := s.vu
	vu.Status.ID = existing.ID
	vu.Status.IDRecordedAt = ptr.To(metav1.Now())
	password := r.passwordOf(vu)
	password.forget()
	password.pending(s.secret)
	s.user = existing
	s.created = true
	logf.FromContext(ctx).Info("Found the cloud user made by an earlier create whose answer was lost", "userID", existing.ID)
	r.event(vu, corev1.EventTypeNormal, createdEvent(vu), actionCreate,
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
	r.passwordOf(vu).forget()
	s.user = existing
	s.adopted = true
	logf.FromContext(ctx).Info("Adopted the existing cloud user", "userID", existing.ID)
	r.event(vu, corev1.EventTypeNormal, eventAdopted, actionAdopt,
		"Adopted the existing cloud user %q (%s); its password is reset from Secret %q",
		vu.CloudUserName(), existing.ID, s.secret.Name)
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

func wantsAdoption(vu *vpnv1alpha1.VpnUser) bool {
	return vu.Annotations[vpnv1alpha1.AnnotationAdopt] == annotationEnabled
}
