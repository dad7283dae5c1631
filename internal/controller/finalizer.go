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

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
)

// The finalizer marks a VpnUser that may have a cloud user: it is added just before the
// first cloud write that can make one (ensureCloudUser), and it is the durable mark that
// a create may have been sent whose answer never came. A VpnUser without it has no cloud
// user, and its deletion needs no cloud call.

// ensureFinalizer adds the finalizer: from then on the VpnUser may have a cloud user, and
// its deletion is the operator's to finish.
func (r *VpnUserReconciler) ensureFinalizer(ctx context.Context, vu *vpnv1alpha1.VpnUser) error {
	if controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer) {
		return nil
	}
	base := vu.DeepCopy()
	controllerutil.AddFinalizer(vu, vpnv1alpha1.Finalizer)
	if err := r.patchMetadata(ctx, vu, base); err != nil {
		return fmt.Errorf("adding the finalizer: %w", err)
	}
	return nil
}

// removeFinalizer takes the finalizer off a VpnUser that has, as far as the cloud's
// answers tell, no cloud user of its own. A VpnUser already gone is not an error.
func (r *VpnUserReconciler) removeFinalizer(ctx context.Context, vu *vpnv1alpha1.VpnUser) error {
	if !controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer) {
		return nil
	}
	base := vu.DeepCopy()
	controllerutil.RemoveFinalizer(vu, vpnv1alpha1.Finalizer)
	if err := r.patchMetadata(ctx, vu, base); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("removing the finalizer: %w", err))
	}
	return nil
}

// patchMetadata writes what changed in vu's metadata since base. The status the
// reconcile has set so far stays in vu (the API server answers with the stored one), for
// the status patch at its end.
func (r *VpnUserReconciler) patchMetadata(ctx context.Context, vu, base *vpnv1alpha1.VpnUser) error {
	status := vu.Status.DeepCopy()
	if err := r.Patch(ctx, vu, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	r.mem.written.record(vu)
	vu.Status = *status
	return nil
}

// release lets a deleted VpnUser go (removeFinalizer), and forgets it.
func (r *VpnUserReconciler) release(ctx context.Context, vu *vpnv1alpha1.VpnUser) error {
	if err := r.removeFinalizer(ctx, vu); err != nil {
		return err
	}
	r.mem.forget(keyOf(vu))
	logf.FromContext(ctx).Info("Released the VpnUser", "deletionPolicy", vu.Spec.DeletionPolicy,
		"managementPolicy", vu.Spec.ManagementPolicy)
	return nil
}

// markWhile adds the finalizer to vu while read runs, and takes it off again when read
// ends the reconcile (the VpnUser then has no cloud user). read must only read vu.
//
// What it saves: the first create of a VpnUser waits for both the password Secret and
// the finalizer; done one after the other they cost two API round trips before the
// create, done side by side one. On return vu is the object the finalizer patch answered
// (when that patch failed, read's outcome wins, or a Progressing one that carries the
// error).
func (r *VpnUserReconciler) markWhile(ctx context.Context, vu *vpnv1alpha1.VpnUser, read func() *outcome) *outcome {
	marked := vu.DeepCopy()
	finalizer := make(chan error, 1)
	go func() { finalizer <- r.ensureFinalizer(ctx, marked) }()
	o := read()
	if err := <-finalizer; err != nil {
		if o != nil {
			return o
		}
		return waiting(vpnv1alpha1.ReasonProgressing, "Could not add the finalizer; trying again", err)
	}
	*vu = *marked
	if o != nil {
		if err := r.removeFinalizer(ctx, vu); err != nil {
			o.err = errors.Join(o.err, err)
		}
	}
	return o
}
