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

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
)

// statusWriteTimeout bounds a status patch. The patch runs even when the reconcile's
// context is cancelled (the manager stopping), so that a cloud user id just learnt is
// recorded rather than lost.
const statusWriteTimeout = 10 * time.Second

// statusPatcher writes the status of one VpnUser with a merge patch of what changed since
// it was last read or written, and nothing at all when nothing changed.
type statusPatcher struct {
	client client.Client
	base   vpnv1alpha1.VpnUserStatus
	// wrote is told of each write, with the object as the API server answered it.
	wrote func(*vpnv1alpha1.VpnUser)
}

func newStatusPatcher(c client.Client, vu *vpnv1alpha1.VpnUser, wrote func(*vpnv1alpha1.VpnUser)) *statusPatcher {
	return &statusPatcher{client: c, base: *vu.Status.DeepCopy(), wrote: wrote}
}

// patch writes vu.Status if it differs from what the API server holds. A VpnUser that is
// gone (its finalizer just removed) has no status left to write.
func (p *statusPatcher) patch(ctx context.Context, vu *vpnv1alpha1.VpnUser) error {
	if equality.Semantic.DeepEqual(p.base, vu.Status) {
		return nil
	}
	// Diff the status only: metadata and spec of the base are the object's own.
	before := vu.DeepCopy()
	before.Status = *p.base.DeepCopy()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusWriteTimeout)
	defer cancel()
	if err := p.client.Status().Patch(ctx, vu, client.MergeFrom(before)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("writing the status of VpnUser %s/%s: %w", vu.Namespace, vu.Name, err)
	}
	p.base = *vu.Status.DeepCopy()
	if p.wrote != nil {
		p.wrote(vu)
	}
	return nil
}

// The conditions are the operator's output: what a reconcile did, as kstatus reads it.
// No reason decides what the operator does. The functions below read the Ready condition
// only to keep what it says stable (no write for an unchanged outcome), to announce a
// change once, and (publishedReady) to tell whether the output is already what a
// reconcile would write, so that one may be skipped (see quiet.go).

// setOutcome sets the conditions for o: Ready (Current), waiting for something that will
// come by itself (InProgress), or stalled until a person changes something (Failed). It
// reports whether the reason of Ready changed.
func setOutcome(vu *vpnv1alpha1.VpnUser, o *outcome) (changed bool) {
	previous := readyCondition(vu)
	message := o.message
	if o.keepMessage && previous.Reason == o.reason {
		message = previous.Message
	}
	switch o.state {
	case stateReady:
		setConditions(vu, metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionFalse, o.reason, message)
		vu.Status.ObservedGeneration = vu.Generation
	case stateWaiting:
		setConditions(vu, metav1.ConditionFalse, metav1.ConditionTrue, metav1.ConditionFalse, o.reason, message)
	case stateStalled:
		setConditions(vu, metav1.ConditionFalse, metav1.ConditionFalse, metav1.ConditionTrue, o.reason, message)
		vu.Status.ObservedGeneration = vu.Generation
	}
	return previous.Reason != o.reason
}

// setPaused says that nothing happens, on purpose: neither in progress nor failed. It
// reports whether the VpnUser was not paused before.
func setPaused(vu *vpnv1alpha1.VpnUser, message string) (changed bool) {
	previous := readyCondition(vu)
	setConditions(vu, metav1.ConditionFalse, metav1.ConditionFalse, metav1.ConditionFalse, vpnv1alpha1.ReasonPaused, message)
	return previous.Reason != vpnv1alpha1.ReasonPaused
}

// lastingReadyReason is the reason of a Ready condition that reports an observation
// without change: Created and Adopted stay until the spec changes (they tell the last
// thing the operator did), else reason.
func lastingReadyReason(vu *vpnv1alpha1.VpnUser, reason string) string {
	previous := readyCondition(vu)
	if previous.Status == metav1.ConditionTrue && previous.ObservedGeneration == vu.Generation &&
		(previous.Reason == vpnv1alpha1.ReasonCreated || previous.Reason == vpnv1alpha1.ReasonAdopted) {
		return previous.Reason
	}
	return reason
}

func setConditions(vu *vpnv1alpha1.VpnUser, ready, reconciling, stalled metav1.ConditionStatus, reason, message string) {
	for _, c := range []struct {
		typ    string
		status metav1.ConditionStatus
	}{
		{vpnv1alpha1.ConditionReady, ready},
		{vpnv1alpha1.ConditionReconciling, reconciling},
		{vpnv1alpha1.ConditionStalled, stalled},
	} {
		meta.SetStatusCondition(&vu.Status.Conditions, metav1.Condition{
			Type:               c.typ,
			Status:             c.status,
			ObservedGeneration: vu.Generation,
			Reason:             reason,
			Message:            message,
		})
	}
}

// publishedReady tells whether the status already says Ready for the current generation.
func publishedReady(vu *vpnv1alpha1.VpnUser) bool {
	c := readyCondition(vu)
	return c.Status == metav1.ConditionTrue && c.ObservedGeneration == vu.Generation
}

// readyCondition returns the Ready condition, or an empty one when there is none yet.
func readyCondition(vu *vpnv1alpha1.VpnUser) metav1.Condition {
	if c := meta.FindStatusCondition(vu.Status.Conditions, vpnv1alpha1.ConditionReady); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// cloudTime converts a time of the cloud to the precision the API server keeps (seconds),
// so that reading the same cloud user again compares equal and writes nothing.
func cloudTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}
