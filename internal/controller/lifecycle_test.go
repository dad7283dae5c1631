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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

var _ = Describe("Password rotation", func() {
	var (
		ns    string
		cloud *vpnapitest.Server
	)
	freshSpecWithOperator(&ns, &cloud, nil, operatorOptions{syncPeriod: time.Second})

	It("resets the cloud password exactly once for a changed Secret", func() {
		vu := newVpnUser(ns, "rotator")
		apply(vu, goodPassword)
		first := eventuallyReady(vu)

		setPassword(vu, rotatedPassword)
		Eventually(calls(cloud, "reset_password")).Should(Equal(1))
		Eventually(func(g Gomega) {
			got := fetch(vu)
			g.Expect(got.Status.AppliedPasswordSecret).NotTo(BeNil())
			g.Expect(got.Status.AppliedPasswordSecret.ResourceVersion).NotTo(Equal(first.Status.AppliedPasswordSecret.ResourceVersion))
			g.Expect(got.Status.AppliedPasswordSecret.UID).To(Equal(first.Status.AppliedPasswordSecret.UID))
		}).Should(Succeed())
		u, ok := cloud.User(project, server, first.Status.ID)
		Expect(ok).To(BeTrue())
		Expect(u.Password).To(Equal(rotatedPassword))
		Eventually(eventReasons(vu)).Should(ContainElement("Normal/PasswordReset"))

		By("observing a few more sync periods")
		shows := cloud.CountCalls("show")
		Eventually(calls(cloud, "show"), 10*time.Second).Should(BeNumerically(">=", shows+2))
		Expect(cloud.CountCalls("reset_password")).To(Equal(1))
		Expect(cloud.CountCalls("create")).To(Equal(1))
	})

	It("resets the password when the Secret is deleted and created again", func() {
		vu := newVpnUser(ns, "recreated-secret")
		apply(vu, goodPassword)
		first := eventuallyReady(vu)

		deleteObject(newPasswordSecret(ns, vu.Spec.PasswordSecretRef.Name, ""))
		eventuallyReason(vu, vpnv1alpha1.ReasonSecretNotFound)
		create(newPasswordSecret(ns, vu.Spec.PasswordSecretRef.Name, rotatedPassword))
		Eventually(func(g Gomega) {
			got := eventuallyReady(vu)
			g.Expect(got.Status.AppliedPasswordSecret.UID).NotTo(Equal(first.Status.AppliedPasswordSecret.UID))
		}).Should(Succeed())
		Expect(cloud.CountCalls("reset_password")).To(Equal(1))
		u, _ := cloud.User(project, server, first.Status.ID)
		Expect(u.Password).To(Equal(rotatedPassword))
	})

	It("reports a password the cloud refuses and does not try it again", func() {
		vu := newVpnUser(ns, "reuser")
		apply(vu, goodPassword)
		id := eventuallyReady(vu).Status.ID
		setPassword(vu, rotatedPassword)
		Eventually(calls(cloud, "reset_password")).Should(Equal(1))
		eventuallyReady(vu)

		By("going back to a password of the last five")
		setPassword(vu, goodPassword)
		got := eventuallyReason(vu, vpnv1alpha1.ReasonPasswordRejected)
		Expect(condition(got, vpnv1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionTrue))
		Expect(condition(got, vpnv1alpha1.ConditionReady).Message).To(And(
			ContainSubstring("VPN.0001"), ContainSubstring("request id"), ContainSubstring(got.Status.RejectedPasswordSecret.ResourceVersion)))
		Expect(got.Status.RejectedPasswordSecret).NotTo(BeNil())
		Expect(cloud.CountCalls("reset_password")).To(Equal(2))
		Eventually(eventReasons(vu)).Should(ContainElement("Warning/PasswordRejected"))

		By("waiting several sync periods: the refused password is not sent again")
		shows := cloud.CountCalls("show")
		Eventually(calls(cloud, "show"), 10*time.Second).Should(BeNumerically(">=", shows+2))
		Expect(cloud.CountCalls("reset_password")).To(Equal(2))
		u, _ := cloud.User(project, server, id)
		Expect(u.Password).To(Equal(rotatedPassword))

		By("putting a new password in the Secret")
		setPassword(vu, "Third-Passw0rd")
		Eventually(func(g Gomega) {
			got := eventuallyReady(vu)
			g.Expect(got.Status.RejectedPasswordSecret).To(BeNil())
		}).Should(Succeed())
		Expect(cloud.CountCalls("reset_password")).To(Equal(3))
		u, _ = cloud.User(project, server, id)
		Expect(u.Password).To(Equal("Third-Passw0rd"))
	})
})

