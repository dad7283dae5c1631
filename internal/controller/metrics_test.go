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
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

// updateExported rewrites testdata/exported-metrics.txt (see exportedHeader).
var updateExported = flag.Bool("update", false, "rewrite testdata/exported-metrics.txt from the metrics the operator exports")

// exportedMetricsFile lists the metric names the operator's /metrics serves; the
// dashboard's and the alerts' tests check their queries against it.
const exportedMetricsFile = "testdata/exported-metrics.txt"

var _ = Describe("Metrics", func() {
	var (
		ns    string
		cloud *vpnapitest.Server
		reg   *prometheus.Registry
	)
	freshSpec(&ns, &cloud)
	BeforeEach(func() { reg = prometheus.NewRegistry() })

	It("counts the VpnUsers by Ready status and reason, and times their way to Ready", func() {
		startOperator(ns, cloud, operatorOptions{metrics: reg})
		a, b := newVpnUser(ns, "fleet-a"), newVpnUser(ns, "fleet-b")
		apply(a, goodPassword)
		apply(b, goodPassword)
		create(newVpnUser(ns, "fleet-no-secret"))
		eventuallyReady(a)
		eventuallyReady(b)

		Eventually(series(reg, "vpnuser_users")).Should(ConsistOf(
			sample{Labels: "ready=True,reason=Created", Value: 2},
			sample{Labels: "ready=False,reason=SecretNotFound", Value: 1},
		))
		Expect(series(reg, "vpnuser_user_info")()).To(BeEmpty(), "per-object series without the option")
		Eventually(timeToReadyCount(reg, "create")).Should(BeEquivalentTo(2))

		By("changing the spec of one, the password of the other")
		update(a, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.Description = "changed_by_test" })
		setPassword(b, rotatedPassword)
		Eventually(timeToReadyCount(reg, "spec")).Should(BeEquivalentTo(1))
		Eventually(timeToReadyCount(reg, "password")).Should(BeEquivalentTo(1))
		Eventually(series(reg, "vpnuser_users")).Should(ConsistOf(
			sample{Labels: "ready=True,reason=Synced", Value: 1},
			sample{Labels: "ready=True,reason=Created", Value: 1},
			sample{Labels: "ready=False,reason=SecretNotFound", Value: 1},
		))
		Expect(timeToReadyCount(reg, "create")()).To(BeEquivalentTo(2))

		By("counting the reconciles by the reason they ended with")
		Expect(series(reg, "vpnuser_reconcile_outcomes_total")()).To(ContainElements(
			HaveField("Labels", "reason=Created"),
			HaveField("Labels", "reason=Synced"),
			HaveField("Labels", "reason=SecretNotFound"),
		))

		By("reporting the oldest observation of the operator's period")
		age := func() []sample { return series(reg, "vpnuser_observation_oldest_age_seconds")() }
		Eventually(age).Should(ConsistOf(HaveField("Labels", "sync_period=1h0m0s")))
		Expect(age()[0].Value).To(And(BeNumerically(">=", 0), BeNumerically("<", 600)))
	})

	It("exports a series per VpnUser with --metrics-per-object", func() {
		startOperator(ns, cloud, operatorOptions{metrics: reg, metricsPerObject: true})
		a := newVpnUser(ns, "info-a")
		apply(a, goodPassword)
		create(newVpnUser(ns, "info-no-secret"))
		eventuallyReady(a)
		Eventually(series(reg, "vpnuser_user_info")).Should(ConsistOf(
			sample{Labels: "name=info-a,namespace=" + ns + ",ready=True,reason=Created", Value: 1},
			sample{Labels: "name=info-no-secret,namespace=" + ns + ",ready=False,reason=SecretNotFound", Value: 1},
		))
	})

	It("reports the fleet from a replica that is not the leader", func() {
		startOperator(ns, cloud, operatorOptions{metrics: reg, leaderElection: true})
		a := newVpnUser(ns, "standby-a")
		apply(a, goodPassword)
		eventuallyReady(a)
		standby := prometheus.NewRegistry()
		startOperator(ns, cloud, operatorOptions{metrics: standby, leaderElection: true})
		Eventually(series(standby, "vpnuser_users")).Should(ConsistOf(sample{Labels: "ready=True,reason=Created", Value: 1}))
		// It runs no reconcile: no memory of observations, no outcomes.
		Expect(series(standby, "vpnuser_reconcile_outcomes_total")()).To(BeEmpty())
		Expect(series(standby, "vpnuser_observation_oldest_age_seconds")()).To(BeEmpty())
	})

	It("tells the age of the oldest observation per sync period, which grows while the cloud does not answer", func() {
		const period = 2 * time.Second
		startOperator(ns, cloud, operatorOptions{metrics: reg, syncPeriod: period})
		fast := newVpnUser(ns, "fresh-a")
		apply(fast, goodPassword)
		slow := newVpnUser(ns, "fresh-b", func(vu *vpnv1alpha1.VpnUser) {
			vu.Annotations = map[string]string{vpnv1alpha1.AnnotationSyncPeriod: "30s"}
		})
		apply(slow, goodPassword)
		eventuallyReady(fast)
		eventuallyReady(slow)
		age := func(p string) func() float64 {
			return func() float64 {
				for _, s := range series(reg, "vpnuser_observation_oldest_age_seconds")() {
					if s.Labels == "sync_period="+p {
						return s.Value
					}
				}
				return -1
			}
		}
		Eventually(age("2s")).Should(BeNumerically(">=", 0))
		Eventually(age("30s")).Should(BeNumerically(">=", 0))
		By("observing every period, the age stays within a few periods")
		shows := cloud.CountCalls("show")
		Eventually(calls(cloud, "show"), 10*time.Second).Should(BeNumerically(">=", shows+2))
		Consistently(age("2s"), 3*time.Second, 100*time.Millisecond).Should(BeNumerically("<", 5*period.Seconds()))

		By("failing the reads of the cloud user")
		cloud.InjectFault(vpnapitest.Fault{Operation: "show", Times: 1_000_000, Status: 503})
		Eventually(age("2s"), 30*time.Second).Should(BeNumerically(">", 3*period.Seconds()))
	})

	It("exports the families listed in "+exportedMetricsFile, func() {
		startOperator(ns, cloud, operatorOptions{metrics: reg, metricsPerObject: true, leaderElection: true,
			cloudQPS: 5, syncPeriod: 2 * time.Second})
		// A retried read (503), a throttling of the cloud (429) and the client's own limiter,
		// so that every family of the cloud client has a series.
		cloud.InjectFault(vpnapitest.Fault{Operation: "show", Times: 1, Status: 503})
		cloud.InjectFault(vpnapitest.Fault{Operation: "create", Times: 1, Status: 429})
		var users []*vpnv1alpha1.VpnUser
		for _, name := range []string{"exp-a", "exp-b", "exp-c", "exp-d"} {
			vu := newVpnUser(ns, name)
			apply(vu, goodPassword)
			users = append(users, vu)
		}
		for _, vu := range users {
			eventuallyReady(vu)
		}
		setPassword(users[0], rotatedPassword)
		want := []string{"vpnuser_users", "vpnuser_user_info", "vpnuser_observation_oldest_age_seconds",
			"vpnuser_time_to_ready_seconds", "vpnuser_reconcile_outcomes_total",
			"vpnapi_requests_total", "vpnapi_request_duration_seconds", "vpnapi_retries_total", "vpnapi_calls_total",
			"vpnapi_rate_limit_qps", "vpnapi_rate_limit_decreases_total",
			"vpnapi_throttle_wait_seconds_total", "vpnapi_throttled_requests_total",
			"controller_runtime_reconcile_total", "controller_runtime_reconcile_errors_total", "leader_election_master_status",
			"workqueue_depth", "rest_client_requests_total", "go_goroutines", "process_resident_memory_bytes"}
		gatherers := prometheus.Gatherers{metrics.Registry, reg}
		Eventually(func() []string { return familyNames(gatherers) }, 30*time.Second).Should(ContainElements(want))

		By("showing no secret in any label")
		mfs, err := gatherers.Gather()
		Expect(err).NotTo(HaveOccurred())
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					Expect(lp.GetValue()).NotTo(Or(ContainSubstring(goodPassword), ContainSubstring(rotatedPassword),
						ContainSubstring(vpnapitest.DefaultSecretKey), ContainSubstring(vpnapitest.DefaultAccessKey)),
						"%s{%s}", mf.GetName(), lp.GetName())
				}
			}
		}

		names := exportedNames(gatherers)
		if *updateExported {
			Expect(os.MkdirAll(filepath.Dir(exportedMetricsFile), 0o755)).To(Succeed())
			Expect(os.WriteFile(exportedMetricsFile, []byte(exportedHeader+strings.Join(names, "\n")+"\n"), 0o644)).To(Succeed())
			return
		}
		listed := readExportedNames()
		// The Go runtime's metrics change with the Go version: they are listed, not checked.
		names = slices.DeleteFunc(names, func(n string) bool { return strings.HasPrefix(n, "go_") })
		Expect(listed).To(ContainElements(names), "a family is missing from %s: run go test ./internal/controller/ -ginkgo.focus exported -update", exportedMetricsFile)
		for _, n := range listed {
			if strings.HasPrefix(n, "vpnuser_") || strings.HasPrefix(n, "vpnapi_") {
				Expect(names).To(ContainElement(n), "%s lists %s, which the operator does not export", exportedMetricsFile, n)
			}
		}
	})
})

