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
)

// connect gets the cloud client of the VpnUser's credentials, checks that they are of the
// project of its cloud user, and takes its project's rate-limiter token for the first
// call: a reconcile whose project is throttled is deferred to its turn before it reads
// a Secret or writes anything. Missing credentials cost no cloud call; the credentials
// Secret is watched, so its arrival reconciles again. The context returned carries the
// token.
func (r *VpnUserReconciler) connect(ctx context.Context, s *scope) (context.Context, *outcome) {
	cloud, err := r.Clouds.ClientFor(ctx, s.vu)
	if err != nil {
		if e, ok := asCredentialsNotFound(err); ok {
			return ctx, waiting(vpnv1alpha1.ReasonCredentialsNotFound, e.Message, nil)
		}
		return ctx, waiting(vpnv1alpha1.ReasonProgressing, fmt.Sprintf("Could not get the cloud client: %v", err),
			fmt.Errorf("getting the cloud client: %w", err))
	}
	project, err := cloud.ProjectID(ctx)
	if err != nil {
		return ctx, r.failure(s, opCredentials, err)
	}
	s.cloud, s.project = cloud, project
	if o := r.sameProject(s); o != nil {
		return ctx, o
	}
	admitted, err := cloud.Admit(ctx, s.turn)
	if err != nil {
		return ctx, r.failure(s, opAdmit, err)
	}
	return admitted, nil
}

// sameProject refuses to act on a cloud user through credentials of another project than
// the one it was made in (rotated credentials of another account, a credentialsSecretRef
// changed to another project's Secret): there, its server and its id mean nothing, and a
// create would make a second user elsewhere.
func (r *VpnUserReconciler) sameProject(s *scope) *outcome {
	vu := s.vu
	if vu.Status.ProjectID == "" || vu.Status.ProjectID == s.project || (vu.Status.ID == "" && vu.Status.PendingCreate == nil) {
		return nil
	}
	o := stalled(vpnv1alpha1.ReasonProjectMismatch, fmt.Sprintf(
		"The cloud user %q (%s) is in project %s, but %s are of project %s: the operator does not act on it through them; "+
			"restore credentials of project %s (the user is then followed again)",
		vu.CloudUserName(), vu.Status.ID, vu.Status.ProjectID, r.credentialsSourceOf(s.credentialsSecret()), s.project, vu.Status.ProjectID))
	o.result = ctrl.Result{RequeueAfter: r.Retry.withDefaults().AuthFailed}
	return o
}