var _ = Describe("Deleting a VpnUser", func() {
	var (
		ns    string
		cloud *vpnapitest.Server
	)
	freshSpec(&ns, &cloud)

	It("deletes the cloud user with deletionPolicy Delete", func() {
		startOperator(ns, cloud, operatorOptions{})
		vu := newVpnUser(ns, "deleted")
		apply(vu, goodPassword)
		Expect(eventuallyReady(vu).Spec.DeletionPolicy).To(Equal(vpnv1alpha1.DeletionPolicyDelete))

		deleteObject(vu)
		eventuallyGone(vu)
		Expect(cloudUsers(cloud)).To(BeEmpty())
		Expect(cloud.CountCalls("delete")).To(Equal(1))
		Eventually(eventReasons(vu)).Should(ContainElement("Normal/Deleted"))
	})

	It("leaves the cloud user with deletionPolicy Orphan", func() {
		startOperator(ns, cloud, operatorOptions{})
		vu := newVpnUser(ns, "orphaned", func(vu *vpnv1alpha1.VpnUser) { vu.Spec.DeletionPolicy = vpnv1alpha1.DeletionPolicyOrphan })
		apply(vu, goodPassword)
		id := eventuallyReady(vu).Status.ID

		deleteObject(vu)
		eventuallyGone(vu)
		_, ok := cloud.User(project, server, id)
		Expect(ok).To(BeTrue())
		Expect(cloud.CountCalls("delete")).To(BeZero())
	})

	It("keeps the finalizer with a clear condition while the cloud is down, and lets go once it is back", func() {
		startOperator(ns, cloud, operatorOptions{})
		vu := newVpnUser(ns, "stuck-delete")
		apply(vu, goodPassword)
		eventuallyReady(vu)

		cloud.InjectFault(vpnapitest.Fault{Operation: "delete", Times: 100000, Status: 503})
		deleteObject(vu)
		got := eventuallyReason(vu, vpnv1alpha1.ReasonCloudUnavailable)
		Expect(got.Finalizers).To(ContainElement(vpnv1alpha1.Finalizer))
		Expect(condition(got, vpnv1alpha1.ConditionReady).Message).To(And(
			ContainSubstring("503"), ContainSubstring("VPN.0002"), ContainSubstring("request id"),
			ContainSubstring("deletionPolicy: Orphan")))
		Expect(condition(got, vpnv1alpha1.ConditionReconciling).Status).To(Equal(metav1.ConditionTrue))

		By("staying for a while without a hot loop")
		deletes := cloud.CountCalls("delete")
		Consistently(func() error {
			_, err := fetchErr(vu)
			return err
		}, 2*time.Second).Should(Succeed())
		// Back-off from 50ms to 1s, three attempts per reconcile (client retries): at most
		// a few dozen calls in 2s, where a hot loop would make hundreds.
		Expect(cloud.CountCalls("delete") - deletes).To(BeNumerically("<", 40))

		By("bringing the cloud back")
		cloud.ClearFaults()
		eventuallyGone(vu)
		Expect(cloudUsers(cloud)).To(BeEmpty())
	})

	It("lets go of a stuck VpnUser switched to deletionPolicy Orphan", func() {
		startOperator(ns, cloud, operatorOptions{})
		vu := newVpnUser(ns, "switched")
		apply(vu, goodPassword)
		id := eventuallyReady(vu).Status.ID

		cloud.InjectFault(vpnapitest.Fault{Operation: "delete", Times: 100000, Status: 503})
		deleteObject(vu)
		eventuallyReason(vu, vpnv1alpha1.ReasonCloudUnavailable)

		update(vu, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.DeletionPolicy = vpnv1alpha1.DeletionPolicyOrphan })
		eventuallyGone(vu)
		_, ok := cloud.User(project, server, id)
		Expect(ok).To(BeTrue())
	})

	It("finds and deletes a user whose create was sent but whose id was never recorded", func() {
		first := startOperator(ns, cloud, operatorOptions{refuseStatus: refuseID})
		vu := newVpnUser(ns, "half-created")
		apply(vu, goodPassword)
		Eventually(first.refused.Load).Should(BeNumerically(">=", 1))
		first.stop()
		Expect(cloudUsers(cloud)).To(HaveLen(1))
		Expect(fetch(vu).Status.ID).To(BeEmpty())

		deleteObject(vu)
		startOperator(ns, cloud, operatorOptions{})
		eventuallyGone(vu)
		Expect(cloudUsers(cloud)).To(BeEmpty())
		Expect(cloud.CountCalls("list")).To(BeNumerically(">=", 1))
	})

	It("lets a VpnUser that never reached the cloud go at once: it has no finalizer", func() {
		startOperator(ns, cloud, operatorOptions{})
		vu := newVpnUser(ns, "never-created")
		create(vu)
		eventuallyReason(vu, vpnv1alpha1.ReasonSecretNotFound)
		Expect(fetch(vu).Finalizers).To(BeEmpty())

		deleteObject(vu)
		eventuallyGone(vu)
		Expect(cloud.CountCalls("")).To(BeZero())
	})
})

