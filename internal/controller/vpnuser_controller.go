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
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/prometheus/client_golang/prometheus"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// The reconciler's files, in the order Reconcile calls them: connect.go, password.go
// (with finalizer.go), create.go, syncspec.go, password.go again (syncPassword), then
// observe.go; delete.go for a deletion. outcome.go and classify.go say how a reconcile
// ends, status.go writes it; memory.go is what is kept between reconciles.

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
	// Recorder emits the events of VpnUsers (NewEventRecorder).
	Recorder events.EventRecorder
	// SyncPeriod is how often each cloud user is read back; the reads of all users are
	// spread evenly over it. 0 means DefaultSyncPeriod. The annotation sync-period
	// overrides it for one object.
	SyncPeriod time.Duration
	// MaxConcurrentReconciles is how many VpnUsers are reconciled at once; 0 means 1.
	MaxConcurrentReconciles int
	// Retry sets the waits after failures; zero fields take DefaultRetryPolicy's.
	Retry RetryPolicy
	// AdoptionNamespaces are the namespaces whose VpnUsers may adopt an existing cloud
	// user (the annotation adopt) or take over an observed one (Observe switched to
	// Manage); nil allows every namespace.
	AdoptionNamespaces []string
	// MetricsRegistry, when set, gets the VpnUser metrics (see metrics.go); the operator
	// passes controller-runtime's metrics.Registry.
	MetricsRegistry prometheus.Registerer
	// MetricsPerObject adds vpnuser_user_info, a series per VpnUser.
	MetricsPerObject bool
	// DefaultCredentialsSource names, in messages, the keyless source of the operator's
	// own credentials (vpnapi.DescribeSource); "" means keys from the environment.
	DefaultCredentialsSource string

	// minObjectSyncPeriod is the shortest period the annotation sync-period may set;
	// 0 means MinObjectSyncPeriod (tests lower it).
	minObjectSyncPeriod time.Duration

	// metadata is the manager's cache, which holds the metadata of Secrets (the client
	// reads Secrets uncached).
	metadata client.Reader
	mem      *memory
	metrics  *reconcilerMetrics
}

// scope is what the phases of one reconcile share.
type scope struct {
	vu     *vpnv1alpha1.VpnUser
	cloud  CloudUsers
	status *statusPatcher
	// period is the object's sync period; 0 means no periodic observation.
	period time.Duration

	// Filled by the phases.
	password vpnapi.Secret
	secret   vpnv1alpha1.AppliedSecret
	user     *vpnapi.User
	created  bool
	adopted  bool
	// project is the cloud project of the credentials in use (set by connect).
	project string
	// outstanding is the window of the creates that may have made the cloud user without
	// their answer reaching the operator; nil when none.
	outstanding *createWindow
	// takeover: the cloud user was only observed so far, and is taken over now.
	takeover bool
	// turn: the reconcile comes at the turn its project's limiter gave it.
	turn bool
	// deferred: the limiter deferred a call of this reconcile to a later turn.
	deferred bool
	// listed: the server's list of users answered, without the cloud user (Observe).
	listed bool
}

// credentialsSecret is the name of the VpnUser's credentials Secret, "" for the
// operator's own credentials.
func (s *scope) credentialsSecret() string {
	if ref := s.vu.Spec.CredentialsSecretRef; ref != nil {
		return ref.Name
	}
	return ""
}

