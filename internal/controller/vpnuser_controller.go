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
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// DefaultSyncPeriod is how often each cloud user is read back when nothing else happens.
const DefaultSyncPeriod = 10 * time.Minute

// VpnUserReconciler makes the users of Huawei Cloud P2C VPN servers follow VpnUser objects.
type VpnUserReconciler struct {
	// Client reads VpnUsers from the manager's cache and writes them.
	client.Client
	// APIReader reads password Secrets straight from the API server (mgr.GetAPIReader()),
	// so that no Secret data is ever cached.
	APIReader client.Reader
	// Clouds gives the cloud client that serves a VpnUser.
	Clouds CloudClients
	// Recorder emits the events of VpnUsers (mgr.GetEventRecorder).
	Recorder events.EventRecorder
	// SyncPeriod is how often each cloud user is read back; the reads of all users are
	// spread evenly over it. 0 means DefaultSyncPeriod.
	SyncPeriod time.Duration
	// MaxConcurrentReconciles is how many VpnUsers are reconciled at once; 0 means 1.
	MaxConcurrentReconciles int
	// Retry sets the waits after failures; zero fields take DefaultRetryPolicy's.
	Retry RetryPolicy

	schedule *observationSchedule
}

// scope is what the phases of one reconcile share.
type scope struct {
	vu     *vpnv1alpha1.VpnUser
	cloud  VPNUsers
	status *statusPatcher

	// Filled by the phases.
	password vpnapi.Secret
	secret   vpnv1alpha1.AppliedSecret
	user     *vpnapi.User
	created  bool
	adopted  bool
}

// +kubebuilder:rbac:groups=vpn.huaweicloud.io,resources=vpnusers,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=vpn.huaweicloud.io,resources=vpnusers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=vpn.huaweicloud.io,resources=vpnusers/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile makes the cloud user of one VpnUser follow it.
func (r *VpnUserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	vu := &vpnv1alpha1.VpnUser{}
	if err := r.Get(ctx, req.NamespacedName, vu); err != nil {
		if apierrors.IsNotFound(err) {
			r.schedule.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}

	status := newStatusPatcher(r.Client, vu)
	defer func() {
		if err := status.patch(ctx, vu); err != nil {
			result, retErr = ctrl.Result{}, errors.Join(retErr, err)
		}
	}()

	if isPaused(vu) {
		r.reconcilePaused(vu)
		return ctrl.Result{}, nil
	}
	cloud, err := r.Clouds.ClientFor(ctx, vu)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("getting the cloud client: %w", err)
	}
	s := &scope{vu: vu, cloud: cloud, status: status}
	if !vu.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	if err := r.ensureFinalizer(ctx, vu); err != nil {
		return ctrl.Result{}, err
	}
	return r.reconcileNormal(ctx, s)
}

// reconcileNormal runs the phases in order; the first that has the last word ends it.
// observe always has it.
func (r *VpnUserReconciler) reconcileNormal(ctx context.Context, s *scope) (ctrl.Result, error) {
	for _, phase := range []func(context.Context, *scope) *outcome{
		r.resolvePassword,
		r.ensureCloudUser,
		r.syncSpec,
		r.syncPassword,
		r.observe,
	} {
		if o := phase(ctx, s); o != nil {
			return r.report(ctx, s.vu, o)
		}
	}
	return ctrl.Result{}, nil
}

// reconcileDelete deletes the cloud user (or leaves it, with deletionPolicy Orphan), then
// lets the VpnUser go. A failure keeps the finalizer and says why in the conditions.
func (r *VpnUserReconciler) reconcileDelete(ctx context.Context, s *scope) (ctrl.Result, error) {
	vu := s.vu
	if !controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if vu.Spec.DeletionPolicy == vpnv1alpha1.DeletionPolicyOrphan {
		if vu.Status.ID != "" {
			r.event(vu, corev1.EventTypeNormal, eventOrphaned, actionDelete,
				"Left the cloud user %q (%s) in place, as spec.deletionPolicy is Orphan", vu.CloudUserName(), vu.Status.ID)
		}
	} else if o := r.deleteCloudUser(ctx, s); o != nil {
		return r.report(ctx, vu, o)
	}
	return ctrl.Result{}, r.removeFinalizer(ctx, vu)
}

