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
	"sync"
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
	// spread evenly over it. 0 means DefaultSyncPeriod. The annotation sync-period
	// overrides it for one object.
	SyncPeriod time.Duration
	// MaxConcurrentReconciles is how many VpnUsers are reconciled at once; 0 means 1.
	MaxConcurrentReconciles int
	// Retry sets the waits after failures; zero fields take DefaultRetryPolicy's.
	Retry RetryPolicy

	// minObjectSyncPeriod is the shortest period the annotation sync-period may set;
	// 0 means MinObjectSyncPeriod (tests lower it).
	minObjectSyncPeriod time.Duration

	// metadata is the manager's cache, which holds the metadata of Secrets (the client
	// reads Secrets uncached).
	metadata    client.Reader
	schedule    *observationSchedules
	passwords   *passwordMemory
	written     *ownWrites
	secretReads secretReads
	// badAnnotations holds, per VpnUser, the unusable sync-period value last reported, so
	// that each bad value gets one event rather than one per reconcile.
	badAnnotations sync.Map
}

// scope is what the phases of one reconcile share.
type scope struct {
	vu     *vpnv1alpha1.VpnUser
	cloud  VPNUsers
	status *statusPatcher
	// period is the object's sync period; 0 means no periodic observation.
	period time.Duration

	// Filled by the phases.
	password vpnapi.Secret
	secret   vpnv1alpha1.AppliedSecret
	user     *vpnapi.User
	created  bool
	adopted  bool
	// createMayHaveBeenSent: the VpnUser had the finalizer but no cloud user id when the
	// reconcile began, so an earlier create may have made its user and lost the answer.
	createMayHaveBeenSent bool
}

// credentialsSecret is the name of the VpnUser's credentials Secret, "" for the
// operator's own credentials.
func (s *scope) credentialsSecret() string {
	if ref := s.vu.Spec.CredentialsSecretRef; ref != nil {
		return ref.Name
	}
	return ""
}

// +kubebuilder:rbac:groups=vpn.huaweicloud.io,resources=vpnusers,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=vpn.huaweicloud.io,resources=vpnusers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=vpn.huaweicloud.io,resources=vpnusers/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile makes the cloud user of one VpnUser follow it (or, under managementPolicy
// Observe, mirrors it).
func (r *VpnUserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	vu := &vpnv1alpha1.VpnUser{}
	if err := r.Get(ctx, req.NamespacedName, vu); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName, "")
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.written.behind(vu) {
		logf.FromContext(ctx).V(1).Info("The cached VpnUser is older than the operator's last write to it; looking again shortly",
			"resourceVersion", vu.ResourceVersion)
		return ctrl.Result{RequeueAfter: staleCacheRecheck}, nil
	}

	status := newStatusPatcher(r.Client, vu, r.written.record)
	defer func() {
		if err := status.patch(ctx, vu); err != nil {
			result, retErr = ctrl.Result{}, errors.Join(retErr, err)
		}
	}()

	if isPaused(vu) {
		r.reconcilePaused(vu)
		return ctrl.Result{}, nil
	}
	// Runs before the status patch above: the request is handled by this reconcile,
	// whatever its outcome.
	defer recordReconcileRequest(vu)
	s := &scope{vu: vu, status: status, period: r.syncPeriodOf(vu)}
	if !vu.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	return r.reconcileNormal(ctx, s)
}

// reconcileNormal runs the phases in order; the first that has the last word ends it.
// observe (mirror, under Observe) always has it.
func (r *VpnUserReconciler) reconcileNormal(ctx context.Context, s *scope) (ctrl.Result, error) {
	// A finalizer without an id: a create may have been sent whose answer never came.
	s.createMayHaveBeenSent = s.vu.Status.ID == "" && controllerutil.ContainsFinalizer(s.vu, vpnv1alpha1.Finalizer)
	phases := []func(context.Context, *scope) *outcome{
		r.connect,
		r.resolvePasswordAndMark,
		r.ensureCloudUser,
		r.syncSpec,
		r.syncPassword,
		r.observe,
	}
	if isObserveOnly(s.vu) {
		phases = []func(context.Context, *scope) *outcome{
			r.connect,
			r.findObservedUser,
			r.mirror,
		}
	}
	for _, phase := range phases {
		if o := phase(ctx, s); o != nil {
			return r.report(ctx, s.vu, o)
		}
	}
	return ctrl.Result{}, nil
}

// reconcileDelete deletes the cloud user (or leaves it, with deletionPolicy Orphan or
// managementPolicy Observe), then lets the VpnUser go. A failure keeps the finalizer and
// says why in the conditions.
//
// The finalizer is added just before the first cloud write that can give the VpnUser a
// cloud user (see ensureCloudUser): a VpnUser without it has none, and goes at once. One
// with it but without a recorded id may have sent a create whose answer never came:
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
	default:
		if o := r.connect(ctx, s); o != nil {
			return r.report(ctx, vu, withDeletionHint(o))
		}
		if o := r.deleteCloudUser(ctx, s); o != nil {
			return r.report(ctx, vu, withDeletionHint(o))
		}
	}
	return ctrl.Result{}, r.removeFinalizer(ctx, vu)
}

