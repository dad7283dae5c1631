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
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

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
