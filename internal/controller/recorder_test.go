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
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes/scheme"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
)

var _ = Describe("EventRecorder", func() {
	var (
		recorder *EventRecorder
		vu       *vpnv1alpha1.VpnUser
	)
	BeforeEach(func() {
		c, err := eventsv1client.NewForConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
		recorder = newEventRecorder(c, scheme.Scheme, "vpnuser-controller")
		suffix := rand.String(8)
		vu = &vpnv1alpha1.VpnUser{ObjectMeta: metav1.ObjectMeta{
			Namespace: "default", Name: "recorded-" + suffix, UID: types.UID("uid-" + suffix),
		}}
	})

	It("writes events.k8s.io/v1 Events as client-go's recorder does", func(ctx SpecContext) {
		done := make(chan error)
		go func() { done <- recorder.Start(ctx) }()
		recorder.Eventf(vu, nil, corev1.EventTypeWarning, "SecretNotFound", actionReconcile, "Secret %q not found", "pw")

		var list eventsv1.EventList
		Eventually(func() []eventsv1.Event {
			Expect(k8sClient.List(ctx, &list, client.InNamespace("default"))).To(Succeed())
			var mine []eventsv1.Event
			for _, e := range list.Items {
				if e.Regarding.UID == vu.UID {
					mine = append(mine, e)
				}
			}
			return mine
		}).Should(ConsistOf(SatisfyAll(
			HaveField("Type", corev1.EventTypeWarning),
			HaveField("Reason", "SecretNotFound"),
			HaveField("Action", actionReconcile),
			HaveField("Note", `Secret "pw" not found`),
			HaveField("ReportingController", "vpnuser-controller"),
			HaveField("ReportingInstance", HavePrefix("vpnuser-controller-")),
			HaveField("Regarding.Kind", "VpnUser"),
			HaveField("Regarding.Name", vu.Name),
			HaveField("Series", BeNil()),
		)))
	})

	It("writes a burst larger than the API server takes at once, and keeps nothing once written", func(ctx SpecContext) {
		go func() { _ = recorder.Start(ctx) }()
		const burst = 300
		for i := range burst {
			recorder.Eventf(vu, nil, corev1.EventTypeNormal, eventCreated, actionCreate, "created %d", i)
		}
		Eventually(func() int {
			var list eventsv1.EventList
			Expect(k8sClient.List(ctx, &list, client.InNamespace("default"))).To(Succeed())
			n := 0
			for _, e := range list.Items {
				if e.Regarding.UID == vu.UID {
					n++
				}
			}
			return n
		}).WithTimeout(time.Minute).Should(Equal(burst))
		Expect(recorder.waiting()).To(BeZero())
		Expect(recorder.dropped.Load()).To(BeZero())
	})

	It("never blocks a reconciler: an Event that finds the queue full is dropped and counted", func() {
		// Not started: nothing drains the queue.
		for range eventQueueLength + 3 {
			recorder.Eventf(vu, nil, corev1.EventTypeNormal, eventCreated, actionCreate, "created")
		}
		Expect(recorder.dropped.Load()).To(BeEquivalentTo(3))
		Expect(recorder.waiting()).To(Equal(eventQueueLength))
	})

	It("refuses an event type the API does not know, as client-go does", func() {
		recorder.Eventf(vu, nil, "Info", eventCreated, actionCreate, "created")
		Expect(recorder.waiting()).To(BeZero())
	})
})
