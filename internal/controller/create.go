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
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// ensureCloudUser finds the cloud user of the VpnUser, or makes it: by adoption when asked
// to, else by a create that is safe to repeat. A user deleted in the console is created
// again, with a new idempotency token; a user just created that the cloud does not show
// yet is waited for first.
//
// The finalizer is added here, before the first cloud write that can give the VpnUser a
// cloud user (see finalizer.go).
func (r *VpnUserReconciler) ensureCloudUser(ctx context.Context, s *scope) *outcome {
	vu := s.vu
	if s.takeover = observing(vu); s.takeover {
		// A takeover is an adoption: refused before the finalizer, so that the deletion of a
		// VpnUser refused it leaves the user.
		if o := r.adoptionAllowed(ctx, s); o != nil {
			return r.settleNoUser(ctx, s, o)
		}
	}
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
	if wantsAdoption(vu) && s.outstanding == nil {
		if o := r.adoptionAllowed(ctx, s); o != nil {
			return r.settleNoUser(ctx, s, o)
		}
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
		if vu.Status.ProjectID == "" {
			vu.Status.ProjectID = s.project
		}
		r.takeOverObserved(ctx, s)
		return nil, true
	}
	if !vpnapi.IsNotFound(err) {
		return r.failure(s, opGet, err), false
	}
	if o := r.waitForNewUser(vu); o != nil {
		return o, false
	}
	if o := r.confirmServer(ctx, s); o != nil {
		return o, false
	}
	logf.FromContext(ctx).Info("Cloud user deleted outside Kubernetes, creating it again", "userID", vu.Status.ID)
	r.event(vu, corev1.EventTypeWarning, eventRecreating, actionCreate,
		"The cloud user %q (%s) was deleted outside Kubernetes; creating it again", vu.CloudUserName(), vu.Status.ID)
	r.forgetCloudUser(vu)
	vu.Status.Recreations++
	return nil, false
}

// confirmServer checks, after a user's 404, that the VPN server exists for these
// credentials: only then is the user gone. A server the credentials do not reach (it is
// gone, or the credentials are now of another project) says nothing of the user: the id
// is kept and nothing is created.
func (r *VpnUserReconciler) confirmServer(ctx context.Context, s *scope) *outcome {
	if err := s.cloud.ProbeServer(ctx, s.vu.Spec.VpnServerID); err != nil {
		return r.failure(s, opList, err)
	}
	return nil
}

