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
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/leakcheck"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

var _ = Describe("Cloud errors", func() {
	var (
		ns    string
		cloud *vpnapitest.Server
	)
	freshSpecWithOperator(&ns, &cloud, nil, operatorOptions{})

	It("waits out a throttling with Retry-After, without a hot loop", func() {
		// Retry-After 1s is longer than the client's longest back-off: it hands the 429 to
		// the reconciler, which comes back after it.
		cloud.InjectFault(vpnapitest.Fault{Operation: "create", Times: 3, Status: 429, RetryAfter: time.Second})
		vu := newVpnUser(ns, "throttled")
		start := time.Now()
		apply(vu, goodPassword)

		Eventually(eventReasons(vu)).Should(ContainElement("Warning/RateLimited"))
		eventuallyReason(vu, vpnv1alpha1.ReasonCreated)
		Expect(time.Since(start)).To(BeNumerically(">=", 2*time.Second), "each 429 is waited out")
		Expect(cloud.CountCalls("create")).To(Equal(4))
		Expect(cloudUsers(cloud)).To(HaveLen(1))
	})

	It("recovers from 5xx answers with back-off", func() {
		cloud.InjectFault(vpnapitest.Fault{Operation: "create", Times: 7, Status: 503})
		vu := newVpnUser(ns, "unavailable")
		apply(vu, goodPassword)

		Eventually(eventReasons(vu)).Should(ContainElement("Warning/CloudUnavailable"))
		got := eventuallyReady(vu)
		Expect(condition(got, vpnv1alpha1.ConditionReady).Reason).To(Equal(vpnv1alpha1.ReasonCreated))
		Expect(cloud.CountCalls("create")).To(Equal(8))
		Expect(cloudUsers(cloud)).To(HaveLen(1))
	})

	It("retries a busy server (VPN.0030) and applies the update", func() {
		vu := newVpnUser(ns, "busy-server")
		apply(vu, goodPassword)
		eventuallyReady(vu)

		cloud.InjectFault(vpnapitest.Fault{Operation: "update", Times: 5, Status: 400, Code: "VPN.0030", Message: "system busy"})
		update(vu, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.Description = "after_busy" })
		Eventually(func(g Gomega) {
			got := eventuallyReady(vu)
			g.Expect(got.Status.Description).To(Equal("after_busy"))
		}).Should(Succeed())
		Expect(cloud.CountCalls("update")).To(Equal(6))
	})

	It("keeps its calls bounded while the whole cloud is down", func() {
		vu := newVpnUser(ns, "cloud-down")
		cloud.InjectFault(vpnapitest.Fault{Times: 100000, Status: 502})
		start := time.Now()
		apply(vu, goodPassword)
		eventuallyReason(vu, vpnv1alpha1.ReasonCloudUnavailable)
		Consistently(func() string {
			return condition(fetch(vu), vpnv1alpha1.ConditionReady).Reason
		}, 3*time.Second).Should(Equal(vpnv1alpha1.ReasonCloudUnavailable))
		// Three attempts per reconcile, reconciles backing off from 50ms to 1s: about
		// 3*(7+seconds) calls; a hot loop would make thousands.
		seconds := int(time.Since(start)/time.Second) + 1
		Expect(cloud.CountCalls("")).To(BeNumerically("<=", 3*(10+seconds)))

		cloud.ClearFaults()
		eventuallyReady(vu)
		Expect(cloudUsers(cloud)).To(HaveLen(1))
	})

	It("reports refused credentials and tries again slowly", func() {
		cloud.SetCredentials(project, vpnapitest.DefaultAccessKey, "AnotherSecretKeyThanTheOperatorHas000001", "")
		vu := newVpnUser(ns, "bad-credentials")
		apply(vu, goodPassword)
		got := eventuallyReason(vu, vpnv1alpha1.ReasonCloudAuthFailed)
		Expect(condition(got, vpnv1alpha1.ConditionReady).Message).To(ContainSubstring("401"))
		Expect(condition(got, vpnv1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionTrue))
		n := cloud.CountCalls("")
		Consistently(calls(cloud, ""), 500*time.Millisecond).Should(Equal(n))

		cloud.SetCredentials(project, vpnapitest.DefaultAccessKey, vpnapitest.DefaultSecretKey, "")
		eventuallyReady(vu)
	})

	It("reports a VPN server that does not exist", func() {
		vu := newVpnUser(ns, "no-server", func(vu *vpnv1alpha1.VpnUser) {
			vu.Spec.VpnServerID = "11111111-2222-4333-8444-555555555555"
		})
		apply(vu, goodPassword)
		got := eventuallyReason(vu, vpnv1alpha1.ReasonServerNotFound)
		Expect(condition(got, vpnv1alpha1.ConditionReady).Message).To(And(ContainSubstring("404"), ContainSubstring("spec.vpnServerId")))
		Expect(condition(got, vpnv1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionTrue))

		deleteObject(vu)
		eventuallyGone(vu)
	})
})