// The operator writes VpnUsers only with patches (the finalizer, the status).
// +kubebuilder:rbac:groups=vpn.huaweicloud.io,resources=vpnusers,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=vpn.huaweicloud.io,resources=vpnusers/status,verbs=get;patch
// +kubebuilder:rbac:groups=vpn.huaweicloud.io,resources=vpnusers/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile makes the cloud user of one VpnUser follow it (or, under managementPolicy
// Observe, mirrors it).
func (r *VpnUserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	vu := &vpnv1alpha1.VpnUser{}
	if err := r.Get(ctx, req.NamespacedName, vu); err != nil {
		if apierrors.IsNotFound(err) {
			r.mem.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.mem.written.behind(vu) {
		logf.FromContext(ctx).V(1).Info("The cached VpnUser is older than the operator's last write to it; looking again shortly",
			"resourceVersion", vu.ResourceVersion)
		return ctrl.Result{RequeueAfter: staleCacheRecheck}, nil
	}

	status := newStatusPatcher(r.Client, vu, r.mem.written.record)
	defer func() {
		if err := status.patch(ctx, vu); err != nil {
			// What the reconcile settled on was not recorded: the next one looks again.
			r.unsettle(vu)
			result, retErr = ctrl.Result{}, errors.Join(retErr, err)
		}
	}()

	if isPaused(vu) {
		r.unsettle(vu)
		r.reconcilePaused(vu)
		return ctrl.Result{}, nil
	}
	// At the turn its project's limiter gave it, a reconcile is served, not skipped.
	turn := r.mem.turnOf(req.NamespacedName, time.Now())
	period := r.syncPeriodOf(vu)
	if !turn {
		if result, ok := r.quiet(ctx, vu, period); ok {
			return result, nil
		}
	}
	s := &scope{vu: vu, status: status, period: period, turn: turn, outstanding: r.outstandingCreate(ctx, vu)}
	if !vu.DeletionTimestamp.IsZero() {
		result, retErr = r.reconcileDelete(ctx, s)
	} else {
		r.expectReady(ctx, vu)
		result, retErr = r.reconcileNormal(ctx, s)
	}
	// Before the status patch above: the request is handled by this reconcile, whatever
	// its outcome, unless it was deferred to its turn (it did nothing yet).
	if !s.deferred {
		recordReconcileRequest(vu)
	}
	return result, retErr
}

// reconcileNormal connects to the cloud, then runs the phases in order; the first that
// has the last word ends it. The last phase (reportManaged, or reportObserved under
// Observe) always has it.
func (r *VpnUserReconciler) reconcileNormal(ctx context.Context, s *scope) (ctrl.Result, error) {
	ctx, o := r.connect(ctx, s)
	if o != nil {
		return r.report(ctx, s, o)
	}
	phases := []func(context.Context, *scope) *outcome{
		r.claim,
		r.resolvePasswordAndMark,
		r.ensureCloudUser,
		r.syncSpec,
		r.syncPassword,
		r.reportManaged,
	}
	if isObserveOnly(s.vu) {
		phases = []func(context.Context, *scope) *outcome{
			r.findObservedUser,
			r.reportObserved,
		}
	}
	for _, phase := range phases {
		if o := phase(ctx, s); o != nil {
			return r.report(ctx, s, o)
		}
	}
	return ctrl.Result{}, nil
}

// report writes an outcome into the conditions, with a Warning event when the reason
// changes, and returns what controller-runtime needs to know.
func (r *VpnUserReconciler) report(ctx context.Context, s *scope, o *outcome) (ctrl.Result, error) {
	vu := s.vu
	if o.state == stateDeferred {
		s.deferred = true
		r.mem.turns.store(keyOf(vu), time.Now().Add(o.result.RequeueAfter))
		logf.FromContext(ctx).V(1).Info("Deferred to its turn in the project's queue", "after", o.result.RequeueAfter)
		return o.result, o.err
	}
	if o.state == stateReady && o.err == nil {
		r.settle(ctx, vu, o.result.RequeueAfter)
		r.reachedReady(vu)
	} else {
		r.unsettle(vu)
	}
	r.metrics.outcome(o.reason)
	changed := setOutcome(vu, o)
	if o.state != stateReady && changed && o.reason != vpnv1alpha1.ReasonProgressing {
		logf.FromContext(ctx).Info("VpnUser not ready", "reason", o.reason, "message", o.message)
		r.event(vu, corev1.EventTypeWarning, o.reason, actionReconcile, "%s", o.message)
	}
	return o.result, o.err
}

// reconcilePaused reports the pause and makes no cloud call, whatever the VpnUser asks for,
// its deletion included.
func (r *VpnUserReconciler) reconcilePaused(vu *vpnv1alpha1.VpnUser) {
	r.metrics.outcome(vpnv1alpha1.ReasonPaused)
	// Paused, its cloud user is not observed: it counts in no freshness.
	r.mem.schedule.forget(keyOf(vu))
	if setPaused(vu, fmt.Sprintf("Reconciliation is paused by the annotation %s: \"true\"; no cloud call is made until it is removed",
		vpnv1alpha1.AnnotationPaused)) {
		r.event(vu, corev1.EventTypeNormal, vpnv1alpha1.ReasonPaused, actionReconcile,
			"Paused: no cloud call is made until the annotation %s is removed", vpnv1alpha1.AnnotationPaused)
	}
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
	period, problem := objectSyncPeriod(value, r.SyncPeriod, cmp.Or(r.minObjectSyncPeriod, MinObjectSyncPeriod))
	key := keyOf(vu)
	if problem == "" {
		r.mem.badAnnotations.delete(key)
		return period
	}
	if last, seen := r.mem.badAnnotations.swap(key, value); !seen || last != value {
		r.event(vu, corev1.EventTypeWarning, vpnv1alpha1.ReasonInvalidAnnotation, actionReconcile, "%s", problem)
	}
	return period
}

func keyOf(vu *vpnv1alpha1.VpnUser) types.NamespacedName {
	return types.NamespacedName{Namespace: vu.Namespace, Name: vu.Name}
}

func isObserveOnly(vu *vpnv1alpha1.VpnUser) bool {
	return vu.Spec.ManagementPolicy == vpnv1alpha1.ManagementPolicyObserve
}

func isPaused(vu *vpnv1alpha1.VpnUser) bool {
	return vu.Annotations[vpnv1alpha1.AnnotationPaused] == annotationEnabled
}

// annotationEnabled is the value that turns the annotations adopt and paused on.
const annotationEnabled = "true"
