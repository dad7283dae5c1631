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
	"bytes"
	"context"
	"errors"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// A create whose answer never came may have made the cloud user: it is outstanding. The
// API cannot say which create made a user, so a user of the VpnUser's name is taken for
// its own only when the cloud created it while a create was outstanding (the window). A
// create the cloud refused for good made nothing.
//
// What is outstanding is durable: the finalizer is written before a VpnUser's first
// create, and taken off again when a create is refused for good with nothing outstanding
// (so "no finalizer" means "nothing sent"); status.pendingCreate records the window of
// the creates that got no answer. A finalizer with neither an id nor a window means the
// operator stopped between sending a create and recording its outcome: the window then
// runs from when the finalizer was last written (the managedFields of the object).

// createAllowance widens a window on both sides: the cloud's clock (created_at) may be
// that far from the operator's, and a create may take effect that long after it was sent.
// Clocks that sign requests are within the API's 15 minutes of each other; NTP keeps them
// within a second. Two minutes covers a queued create and a clock a little off, and still
// keeps out a user made by someone else minutes later. A user outside it is a
// NameConflict: nothing is touched.
const createAllowance = 2 * time.Minute

// createWindow is when an outstanding create may have made the cloud user.
type createWindow struct {
	from, to time.Time
	// lastSent is when the last create of the window was sent (zero when unrecorded):
	// the cloud is eventually consistent, and a user made then may show only later.
	lastSent time.Time
}

// outstandingCreate is the window of the VpnUser's outstanding creates, nil when none.
func (r *VpnUserReconciler) outstandingCreate(ctx context.Context, vu *vpnv1alpha1.VpnUser) *createWindow {
	if vu.Status.ID != "" || !controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer) {
		return nil
	}
	if p := vu.Status.PendingCreate; p != nil {
		return &createWindow{from: p.FirstSentAt.Add(-createAllowance), to: p.LastSentAt.Add(createAllowance),
			lastSent: p.LastSentAt.Time}
	}
	// Unrecorded: a create was sent after the finalizer was added, and before now.
	return &createWindow{from: r.finalizerAddedAt(ctx, vu).Add(-createAllowance), to: time.Now().Add(createAllowance)}
}

// finalizerAddedAt is when the operator last wrote the VpnUser's finalizer, from the
// managedFields of the object as the API server holds it (the cache trims them); the
// VpnUser's creation when they do not tell.
func (r *VpnUserReconciler) finalizerAddedAt(ctx context.Context, vu *vpnv1alpha1.VpnUser) time.Time {
	at := vu.CreationTimestamp.Time
	stored := &vpnv1alpha1.VpnUser{}
	if r.APIReader == nil || r.APIReader.Get(ctx, keyOf(vu), stored) != nil || stored.UID != vu.UID {
		return at
	}
	owns := []byte(`v:\"` + vpnv1alpha1.Finalizer + `\"`)
	for _, mf := range stored.ManagedFields {
		if mf.Subresource == "" && mf.Time != nil && mf.FieldsV1 != nil && bytes.Contains(mf.FieldsV1.GetRawBytes(), owns) &&
			mf.Time.After(at) {
			at = mf.Time.Time
		}
	}
	return at
}

// contains tells whether a user created at t may have been made by the outstanding creates.
func (w *createWindow) contains(t time.Time) bool {
	return w != nil && !t.Before(w.from) && !t.After(w.to)
}

// mayStillShow tells how much longer a user made by the window's last create may take to
// show in the cloud's answers (0 when the grace has passed, or when there is no window);
// since replaces the time of the last create for an unrecorded window (zero: no wait).
func (w *createWindow) mayStillShow(now, since time.Time, grace time.Duration) time.Duration {
	if w == nil {
		return 0
	}
	anchor := w.lastSent
	if anchor.IsZero() {
		anchor = since
	}
	if anchor.IsZero() {
		return 0
	}
	return max(anchor.Add(grace).Sub(now), 0)
}

// recordPendingCreate adds the attempts of a create that got no answer (err), sent in
// project, to the window of status.pendingCreate.
func recordPendingCreate(vu *vpnv1alpha1.VpnUser, project string, err error, now time.Time) {
	vu.Status.ProjectID = project
	first, last, ok := vpnapi.AmbiguousAttempts(err)
	if !ok {
		first, last = now, now
	}
	p := vu.Status.PendingCreate
	if p == nil {
		vu.Status.PendingCreate = &vpnv1alpha1.CreateWindow{FirstSentAt: metav1.NewTime(first), LastSentAt: metav1.NewTime(last)}
		return
	}
	if first.Before(p.FirstSentAt.Time) {
		p.FirstSentAt = metav1.NewTime(first)
	}
	if last.After(p.LastSentAt.Time) {
		p.LastSentAt = metav1.NewTime(last)
	}
}

// settleNoUser records that the VpnUser has no cloud user and nothing outstanding: no
// window, and no finalizer (its deletion needs no cloud call, and a user of its name made
// later by someone else is never taken for its own).
func (r *VpnUserReconciler) settleNoUser(ctx context.Context, s *scope, o *outcome) *outcome {
	s.vu.Status.PendingCreate = nil
	if err := r.removeFinalizer(ctx, s.vu); err != nil {
		o.err, o.result = errors.Join(o.err, err), ctrl.Result{}
	}
	return o
}
