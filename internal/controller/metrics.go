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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
)

// The metrics of the VpnUsers. The state of the fleet (vpnuser_users, and
// vpnuser_user_info behind --metrics-per-object) is computed at each scrape from the
// manager's cache, not counted by hand, so it is right after a restart or a leader
// change, on every replica. The freshness and the time to Ready come from the reconciler's
// memory (the leader's), the outcomes from its reconciles. No label value comes from a
// user, except namespace and name in vpnuser_user_info.

// Triggers of vpnuser_time_to_ready_seconds.
const (
	triggerCreate   = "create"
	triggerSpec     = "spec"
	triggerPassword = "password"
)

// Labels of the state of a VpnUser.
const (
	labelReady  = "ready"
	labelReason = "reason"
)

// timeToReadyBuckets are the buckets of vpnuser_time_to_ready_seconds.
var timeToReadyBuckets = []float64{0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600}

// scrapeTimeout bounds the read of the cache at a scrape.
const scrapeTimeout = 5 * time.Second

var (
	usersDesc = prometheus.NewDesc("vpnuser_users",
		`VpnUsers by the status ("True", "False", "Unknown": also when there is no Ready condition yet, with reason "") and the reason of their Ready condition.`,
		[]string{labelReady, labelReason}, nil)
	userInfoDesc = prometheus.NewDesc("vpnuser_user_info",
		"1 for each VpnUser, with the status and the reason of its Ready condition (only with --metrics-per-object).",
		[]string{"namespace", "name", labelReady, labelReason}, nil)
	oldestObservationDesc = prometheus.NewDesc("vpnuser_observation_oldest_age_seconds",
		"Age of the oldest last successful observation of a cloud user (the cloud's answer), among the VpnUsers observed periodically, "+
			"by sync period; since the start of the operator for a VpnUser not read back since.",
		[]string{"sync_period"}, nil)
)

// reconcilerMetrics are the metrics of one reconciler. A nil *reconcilerMetrics records
// nothing.
type reconcilerMetrics struct {
	timeToReady *prometheus.HistogramVec
	outcomes    *prometheus.CounterVec
}

func newReconcilerMetrics() *reconcilerMetrics {
	return &reconcilerMetrics{
		timeToReady: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vpnuser_time_to_ready_seconds",
			Help: "Time from the creation of a VpnUser (trigger create), a change of its spec (spec) or of its password Secret " +
				"(password) to the Ready condition it leads to, in seconds.",
			Buckets: timeToReadyBuckets,
		}, []string{"trigger"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnuser_reconcile_outcomes_total",
			Help: "Reconciles of VpnUsers by the reason of the Ready condition they ended with.",
		}, []string{labelReason}),
	}
}

func (m *reconcilerMetrics) outcome(reason string) {
	if m != nil {
		m.outcomes.WithLabelValues(reason).Inc()
	}
}

// register registers the metrics of r with reg: its own, and the collector of the fleet
// that reads cache.
func (r *VpnUserReconciler) registerMetrics(reg prometheus.Registerer, cache client.Reader) error {
	for _, c := range []prometheus.Collector{r.metrics.timeToReady, r.metrics.outcomes,
		&fleetCollector{cache: cache, perObject: r.MetricsPerObject, mem: r.mem}} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// expectReady records, for a reconcile with something to do, what started the VpnUser's
// way to Ready, if nothing did before: its creation (its status tells of no cloud user
// yet), a new generation of its spec, or a new version of its password Secret, since it
// was Ready. The time of the creation is the object's; the others are when the reconciler
// first saw them (after a restart, a change made while the operator was down counts from
// the restart).
func (r *VpnUserReconciler) expectReady(ctx context.Context, vu *vpnv1alpha1.VpnUser) {
	key := keyOf(vu)
	if _, ok := r.mem.readyFrom.load(key); ok {
		return
	}
	previous := readyCondition(vu)
	trigger := readyTrigger{at: time.Now()}
	switch {
	case previous.Status != metav1.ConditionTrue && (previous.Type == "" || vu.Status.ID == ""):
		trigger.kind, trigger.at = triggerCreate, vu.CreationTimestamp.Time
	case previous.Status != metav1.ConditionTrue:
		return // it was Ready, then failed: no change of the user's leads to the next Ready
	case previous.ObservedGeneration != vu.Generation:
		trigger.kind = triggerSpec
	case r.passwordSecretChanged(ctx, vu):
		trigger.kind = triggerPassword
	default:
		return
	}
	r.mem.readyFrom.store(key, trigger)
}

// readyTrigger is what started a VpnUser's way to Ready, and when.
type readyTrigger struct {
	kind string
	at   time.Time
}

// reachedReady observes the time to Ready of a VpnUser that a reconcile leaves Ready.
func (r *VpnUserReconciler) reachedReady(vu *vpnv1alpha1.VpnUser) {
	t, ok := r.mem.readyFrom.loadAndDelete(keyOf(vu))
	if !ok || r.metrics == nil {
		return
	}
	r.metrics.timeToReady.WithLabelValues(t.kind).Observe(max(time.Since(t.at).Seconds(), 0))
}

// passwordSecretChanged tells whether the password Secret of a managed VpnUser is not the
// version last applied (in the metadata cache).
func (r *VpnUserReconciler) passwordSecretChanged(ctx context.Context, vu *vpnv1alpha1.VpnUser) bool {
	applied := vu.Status.AppliedPasswordSecret
	if isObserveOnly(vu) || applied == nil || r.metadata == nil {
		return false
	}
	secret := secretMetadata()
	if r.metadata.Get(ctx, client.ObjectKey{Namespace: vu.Namespace, Name: vu.Spec.PasswordSecretRef.Name}, secret) != nil {
		return false
	}
	return applied.Name != vu.Spec.PasswordSecretRef.Name || applied.UID != string(secret.UID) ||
		applied.ResourceVersion != secret.ResourceVersion
}

// fleetCollector computes the state of the fleet from the cache at each scrape, and the
// freshness of the observations from the reconciler's memory.
type fleetCollector struct {
	cache     client.Reader
	perObject bool
	mem       *memory
}

var _ prometheus.Collector = (*fleetCollector)(nil)

// Describe implements prometheus.Collector.
func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- usersDesc
	if c.perObject {
		ch <- userInfoDesc
	}
	ch <- oldestObservationDesc
}

// Collect implements prometheus.Collector.
func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for period, at := range c.mem.schedule.oldest() {
		ch <- prometheus.MustNewConstMetric(oldestObservationDesc, prometheus.GaugeValue,
			max(now.Sub(at).Seconds(), 0), period.String())
	}

	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	list := &vpnv1alpha1.VpnUserList{}
	// The objects are only read: no copy of the whole cache at each scrape.
	if err := c.cache.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		logf.FromContext(ctx).V(1).Info("No VpnUser metrics: the cache cannot be read", "error", err.Error())
		return
	}
	type state struct{ ready, reason string }
	counts := map[state]int{}
	for i := range list.Items {
		vu := &list.Items[i]
		st := state{ready: string(metav1.ConditionUnknown)}
		if cond := meta.FindStatusCondition(vu.Status.Conditions, vpnv1alpha1.ConditionReady); cond != nil {
			st = state{ready: string(cond.Status), reason: cond.Reason}
		}
		counts[st]++
		if c.perObject {
			ch <- prometheus.MustNewConstMetric(userInfoDesc, prometheus.GaugeValue, 1, vu.Namespace, vu.Name, st.ready, st.reason)
		}
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(usersDesc, prometheus.GaugeValue, float64(n), st.ready, st.reason)
	}
}