var _ = Describe("Pausing a VpnUser", func() {
	It("makes no cloud call while paused, its deletion included, and resumes when the annotation goes", func() {
		ns, cloud := newNamespace(), newCloud()
		startOperator(ns, cloud, operatorOptions{syncPeriod: time.Second})
		vu := newVpnUser(ns, "paused", func(vu *vpnv1alpha1.VpnUser) {
			vu.Annotations = map[string]string{vpnv1alpha1.AnnotationPaused: annotationEnabled}
		})
		apply(vu, goodPassword)

		got := eventuallyReason(vu, vpnv1alpha1.ReasonPaused)
		Expect(condition(got, vpnv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
		Expect(condition(got, vpnv1alpha1.ConditionReconciling).Status).To(Equal(metav1.ConditionFalse))
		Expect(condition(got, vpnv1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionFalse))
		Expect(condition(got, vpnv1alpha1.ConditionReady).Message).To(ContainSubstring(vpnv1alpha1.AnnotationPaused))
		Consistently(calls(cloud, ""), 1500*time.Millisecond).Should(BeZero())

		By("resuming")
		update(vu, func(vu *vpnv1alpha1.VpnUser) { delete(vu.Annotations, vpnv1alpha1.AnnotationPaused) })
		eventuallyReady(vu)
		Expect(cloudUsers(cloud)).To(HaveLen(1))

		By("pausing again and deleting")
		update(vu, func(vu *vpnv1alpha1.VpnUser) {
			vu.Annotations = map[string]string{vpnv1alpha1.AnnotationPaused: annotationEnabled}
		})
		eventuallyReason(vu, vpnv1alpha1.ReasonPaused)
		n := cloud.CountCalls("")
		deleteObject(vu)
		Consistently(calls(cloud, ""), 1500*time.Millisecond).Should(Equal(n))
		Expect(fetch(vu).Finalizers).To(ContainElement(vpnv1alpha1.Finalizer))
		Expect(cloudUsers(cloud)).To(HaveLen(1))

		By("resuming the deletion")
		update(vu, func(vu *vpnv1alpha1.VpnUser) { delete(vu.Annotations, vpnv1alpha1.AnnotationPaused) })
		eventuallyGone(vu)
		Expect(cloudUsers(cloud)).To(BeEmpty())
	})
})

var _ = Describe("Existing cloud users", func() {
	var (
		ns    string
		cloud *vpnapitest.Server
	)
	freshSpecWithOperator(&ns, &cloud, nil, operatorOptions{})

	It("reports a name conflict, then adopts the user when the annotation is set", func() {
		existing, err := cloud.CreateUserOutOfBand(project, server, "legacy", "Console-Passw0rd")
		Expect(err).NotTo(HaveOccurred())
		vu := newVpnUser(ns, "legacy")
		apply(vu, goodPassword)

		got := eventuallyReason(vu, vpnv1alpha1.ReasonNameConflict)
		Expect(condition(got, vpnv1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionTrue))
		Expect(condition(got, vpnv1alpha1.ConditionReady).Message).To(And(
			ContainSubstring(existing), ContainSubstring(vpnv1alpha1.AnnotationAdopt), ContainSubstring("VPN.0001")))
		Expect(got.Status.ID).To(BeEmpty())
		Expect(got.Finalizers).NotTo(ContainElement(vpnv1alpha1.Finalizer), "the user of that name is not this VpnUser's")
		Consistently(calls(cloud, "create"), 500*time.Millisecond).Should(Equal(1))
		Expect(cloud.CountCalls("reset_password")).To(BeZero())
		u, _ := cloud.User(project, server, existing)
		Expect(u.Password).To(Equal("Console-Passw0rd"))
		Eventually(eventReasons(vu)).Should(ContainElement("Warning/NameConflict"))

		By("setting the adopt annotation")
		update(vu, func(vu *vpnv1alpha1.VpnUser) {
			vu.Annotations = map[string]string{vpnv1alpha1.AnnotationAdopt: annotationEnabled}
		})
		got = eventuallyReason(vu, vpnv1alpha1.ReasonAdopted)
		Expect(condition(got, vpnv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		Expect(got.Status.ID).To(Equal(existing))
		Expect(got.Status.AppliedPasswordSecret).NotTo(BeNil())
		Expect(cloudUsers(cloud)).To(HaveLen(1))
		u, _ = cloud.User(project, server, existing)
		Expect(u.Password).To(Equal(goodPassword))
		Expect(u.Description).To(Equal("created_by_test"))
		Expect(cloud.CountCalls("reset_password")).To(Equal(1))
		Eventually(eventReasons(vu)).Should(ContainElement("Normal/Adopted"))
	})

	It("lets a VpnUser in a name conflict go without touching the user it does not own", func() {
		existing, err := cloud.CreateUserOutOfBand(project, server, "taken", "Console-Passw0rd")
		Expect(err).NotTo(HaveOccurred())
		vu := newVpnUser(ns, "taken")
		apply(vu, goodPassword)
		eventuallyReason(vu, vpnv1alpha1.ReasonNameConflict)

		deleteObject(vu)
		eventuallyGone(vu)
		_, ok := cloud.User(project, server, existing)
		Expect(ok).To(BeTrue())
		Expect(cloud.CountCalls("delete")).To(BeZero())
	})

	It("adopts an existing user at once when the annotation is set from the start", func() {
		existing, err := cloud.CreateUserOutOfBand(project, server, "veteran", "Console-Passw0rd")
		Expect(err).NotTo(HaveOccurred())
		vu := newVpnUser(ns, "veteran", func(vu *vpnv1alpha1.VpnUser) {
			vu.Annotations = map[string]string{vpnv1alpha1.AnnotationAdopt: annotationEnabled}
		})
		apply(vu, goodPassword)

		got := eventuallyReason(vu, vpnv1alpha1.ReasonAdopted)
		Expect(got.Status.ID).To(Equal(existing))
		Expect(cloud.CountCalls("create")).To(BeZero())
		u, _ := cloud.User(project, server, existing)
		Expect(u.Password).To(Equal(goodPassword))
	})

	It("creates the user when the adopt annotation finds none", func() {
		vu := newVpnUser(ns, "newcomer", func(vu *vpnv1alpha1.VpnUser) {
			vu.Annotations = map[string]string{vpnv1alpha1.AnnotationAdopt: annotationEnabled}
		})
		apply(vu, goodPassword)
		got := eventuallyReason(vu, vpnv1alpha1.ReasonCreated)
		Expect(cloudUsers(cloud)).To(HaveLen(1))
		Expect(cloudUsers(cloud)[0].ID).To(Equal(got.Status.ID))
	})
})