// reconcilePaused reports the pause and makes no cloud call, whatever the VpnUser asks for,
// its deletion included.
func (r *VpnUserReconciler) reconcilePaused(vu *vpnv1alpha1.VpnUser) {
	if readyCondition(vu).Reason != vpnv1alpha1.ReasonPaused {
		r.event(vu, corev1.EventTypeNormal, vpnv1alpha1.ReasonPaused, actionReconcile,
			"Paused: no cloud call is made until the annotation %s is removed", vpnv1alpha1.AnnotationPaused)
	}
	setPaused(vu, fmt.Sprintf("Reconciliation is paused by the annotation %s: \"true\"; no cloud call is made until it is removed",
		vpnv1alpha1.AnnotationPaused))
}

// report writes an outcome into the conditions, with a Warning event when the reason
// changes, and returns what controller-runtime needs to know.
func (r *VpnUserReconciler) report(ctx context.Context, vu *vpnv1alpha1.VpnUser, o *outcome) (ctrl.Result, error) {
	previous := readyCondition(vu)
	switch o.state {
	case stateReady:
		setReady(vu, o.reason, o.message)
		vu.Status.ObservedGeneration = vu.Generation
	case stateWaiting:
		setWaiting(vu, o.reason, o.message)
	case stateStalled:
		setStalled(vu, o.reason, o.message)
		vu.Status.ObservedGeneration = vu.Generation
	}
	if o.state != stateReady && previous.Reason != o.reason && o.reason != vpnv1alpha1.ReasonProgressing {
		logf.FromContext(ctx).Info("VpnUser not ready", "reason", o.reason, "message", o.message)
		r.event(vu, corev1.EventTypeWarning, o.reason, actionReconcile, "%s", o.message)
	}
	return o.result, o.err
}

func (r *VpnUserReconciler) ensureFinalizer(ctx context.Context, vu *vpnv1alpha1.VpnUser) error {
	if controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer) {
		return nil
	}
	base := vu.DeepCopy()
	controllerutil.AddFinalizer(vu, vpnv1alpha1.Finalizer)
	if err := r.Patch(ctx, vu, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("adding the finalizer: %w", err)
	}
	return nil
}

func (r *VpnUserReconciler) removeFinalizer(ctx context.Context, vu *vpnv1alpha1.VpnUser) error {
	base := vu.DeepCopy()
	controllerutil.RemoveFinalizer(vu, vpnv1alpha1.Finalizer)
	if err := r.Patch(ctx, vu, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("removing the finalizer: %w", err))
	}
	r.schedule.forget(types.NamespacedName{Namespace: vu.Namespace, Name: vu.Name})
	logf.FromContext(ctx).Info("Released the VpnUser", "deletionPolicy", vu.Spec.DeletionPolicy)
	return nil
}

func isPaused(vu *vpnv1alpha1.VpnUser) bool {
	return vu.Annotations[vpnv1alpha1.AnnotationPaused] == annotationEnabled
}

// annotationEnabled is the value that turns the annotations adopt and paused on.
const annotationEnabled = "true"

// SetupWithManager registers the reconciler with mgr: it watches VpnUsers (their spec,
// annotations and deletion, not their status) and the metadata of Secrets, indexed back
// to the VpnUsers that use them.
func (r *VpnUserReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.SyncPeriod <= 0 {
		r.SyncPeriod = DefaultSyncPeriod
	}
	r.schedule = newObservationSchedule(r.SyncPeriod, time.Now)
	retry := r.Retry.withDefaults()

	if err := mgr.GetFieldIndexer().IndexField(ctx, &vpnv1alpha1.VpnUser{}, passwordSecretField, indexPasswordSecret); err != nil {
		return fmt.Errorf("indexing VpnUsers by password Secret: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&vpnv1alpha1.VpnUser{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{},
			predicate.AnnotationChangedPredicate{},
			deletionStarted))).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.vpnUsersForSecret),
			builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1),
			RateLimiter: workqueue.NewTypedMaxOfRateLimiter(
				workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](retry.BaseDelay, retry.MaxDelay),
				&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
			),
		}).
		Named("vpnuser").
		Complete(r)
}

// deletionStarted passes the update that sets a VpnUser's deletionTimestamp.
var deletionStarted = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero()
	},
}