const exportedHeader = `# The metric names the operator's /metrics serves after a few reconciles: its own
# (vpnuser_*, vpnapi_*) and controller-runtime's, Go's and the process's. A histogram or
# summary is listed with its _bucket, _sum and _count series. Generated by
# KUBEBUILDER_ASSETS=$PWD/bin/k8s go test ./internal/controller/ -ginkgo.focus exported -update;
# checked by the same test without -update. One name a line; lines starting with # are
# comments.
`

// readExportedNames reads exportedMetricsFile.
func readExportedNames() []string {
	GinkgoHelper()
	data, err := os.ReadFile(exportedMetricsFile)
	Expect(err).NotTo(HaveOccurred())
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			names = append(names, line)
		}
	}
	return names
}

// familyNames are the names of the families gathered.
func familyNames(g prometheus.Gatherer) []string {
	GinkgoHelper()
	mfs, err := g.Gather()
	Expect(err).NotTo(HaveOccurred())
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	return names
}

// exportedNames are the names a query may use: each family's, and the series of its
// histograms and summaries; sorted.
func exportedNames(g prometheus.Gatherer) []string {
	GinkgoHelper()
	mfs, err := g.Gather()
	Expect(err).NotTo(HaveOccurred())
	var names []string
	for _, mf := range mfs {
		name := mf.GetName()
		names = append(names, name)
		switch mf.GetType().String() {
		case "HISTOGRAM", "GAUGE_HISTOGRAM":
			names = append(names, name+"_bucket", name+"_sum", name+"_count")
		case "SUMMARY":
			names = append(names, name+"_sum", name+"_count")
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// sample is one series of a gauge or a counter: its labels as "name=value,..." (sorted
// by name, as gathered) and its value.
type sample struct {
	Labels string
	Value  float64
}

// series gives the series of the gauge or counter name in reg.
func series(reg prometheus.Gatherer, name string) func() []sample {
	return func() []sample {
		GinkgoHelper()
		mfs, err := reg.Gather()
		Expect(err).NotTo(HaveOccurred())
		var out []sample
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				var labels []string
				for _, lp := range m.GetLabel() {
					labels = append(labels, lp.GetName()+"="+lp.GetValue())
				}
				out = append(out, sample{Labels: strings.Join(labels, ","), Value: m.GetGauge().GetValue() + m.GetCounter().GetValue()})
			}
		}
		return out
	}
}

// timeToReadyCount gives the number of observations of vpnuser_time_to_ready_seconds of
// the trigger.
func timeToReadyCount(reg prometheus.Gatherer, trigger string) func() uint64 {
	const name, labels = "vpnuser_time_to_ready_seconds", "trigger="
	return func() uint64 {
		GinkgoHelper()
		mfs, err := reg.Gather()
		Expect(err).NotTo(HaveOccurred())
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				var ls []string
				for _, lp := range m.GetLabel() {
					ls = append(ls, lp.GetName()+"="+lp.GetValue())
				}
				if strings.Join(ls, ",") == labels+trigger {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
		return 0
	}
}

// TestObservationSchedulesOldest: the age is kept per period, from the last observation
// (or the first schedule), without the VpnUsers that observe nothing or are forgotten.
func TestObservationSchedulesOldest(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newObservationSchedules(func() time.Time { return now })
	a, b, c := types.NamespacedName{Name: "a"}, types.NamespacedName{Name: "b"}, types.NamespacedName{Name: "c"}
	s.next(a, time.Minute)
	now = now.Add(10 * time.Second)
	s.next(b, time.Minute)
	s.next(c, time.Hour)
	s.observed(c, false)
	if got := s.oldest(); len(got) != 1 || !got[time.Minute].Equal(now.Add(-10*time.Second)) {
		t.Fatalf("oldest = %v; want a's first schedule for 1m, nothing for 1h", got)
	}
	now = now.Add(10 * time.Second)
	s.observed(a, true)
	if got := s.oldest()[time.Minute]; !got.Equal(now.Add(-10 * time.Second)) {
		t.Errorf("after a is observed: oldest %v; want b's first schedule", got)
	}
	s.next(b, time.Hour) // b moves to 1h, its time kept
	if got := s.oldest(); !got[time.Minute].Equal(now) || !got[time.Hour].Equal(now.Add(-10*time.Second)) {
		t.Errorf("after b moved: %v", got)
	}
	s.forget(a)
	s.forget(b)
	if got := s.oldest(); len(got) != 0 {
		t.Errorf("after forgetting: %v", got)
	}
}