// forgetCloudUser clears what the status says of a cloud user that is gone.
func (r *VpnUserReconciler) forgetCloudUser(vu *vpnv1alpha1.VpnUser) {
	vu.Status.ID = ""
	vu.Status.ProjectID = ""
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
// then push the spec and the Secret's password. A takeover is an adoption: where the
// operator does not allow adoption, ensureCloudUser refused it before the finalizer.
func (r *VpnUserReconciler) takeOverObserved(ctx context.Context, s *scope) {
	vu := s.vu
	if !s.takeover {
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
		switch {
		case vpnapi.IsInvalid(err):
			// Refused for good, even after attempts of this call that got no answer: the
			// client repeats the same token with the same parameters, which the cloud answers
			// with the user the first attempt made, so a refusal says none made one. It may
			// be a duplicate name; only a list of the server's users can tell (the cloud's
			// message is not to be relied upon).
			vu.Status.RefusedCreates++
			return r.nameConflict(ctx, s, err)
		case vpnapi.MayHaveBeenApplied(err):
			// The cloud may have made the user: the create is outstanding.
			recordPendingCreate(vu, s.project, err, time.Now())
			return r.failure(s, opCreate, err)
		case s.outstanding == nil:
			// Refused for good (credentials, server, throttling): nothing was made.
			return r.settleNoUser(ctx, s, r.failure(s, opCreate, err))
		default:
			return r.failure(s, opCreate, err)
		}
	}
	r.recordCloudUser(s, id)
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

// recordCloudUser records the id of the VpnUser's cloud user, made (or found) just now in
// the project of the credentials: nothing is outstanding any more.
func (r *VpnUserReconciler) recordCloudUser(s *scope, id string) {
	vu := s.vu
	vu.Status.ID = id
	vu.Status.IDRecordedAt = ptr.To(metav1.Now())
	vu.Status.ProjectID = s.project
	vu.Status.PendingCreate = nil
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
// password changed in between ("token already used with different parameters"). It is
// taken for this VpnUser's only when the cloud created it while a create was outstanding
// (see pending.go); the spec and the password are then applied to it. Any other user of
// that name is someone else's, and names are unique on a server: this VpnUser has none.
func (r *VpnUserReconciler) nameConflict(ctx context.Context, s *scope, createErr error) *outcome {
	vu := s.vu
	users, err := s.cloud.ListUsers(ctx, vu.Spec.VpnServerID)
	if err != nil {
		if s.outstanding == nil {
			// This reconcile's create made nothing: settle that before anything else.
			return r.settleNoUser(ctx, s, r.failure(s, opList, err))
		}
		return r.failure(s, opList, err)
	}
	existing := findUser(users, vu.CloudUserName())
	switch {
	case existing == nil:
		if wait := s.outstanding.mayStillShow(time.Now(), time.Time{}, r.Retry.withDefaults().NewUserGrace); wait > 0 {
			// An outstanding create's user may not show yet (the cloud is eventually consistent).
			o := r.failure(s, opCreate, createErr)
			o.result, o.err = ctrl.Result{RequeueAfter: min(r.Retry.withDefaults().NewUserPoll, wait)}, nil
			return o
		}
		return r.settleNoUser(ctx, s, r.failure(s, opCreate, createErr))
	case s.outstanding.contains(existing.CreatedAt):
		r.recoverLostCreate(ctx, s, existing)
		return nil
	case wantsAdoption(vu):
		if o := r.adoptionAllowed(ctx, s); o != nil {
			return r.settleNoUser(ctx, s, o)
		}
		r.adopt(ctx, s, existing)
		return nil
	}
	return r.settleNoUser(ctx, s, stalled(vpnv1alpha1.ReasonNameConflict,
		fmt.Sprintf("A user named %q already exists on VPN server %s (id %s) and this VpnUser did not create it: "+
			"set the annotation %s: \"true\" to adopt it (its password is then reset from the Secret), or choose another spec.userName (%v)",
			vu.CloudUserName(), vu.Spec.VpnServerID, existing.ID, vpnv1alpha1.AnnotationAdopt, createErr)))
}

// recoverLostCreate takes the user that an earlier create of this VpnUser made, whose
// answer was lost, for the VpnUser's own. The password it was made with is not known (the
// Secret may have changed since): it is reset from the Secret, and a refusal as one of
// its last passwords means it already has it (see resetAnswer).
func (r *VpnUserReconciler) recoverLostCreate(ctx context.Context, s *scope, existing *vpnapi.User) {
	vu := s.vu
	r.recordCloudUser(s, existing.ID)
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

// adopt takes over an existing cloud user; syncSpec and syncPassword then make it follow
// the spec and the Secret.
func (r *VpnUserReconciler) adopt(ctx context.Context, s *scope, existing *vpnapi.User) {
	vu := s.vu
	vu.Status.ID = existing.ID
	vu.Status.ProjectID = s.project
	vu.Status.PendingCreate = nil
	r.passwordOf(vu).forget()
	s.user = existing
	s.adopted = true
	logf.FromContext(ctx).Info("Adopted the existing cloud user", "userID", existing.ID)
	r.event(vu, corev1.EventTypeNormal, eventAdopted, actionAdopt,
		"Adopted the existing cloud user %q (%s); its password is reset from Secret %q",
		vu.CloudUserName(), existing.ID, s.secret.Name)
}

// observing tells whether the VpnUser's cloud user is one it only observed so far
// (managementPolicy Observe, since switched to Manage).
func observing(vu *vpnv1alpha1.VpnUser) bool {
	// A VpnUser that kept its finalizer through Observe manages the user already: it made
	// or adopted it before.
	return vu.Status.ManagementPolicy == vpnv1alpha1.ManagementPolicyObserve && vu.Status.ID != "" &&
		vu.Status.AppliedPasswordSecret == nil && !controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer)
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

// adoptionAllowed refuses the adoption of an existing cloud user (or the takeover of an
// observed one) in a namespace where the operator does not allow it (--adoption-namespaces):
// with shared credentials, adoption would let any namespace take any user of the project.
func (r *VpnUserReconciler) adoptionAllowed(_ context.Context, s *scope) *outcome {
	if r.AdoptionNamespaces == nil || slices.Contains(r.AdoptionNamespaces, s.vu.Namespace) {
		return nil
	}
	return stalled(vpnv1alpha1.ReasonAdoptionNotAllowed, fmt.Sprintf(
		"The operator does not allow VpnUsers of namespace %q to adopt or take over an existing cloud user (--adoption-namespaces); "+
			"the cloud user %q on VPN server %s is left as it is: ask the cluster's administrator, or choose another spec.userName",
		s.vu.Namespace, s.vu.CloudUserName(), s.vu.Spec.VpnServerID))
}
