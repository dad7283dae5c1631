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

	ctrl "sigs.k8s.io/controller-runtime"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// This file puts what the cloud holds of a user into the status: reportManaged ends the
// phases of a managed VpnUser; under managementPolicy Observe, findObservedUser and
// reportObserved are the only phases after connect, and never write to the cloud.

// reportManaged copies the cloud user into the status and reports it Ready; the next
// periodic observation is scheduled.
func (r *VpnUserReconciler) reportManaged(_ context.Context, s *scope) *outcome {
	vu, user := s.vu, s.user
	copyCloudUser(vu, user)
	vu.Status.ManagementPolicy = vpnv1alpha1.ManagementPolicyManage

	reason := vpnv1alpha1.ReasonSynced
	switch {
	case s.created:
		reason = vpnv1alpha1.ReasonCreated
	case s.adopted:
		reason = vpnv1alpha1.ReasonAdopted
	default:
		reason = lastingReadyReason(vu, reason)
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
	return ready(reason, message, r.nextObservation(s))
}

// findObservedUser finds the cloud user to observe (managementPolicy Observe): by its id
// once known, else by name in the server's list. It never writes to the cloud.
func (r *VpnUserReconciler) findObservedUser(ctx context.Context, s *scope) *outcome {
	vu := s.vu
	// Under Observe the operator vouches for no password: a later Manage pushes the
	// Secret's.
	r.passwordOf(vu).forget()
	if vu.Status.ID != "" {
		user, err := s.cloud.GetUser(ctx, vu.Spec.VpnServerID, vu.Status.ID)
		if err == nil {
			s.user = user
			return nil
		}
		if !vpnapi.IsNotFound(err) {
			return r.failure(s, opGet, err)
		}
		// Deleted in the console, perhaps made again under the same name: look it up.
		r.forgetCloudUser(vu)
	}
	users, err := s.cloud.ListUsers(ctx, vu.Spec.VpnServerID)
	if err != nil {
		return r.failure(s, opList, err)
	}
	user := findUser(users, vu.CloudUserName())
	if user == nil {
		r.forgetCloudUser(vu)
		when := "when the VpnUser changes (the annotation " + vpnv1alpha1.AnnotationSyncPeriod + " turns periodic looks off)"
		if s.period > 0 {
			when = "in " + s.period.String()
		}
		o := waiting(vpnv1alpha1.ReasonNotFound,
			fmt.Sprintf("No user named %q on VPN server %s to observe (spec.managementPolicy is Observe, so the operator does not create it); looking again %s",
				vu.CloudUserName(), vu.Spec.VpnServerID, when), nil)
		s.listed = true
		o.result = r.nextObservation(s)
		return o
	}
	vu.Status.ID = user.ID
	s.user = user
	return nil
}

// reportObserved copies the observed cloud user into the status; console changes show
// there and are not put back.
func (r *VpnUserReconciler) reportObserved(_ context.Context, s *scope) *outcome {
	vu, user := s.vu, s.user
	copyCloudUser(vu, user)
	vu.Status.ManagementPolicy = vpnv1alpha1.ManagementPolicyObserve
	return ready(vpnv1alpha1.ReasonObserved,
		fmt.Sprintf("Observing the cloud user %q (%s) on VPN server %s; spec.managementPolicy is Observe, so nothing is written to the cloud",
			user.Name, user.ID, vu.Spec.VpnServerID),
		r.nextObservation(s))
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
// sync period; none when the annotation sync-period turned them off. It records the
// observation this reconcile made: the cloud user read (or the server's list, without it).
func (r *VpnUserReconciler) nextObservation(s *scope) ctrl.Result {
	key := keyOf(s.vu)
	if s.period <= 0 {
		r.mem.schedule.forget(key)
		return ctrl.Result{}
	}
	wait := r.mem.schedule.next(key, s.period)
	r.mem.schedule.observed(key, s.user != nil || s.listed)
	return ctrl.Result{RequeueAfter: wait}
}
