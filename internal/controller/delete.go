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
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// reconcileDelete deletes the cloud user (or leaves it, with deletionPolicy Orphan or
// managementPolicy Observe), then lets the VpnUser go. A failure keeps the finalizer and
// says why in the conditions.
//
// A VpnUser without the finalizer has no cloud user (see finalizer.go), and goes at once.
// One with it but without a recorded id may have sent a create whose answer never came:
// deleteCloudUser looks the user up by name.
func (r *VpnUserReconciler) reconcileDelete(ctx context.Context, s *scope) (ctrl.Result, error) {
	vu := s.vu
	if !controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	switch {
	case isObserveOnly(vu):
		// An observed user is not this operator's to delete, whatever deletionPolicy says.
	case vu.Spec.DeletionPolicy == vpnv1alpha1.DeletionPolicyOrphan:
		if vu.Status.ID != "" {
			r.event(vu, corev1.EventTypeNormal, eventOrphaned, actionDelete,
				"Left the cloud user %q (%s) in place, as spec.deletionPolicy is Orphan", vu.CloudUserName(), vu.Status.ID)
		}
	case r.claimedByAnother(ctx, vu):
		// Another VpnUser manages the cloud user this one names: it is not this one's to delete.
	default:
		ctx, o := r.connect(ctx, s)
		if o == nil {
			o = r.deleteCloudUser(ctx, s)
		}
		if o != nil {
			return r.report(ctx, s, withDeletionHint(o))
		}
	}
	return ctrl.Result{}, r.release(ctx, vu)
}

// claimedByAnother tells whether another VpnUser holds the cloud user vu names (when the
// cache cannot tell, vu is taken for the holder, as it has the finalizer).
func (r *VpnUserReconciler) claimedByAnother(ctx context.Context, vu *vpnv1alpha1.VpnUser) bool {
	holder, err := r.claimHolder(ctx, vu)
	return err == nil && holder != nil
}

// deleteCloudUser deletes the cloud user of a VpnUser with deletionPolicy Delete. Without
// a recorded id, a create may be outstanding (see pending.go): the user it may have made
// is looked up by name, over the same grace the create path gives the cloud to show it,
// so that it does not leak; a user of that name made outside the window is someone
// else's, and stays.
func (r *VpnUserReconciler) deleteCloudUser(ctx context.Context, s *scope) *outcome {
	vu := s.vu
	id := vu.Status.ID
	if id == "" {
		var o *outcome
		if id, o = r.findLostCreate(ctx, s); id == "" {
			return o
		}
	}
	err := s.cloud.DeleteUser(ctx, vu.Spec.VpnServerID, id)
	if vpnapi.IsNotFound(err) && id == vu.Status.ID {
		// A user just created may not show yet (the cloud is eventually consistent).
		if o := r.waitForNewUser(vu); o != nil {
			return o
		}
	}
	if vpnapi.IsNotFound(err) {
		// Gone already, if the server exists for these credentials; else nothing is known.
		err = s.cloud.ProbeServer(ctx, vu.Spec.VpnServerID)
		if err != nil {
			return r.failure(s, opList, err)
		}
		logf.FromContext(ctx).Info("The cloud user was already gone", "userID", id)
		return nil
	}
	if err != nil {
		return r.failure(s, opDelete, err)
	}
	logf.FromContext(ctx).Info("Deleted the cloud user", "userID", id)
	r.event(vu, corev1.EventTypeNormal, eventDeleted, actionDelete, "Deleted the cloud user %q (%s)", vu.CloudUserName(), id)
	return nil
}

// findLostCreate finds the user an outstanding create of a deleted VpnUser may have made:
// its id, or "" with the outcome to report (nil: there is none, the VpnUser may go).
func (r *VpnUserReconciler) findLostCreate(ctx context.Context, s *scope) (string, *outcome) {
	vu := s.vu
	if s.outstanding == nil {
		return "", nil
	}
	users, err := s.cloud.ListUsers(ctx, vu.Spec.VpnServerID)
	if err != nil {
		return "", r.failure(s, opList, err)
	}
	if u := findUser(users, vu.CloudUserName()); u != nil && s.outstanding.contains(u.CreatedAt) {
		return u.ID, nil
	}
	retry := r.Retry.withDefaults()
	wait := s.outstanding.mayStillShow(time.Now(), vu.DeletionTimestamp.Time, retry.NewUserGrace)
	if wait <= 0 {
		return "", nil
	}
	o := waiting(vpnv1alpha1.ReasonDeleting, fmt.Sprintf(
		"A create of the cloud user %q got no answer: waiting up to %s for the cloud to show the user it may have made, so that it does not leak",
		vu.CloudUserName(), wait.Round(time.Second)), nil)
	o.result = ctrl.Result{RequeueAfter: min(retry.NewUserPoll, wait)}
	return "", o
}

// withDeletionHint adds to the message of a failed deletion what keeps the VpnUser, and
// how to let it go.
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