// connect gets the cloud client of the VpnUser's credentials. Missing credentials cost no
// cloud call; the credentials Secret is watched, so its arrival reconciles again.
func (r *VpnUserReconciler) connect(ctx context.Context, s *scope) *outcome {
	cloud, err := r.Clouds.ClientFor(ctx, s.vu)
	if err != nil {
		if e, ok := asCredentialsNotFound(err); ok {
			return &outcome{state: stateWaiting, reason: vpnv1alpha1.ReasonCredentialsNotFound, message: e.Message}
		}
		return &outcome{state: stateWaiting, reason: vpnv1alpha1.ReasonProgressing,
			message: fmt.Sprintf("Could not get the cloud client: %v", err), err: fmt.Errorf("getting the cloud client: %w", err)}
	}
	s.cloud = cloud
	return nil
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

// recordReconcileRequest records the value of the annotation reconcile-requested-at that
// this reconcile handled (Flux's convention: kubectl wait can then wait for it).
func recordReconcileRequest(vu *vpnv1alpha1.VpnUser) {
	if v, ok := vu.Annotations[vpnv1alpha1.AnnotationReconcileRequestedAt]; ok {
		vu.Status.LastHandledReconcileAt = v
	}
}

// syncPeriodOf is the object's sync period: the annotation sync-period when it holds a
// usable value, else the operator's. A value it cannot use gets one Warning event.
func (r *VpnUserReconciler) syncPeriodOf(vu *vpnv1alpha1.VpnUser) time.Duration {
	value := vu.Annotations[vpnv1alpha1.AnnotationSyncPeriod]
	period, problem := objectSyncPeriod(value, r.SyncPeriod, orDefault(r.minObjectSyncPeriod, MinObjectSyncPeriod))
	key := types.NamespacedName{Namespace: vu.Namespace, Name: vu.Name}
	if problem == "" {
		r.badAnnotations.Delete(key)
		return period
	}
	if last, seen := r.badAnnotations.Swap(key, value); !seen || last != value {
		r.event(vu, corev1.EventTypeWarning, vpnv1alpha1.ReasonInvalidAnnotation, actionReconcile, "%s", problem)
	}
	return period
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

// ensureFinalizer adds the finalizer: from then on the VpnUser may have a cloud user, and
// its deletion is the operator's to finish.
func (r *VpnUserReconciler) ensureFinalizer(ctx context.Context, vu *vpnv1alpha1.VpnUser) error {
	if controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer) {
		return nil
	}
	base := vu.DeepCopy()
	controllerutil.AddFinalizer(vu, vpnv1alpha1.Finalizer)
	if err := r.Patch(ctx, vu, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("adding the finalizer: %w", err)
	}
	r.written.record(vu)
	return nil
}

// dropFinalizer removes the finalizer of a VpnUser that has, as far as the cloud's answers
// tell, no cloud user of its own.
func (r *VpnUserReconciler) dropFinalizer(ctx context.Context, vu *vpnv1alpha1.VpnUser) error {
	if !controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer) {
		return nil
	}
	base := vu.DeepCopy()
	controllerutil.RemoveFinalizer(vu, vpnv1alpha1.Finalizer)
	if err := r.Patch(ctx, vu, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("removing the finalizer: %w", err))
	}
	r.written.record(vu)
	return nil
}

// removeFinalizer lets a deleted VpnUser go, and forgets it.
func (r *VpnUserReconciler) removeFinalizer(ctx context.Context, vu *vpnv1alpha1.VpnUser) error {
	if err := r.dropFinalizer(ctx, vu); err != nil {
		return err
	}
	r.forget(types.NamespacedName{Namespace: vu.Namespace, Name: vu.Name}, vu.UID)
	logf.FromContext(ctx).Info("Released the VpnUser", "deletionPolicy", vu.Spec.DeletionPolicy,
		"managementPolicy", vu.Spec.ManagementPolicy)
	return nil
}

// forget drops what the reconciler keeps in memory about a VpnUser that is gone.
func (r *VpnUserReconciler) forget(key types.NamespacedName, uid types.UID) {
	r.schedule.forget(key)
	r.written.forget(key)
	r.secretReads.forget(key)
	r.badAnnotations.Delete(key)
	if uid != "" {
		r.passwords.forget(uid)
	}
}

func isObserveOnly(vu *vpnv1alpha1.VpnUser) bool {
	return vu.Spec.ManagementPolicy == vpnv1alpha1.ManagementPolicyObserve
}

func isPaused(vu *vpnv1alpha1.VpnUser) bool {
	return vu.Annotations[vpnv1alpha1.AnnotationPaused] == annotationEnabled
}

// annotationEnabled is the value that turns the annotations adopt and paused on.
const annotationEnabled = "true"

// SetupWithManager registers the reconciler with mgr: it watches VpnUsers (their spec,
// annotations and deletion, not their status) and the metadata of Secrets, indexed back
// to the VpnUsers that use them for their password or their credentials.
func (r *VpnUserReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.SyncPeriod <= 0 {
		r.SyncPeriod = DefaultSyncPeriod
	}
	r.metadata = mgr.GetCache()
	r.schedule = newObservationSchedules(time.Now)
	r.written = newOwnWrites(time.Now)
	passwords, err := newPasswordMemory()
	if err != nil {
		return err
	}
	r.passwords = passwords
	retry := r.Retry.withDefaults()

	if err := mgr.GetFieldIndexer().IndexField(ctx, &vpnv1alpha1.VpnUser{}, passwordSecretField, indexPasswordSecret); err != nil {
		return fmt.Errorf("indexing VpnUsers by password Secret: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &vpnv1alpha1.VpnUser{}, credentialsSecretField, indexCredentialsSecret); err != nil {
		return fmt.Errorf("indexing VpnUsers by credentials Secret: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&vpnv1alpha1.VpnUser{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{},
			predicate.AnnotationChangedPredicate{},
			deletionStarted))).
		WatchesMetadata(&corev1.Secret{}, r.secretHandler(),
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
