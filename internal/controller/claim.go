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
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
)

// claimField indexes the VpnUsers that manage (managementPolicy Manage) a cloud user by
// the user they name: its server and its name. At most one VpnUser of the cluster
// manages a cloud user; VpnUsers that only observe claim nothing.
const claimField = "vpnuser.claim"

func indexClaim(obj client.Object) []string {
	vu, ok := obj.(*vpnv1alpha1.VpnUser)
	if !ok || isObserveOnly(vu) {
		return nil
	}
	return []string{claimKey(vu)}
}

func claimKey(vu *vpnv1alpha1.VpnUser) string {
	return strings.ToLower(vu.Spec.VpnServerID) + "/" + vu.CloudUserName()
}

// claim makes sure that this VpnUser is the one that manages the cloud user it names.
// Among the VpnUsers that name it, the holder is the one that has its id (the oldest,
// should several), else the oldest (then the least UID): every reconcile of every one of
// them picks the same. Any other is refused: it never creates, updates, resets or deletes
// the user, forgets it, and drops its finalizer so that its deletion leaves the user.
func (r *VpnUserReconciler) claim(ctx context.Context, s *scope) *outcome {
	vu := s.vu
	holder, err := r.claimHolder(ctx, vu)
	if err != nil {
		return waiting(vpnv1alpha1.ReasonProgressing, "Could not list the VpnUsers that name the same cloud user; trying again", err)
	}
	if holder == nil {
		return nil
	}
	where := "Another VpnUser of the cluster"
	if holder.Namespace == vu.Namespace {
		where = fmt.Sprintf("VpnUser %q of this namespace", holder.Name)
	}
	r.forgetCloudUser(vu)
	vu.Status.PendingCreate = nil
	o := stalled(vpnv1alpha1.ReasonAlreadyManaged, fmt.Sprintf(
		"%s already manages the cloud user %q on VPN server %s: this VpnUser does not write to it, and its deletion leaves it; "+
			"set spec.managementPolicy: Observe to mirror it, or name another user", where, vu.CloudUserName(), vu.Spec.VpnServerID))
	o.result = r.nextObservation(s)
	if err := r.removeFinalizer(ctx, vu); err != nil {
		o.err, o.result = err, ctrl.Result{}
	}
	return o
}

// managesCloudUser tells whether vu already manages its cloud user: it has the finalizer
// (a user of its own, or a create outstanding), or an id it manages.
func managesCloudUser(vu *vpnv1alpha1.VpnUser) bool {
	return controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer) ||
		(vu.Status.ID != "" && vu.Status.ManagementPolicy == vpnv1alpha1.ManagementPolicyManage)
}

// claimHolder is the VpnUser that holds the cloud user vu names, when it is not vu (nil
// when vu holds it).
func (r *VpnUserReconciler) claimHolder(ctx context.Context, vu *vpnv1alpha1.VpnUser) (*vpnv1alpha1.VpnUser, error) {
	var named vpnv1alpha1.VpnUserList
	if err := r.List(ctx, &named, client.MatchingFields{claimField: claimKey(vu)}); err != nil {
		return nil, fmt.Errorf("listing the VpnUsers of claim %s: %w", claimKey(vu), err)
	}
	if len(named.Items) < 2 {
		return nil, nil
	}
	holder := slices.MinFunc(named.Items, claimOrder)
	if holder.UID == vu.UID {
		return nil, nil
	}
	return &holder, nil
}

// claimOrder orders the VpnUsers that name one cloud user: the first holds it. One that
// already manages it (made, adopted or took it over, or may have a create outstanding)
// comes before one that does not; an id only observed does not count.
func claimOrder(a, b vpnv1alpha1.VpnUser) int {
	if manA, manB := managesCloudUser(&a), managesCloudUser(&b); manA != manB {
		if manA {
			return -1
		}
		return 1
	}
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return strings.Compare(string(a.UID), string(b.UID))
}