var _ = Describe("kstatus", func() {
	It("computes Current, InProgress and Failed from the conditions", func() {
		ns, cloud := newNamespace(), newCloud()
		startOperator(ns, cloud, operatorOptions{})
		_, err := cloud.CreateUserOutOfBand(project, server, "taken", "Console-Passw0rd")
		Expect(err).NotTo(HaveOccurred())

		ready := newVpnUser(ns, "ready")
		apply(ready, goodPassword)
		waiting := newVpnUser(ns, "waiting")
		create(waiting)
		invalid := newVpnUser(ns, "invalid")
		apply(invalid, "password")
		conflict := newVpnUser(ns, "taken")
		apply(conflict, goodPassword)

		for _, c := range []struct {
			vu     *vpnv1alpha1.VpnUser
			reason string
			want   status.Status
		}{
			{ready, vpnv1alpha1.ReasonCreated, status.CurrentStatus},
			{waiting, vpnv1alpha1.ReasonSecretNotFound, status.InProgressStatus},
			{invalid, vpnv1alpha1.ReasonInvalidPassword, status.FailedStatus},
			{conflict, vpnv1alpha1.ReasonNameConflict, status.FailedStatus},
		} {
			got := eventuallyReason(c.vu, c.reason)
			res, err := status.Compute(toUnstructured(got))
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Status).To(Equal(c.want), "%s: %s", c.vu.Name, res.Message)
		}

		By("changing the spec of a ready VpnUser: InProgress until observed, then Current")
		update(ready, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.Description = "changed" })
		changed := fetch(ready)
		if changed.Status.ObservedGeneration != changed.Generation {
			res, err := status.Compute(toUnstructured(changed))
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Status).To(Equal(status.InProgressStatus))
		}
		res, err := status.Compute(toUnstructured(eventuallyReady(ready)))
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Status).To(Equal(status.CurrentStatus))
	})
})

var _ = Describe("Secrets in logs and events", func() {
	It("never shows a password or the cloud secret key, through a whole lifecycle", func() {
		ns, cloud := newNamespace(), newCloud()
		logs := &syncBuffer{}
		logger := zap.New(zap.WriteTo(logs), zap.Level(zapcore.Level(-10)), zap.UseDevMode(true))
		captureKlog(logs)
		startOperator(ns, cloud, operatorOptions{syncPeriod: time.Second, logger: &logger})

		passwords := []string{"Lifecycle-Passw0rd-1", "Lifecycle-Passw0rd-2", "short", "Lifecycle-Passw0rd-1"}
		vu := newVpnUser(ns, "secretive", func(vu *vpnv1alpha1.VpnUser) { vu.Spec.UserGroupID = vpnapitest.DefaultGroupID })
		By("creating")
		apply(vu, passwords[0])
		id := eventuallyReady(vu).Status.ID
		By("rotating the password")
		setPassword(vu, passwords[1])
		Eventually(calls(cloud, "reset_password")).Should(Equal(1))
		By("putting a weak password, then a reused one")
		setPassword(vu, passwords[2])
		eventuallyReason(vu, vpnv1alpha1.ReasonInvalidPassword)
		setPassword(vu, passwords[3])
		eventuallyReason(vu, vpnv1alpha1.ReasonPasswordRejected)
		setPassword(vu, "Lifecycle-Passw0rd-3")
		eventuallyReady(vu)
		By("drifting in the console")
		Expect(cloud.UpdateUserOutOfBand(project, server, id, ptr.To("drifted"), nil)).To(BeTrue())
		Eventually(eventReasons(vu)).Should(ContainElement("Warning/DriftCorrected"))
		By("deleting in the console")
		Expect(cloud.DeleteUserOutOfBand(project, server, id)).To(BeTrue())
		Eventually(eventReasons(vu)).Should(ContainElement("Normal/Recreated"))
		eventuallyReady(vu)
		By("deleting")
		deleteObject(vu)
		eventuallyGone(vu)

		var everything strings.Builder
		everything.WriteString(logs.String())
		for _, e := range eventsOf(vu) {
			b, err := yaml.Marshal(e)
			Expect(err).NotTo(HaveOccurred())
			everything.Write(b)
		}
		text := everything.String()
		Expect(text).To(ContainSubstring("Reset the password of the cloud user"), "the operator's logs were captured")
		Expect(text).To(ContainSubstring("/apis/vpn.huaweicloud.io/v1alpha1/namespaces/"+ns), "client-go's logs were captured")
		Expect(text).To(ContainSubstring("PasswordRejected"), "the events were captured")
		// "short" is a common word; look for it only where a value would appear.
		Expect(text).NotTo(ContainSubstring(`"short"`))
		// The others in every form a leak takes: plain, JSON-escaped, base64, and split
		// across the lines of client-go's hex dumps of bodies.
		Expect(leakcheck.Find(text, []string{passwords[0], passwords[1], "Lifecycle-Passw0rd-3", vpnapitest.DefaultSecretKey})).To(BeEmpty())
	})
})

func toUnstructured(vu *vpnv1alpha1.VpnUser) *unstructured.Unstructured {
	GinkgoHelper()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(vu)
	Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{Object: obj}
	u.SetGroupVersionKind(vpnv1alpha1.GroupVersion.WithKind("VpnUser"))
	return u
}
