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
	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
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

// event records an event on vu; its note never holds a password.
func (r *VpnUserReconciler) event(vu *vpnv1alpha1.VpnUser, eventType, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(vu, nil, eventType, reason, action, note, args...)
	}
}
