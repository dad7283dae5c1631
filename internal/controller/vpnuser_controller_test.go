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
	"errors"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

var _ = Describe("Creating a VpnUser", func() {
	var (
		ns    string
		cloud *vpnapitest.Server
	)
	freshSpec(&ns, &cloud)

	It("creates the cloud user once, with two writes, and fills the status from the cloud", func() {
		op := startOperator(ns, cloud, operatorOptions{})
		vu := newVpnUser(ns, "alice", func(vu *vpnv1alpha1.VpnUser) {
			vu.Spec.UserGroupID = vpnapitest.DefaultGroupID
		})
		apply(vu, goodPassword)

		got := eventuallyReady(vu)
		ready := condition(got, vpnv1alpha1.ConditionReady)
		Expect(ready.Reason).To(Equal(vpnv1alpha1.ReasonCreated))
		Expect(ready.Message).To(ContainSubstring(got.Status.ID))
		for _, typ := range []string{vpnv1alpha1.ConditionReconciling, vpnv1alpha1.ConditionStalled} {
			c := condition(got, typ)
			Expect(c.Status).To(Equal(metav1.ConditionFalse), typ)
			Expect(c.ObservedGeneration).To(Equal(got.Generation), typ)
		}
		Expect(got.Finalizers).To(ContainElement(vpnv1alpha1.Finalizer))
		Expect(got.Status.ID).NotTo(BeEmpty())
		Expect(got.Status.UserName).To(Equal("alice"))
		Expect(got.Status.Description).To(Equal("created_by_test"))
		Expect(got.Status.UserGroupID).To(Equal(vpnapitest.DefaultGroupID))
		Expect(got.Status.UserGroupName).To(Equal(vpnapitest.DefaultGroupName))
		Expect(got.Status.CreatedAt).NotTo(BeNil())
		Expect(got.Status.UpdatedAt).NotTo(BeNil())
		Expect(got.Status.AppliedPasswordSecret).NotTo(BeNil())
		Expect(got.Status.AppliedPasswordSecret.Name).To(Equal("alice-password"))
		Expect(got.Status.AppliedPasswordSecret.Key).To(Equal("password"))

		users := cloudUsers(cloud)
		Expect(users).To(HaveLen(1))
		Expect(users[0].ID).To(Equal(got.Status.ID))
		Expect(users[0].Password).To(Equal(goodPassword))
		Expect(users[0].ClientToken).To(Equal(string(got.UID)))
		Expect(cloud.CountCalls("create")).To(Equal(1))
		Eventually(eventReasons(vu)).Should(ContainElement("Normal/Created"))
		// The finalizer, added just before the create, and the status with the user's id:
		// nothing is written before the create, the token follows from the UID.
		Expect(op.objectWrites.Load()).To(Equal(int64(1)))
		Expect(op.statusWrites.Load()).To(Equal(int64(1)))
	})

	It("makes exactly one cloud user when the answer to the create is lost", func() {
		cloud.InjectFault(vpnapitest.Fault{Operation: "create", LoseResponse: true})
		startOperator(ns, cloud, operatorOptions{})
		vu := newVpnUser(ns, "bobby")
		apply(vu, goodPassword)

		got := eventuallyReady(vu)
		Expect(cloud.CountCalls("create")).To(BeNumerically(">=", 2))
		for _, c := range cloud.Calls() {
			if c.Operation == "create" {
				Expect(c.ClientToken).To(Equal(string(got.UID)))
			}
		}
		users := cloudUsers(cloud)
		Expect(users).To(HaveLen(1))
		Expect(users[0].ID).To(Equal(got.Status.ID))
	})

	It("makes exactly one cloud user when the operator stops between the create and the status write", func() {
		By("running an operator that cannot record the user id")
		first := startOperator(ns, cloud, operatorOptions{refuseStatus: func(vu *vpnv1alpha1.VpnUser) error {
			if vu.Status.ID != "" {
				return errors.New("the operator crashed")
			}
			return nil
		}})
		vu := newVpnUser(ns, "carol")
		apply(vu, goodPassword)
		Eventually(first.refused.Load).Should(BeNumerically(">=", 1))
		first.stop()
		Expect(cloudUsers(cloud)).To(HaveLen(1))
		stuck := fetch(vu)
		Expect(stuck.Status.ID).To(BeEmpty())
		Expect(stuck.Finalizers).To(ContainElement(vpnv1alpha1.Finalizer), "added before the create was sent")

		By("starting the operator again")
		startOperator(ns, cloud, operatorOptions{})
		got := eventuallyReady(vu)
		users := cloudUsers(cloud)
		Expect(users).To(HaveLen(1))
		Expect(users[0].ID).To(Equal(got.Status.ID))
		Expect(users[0].ClientToken).To(Equal(string(got.UID)))
		for _, c := range cloud.Calls() {
			if c.Operation == "create" {
				Expect(c.ClientToken).To(Equal(string(got.UID)))
			}
		}
	})

	DescribeTable("recovers the user of a lost create when the password or the spec changed before the retry",
		func(change func(vu *vpnv1alpha1.VpnUser), wantPassword, wantDescription string) {
			By("running an operator that cannot record the user id")
			first := startOperator(ns, cloud, operatorOptions{refuseStatus: refuseID})
			vu := newVpnUser(ns, "dana")
			apply(vu, goodPassword)
			Eventually(first.refused.Load).Should(BeNumerically(">=", 1))
			first.stop()
			Expect(cloudUsers(cloud)).To(HaveLen(1))
			made := cloudUsers(cloud)[0]

			By("changing the VpnUser while the operator is down: the same token now comes with other parameters")
			change(vu)
			startOperator(ns, cloud, operatorOptions{})
			got := eventuallyReady(vu)
			Expect(condition(got, vpnv1alpha1.ConditionReady).Reason).To(Equal(vpnv1alpha1.ReasonCreated))
			Expect(got.Status.ID).To(Equal(made.ID))
			Expect(got.Finalizers).To(ContainElement(vpnv1alpha1.Finalizer))
			users := cloudUsers(cloud)
			Expect(users).To(HaveLen(1))
			Expect(users[0].Password).To(Equal(wantPassword))
			Expect(users[0].Description).To(Equal(wantDescription))
			Expect(eventReasons(vu)()).NotTo(ContainElement("Warning/NameConflict"))

			By("deleting it: the user goes with it")
			deleteObject(vu)
			eventuallyGone(vu)
			Expect(cloudUsers(cloud)).To(BeEmpty())
		},
		Entry("a rotated password", func(vu *vpnv1alpha1.VpnUser) { setPassword(vu, rotatedPassword) }, rotatedPassword, "created_by_test"),
		Entry("a changed description", func(vu *vpnv1alpha1.VpnUser) {
			update(vu, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.Description = "changed_meanwhile" })
		}, goodPassword, "changed_meanwhile"),
	)

	It("waits for a Secret that arrives after the VpnUser, without calling the cloud", func() {
		startOperator(ns, cloud, operatorOptions{})
		vu := newVpnUser(ns, "david")
		create(vu)

		got := eventuallyReason(vu, vpnv1alpha1.ReasonSecretNotFound)
		Expect(condition(got, vpnv1alpha1.ConditionReconciling).Status).To(Equal(metav1.ConditionTrue))
		Expect(condition(got, vpnv1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionFalse))
		Expect(condition(got, vpnv1alpha1.ConditionReady).Message).To(ContainSubstring(`"david-password"`))
		Consistently(calls(cloud, ""), 500*time.Millisecond).Should(BeZero())

		By("creating the Secret")
		// SecretNotFound schedules no retry and the sync period is an hour: only the
		// watch on Secrets can bring the VpnUser back.
		create(newPasswordSecret(ns, "david-password", goodPassword))
		eventuallyReady(vu)
		Expect(cloudUsers(cloud)).To(HaveLen(1))
	})

	It("reports a Secret without the key, without calling the cloud", func() {
		startOperator(ns, cloud, operatorOptions{})
		vu := newVpnUser(ns, "erin", func(vu *vpnv1alpha1.VpnUser) { vu.Spec.PasswordSecretRef.Key = "vpn-password" })
		apply(vu, goodPassword) // under the key "password"

		got := eventuallyReason(vu, vpnv1alpha1.ReasonSecretNotFound)
		Expect(condition(got, vpnv1alpha1.ConditionReady).Message).To(ContainSubstring(`no key "vpn-password"`))
		// The finalizer may have been added while the Secret was read (the Secret was in
		// the cache): it is taken off again, as the VpnUser has no cloud user.
		Expect(got.Finalizers).To(BeEmpty())
		Consistently(calls(cloud, ""), 500*time.Millisecond).Should(BeZero())
	})

	It("refuses a password that breaks the cloud's rules, without calling the cloud", func() {
		startOperator(ns, cloud, operatorOptions{})
		vu := newVpnUser(ns, "frank")
		apply(vu, "short")

		got := eventuallyReason(vu, vpnv1alpha1.ReasonInvalidPassword)
		Expect(condition(got, vpnv1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionTrue))
		Expect(condition(got, vpnv1alpha1.ConditionReconciling).Status).To(Equal(metav1.ConditionFalse))
		Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		Expect(condition(got, vpnv1alpha1.ConditionReady).Message).To(ContainSubstring("8 to 32 characters"))
		Expect(got.Finalizers).To(BeEmpty(), "a VpnUser that never reached the cloud keeps no finalizer")
		Consistently(calls(cloud, ""), 500*time.Millisecond).Should(BeZero())
		Eventually(eventReasons(vu)).Should(ContainElement("Warning/InvalidPassword"))

		By("fixing the password")
		setPassword(vu, goodPassword)
		eventuallyReady(vu)
	})

	It("reports a spec the cloud refuses and does not retry it", func() {
		startOperator(ns, cloud, operatorOptions{})
		vu := newVpnUser(ns, "grace", func(vu *vpnv1alpha1.VpnUser) {
			vu.Spec.UserGroupID = "00000000-0000-4000-8000-000000000000" // no such group
		})
		apply(vu, goodPassword)

		got := eventuallyReason(vu, vpnv1alpha1.ReasonInvalidSpec)
		Expect(condition(got, vpnv1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionTrue))
		Expect(condition(got, vpnv1alpha1.ConditionReady).Message).To(And(ContainSubstring("VPN.0001"), ContainSubstring("request id")))
		Consistently(calls(cloud, "create"), time.Second).Should(Equal(1))

		By("correcting the group")
		update(vu, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.UserGroupID = vpnapitest.SecondGroupID })
		got = eventuallyReady(vu)
		Expect(got.Status.UserGroupName).To(Equal(vpnapitest.SecondGroupName))
		Expect(cloudUsers(cloud)).To(HaveLen(1))
	})
})

var _ = Describe("Following the manifest", func() {
	var (
		ns    string
		cloud *vpnapitest.Server
	)
	freshSpec(&ns, &cloud)

	It("applies a changed description and group with an update", func() {
		startOperator(ns, cloud, operatorOptions{})
		vu := newVpnUser(ns, "heidi")
		apply(vu, goodPassword)
		eventuallyReady(vu)

		update(vu, func(vu *vpnv1alpha1.VpnUser) {
			vu.Spec.Description = "moved_to_ops"
			vu.Spec.UserGroupID = vpnapitest.SecondGroupID
		})
		Eventually(func(g Gomega) {
			got := eventuallyReady(vu)
			g.Expect(got.Generation).To(Equal(int64(2)))
			g.Expect(got.Status.Description).To(Equal("moved_to_ops"))
			g.Expect(got.Status.UserGroupName).To(Equal(vpnapitest.SecondGroupName))
			g.Expect(condition(got, vpnv1alpha1.ConditionReady).Reason).To(Equal(vpnv1alpha1.ReasonSynced))
		}).Should(Succeed())
		Expect(cloud.CountCalls("update")).To(Equal(1))
		Expect(cloud.CountCalls("reset_password")).To(BeZero())
		u := cloudUsers(cloud)[0]
		Expect(u.Description).To(Equal("moved_to_ops"))
		Expect(u.UserGroupID).To(Equal(vpnapitest.SecondGroupID))
		Eventually(eventReasons(vu)).Should(ContainElement("Normal/Updated"))
		Expect(eventReasons(vu)()).NotTo(ContainElement("Warning/DriftCorrected"))
	})

	It("puts back a change made in the console, with an event", func() {
		startOperator(ns, cloud, operatorOptions{syncPeriod: time.Second})
		vu := newVpnUser(ns, "ivan", func(vu *vpnv1alpha1.VpnUser) { vu.Spec.UserGroupID = vpnapitest.DefaultGroupID })
		apply(vu, goodPassword)
		id := eventuallyReady(vu).Status.ID

		Expect(cloud.UpdateUserOutOfBand(project, server, id, ptr.To("changed_in_console"), ptr.To(vpnapitest.SecondGroupID))).To(BeTrue())
		Eventually(func(g Gomega) {
			u, ok := cloud.User(project, server, id)
			g.Expect(ok).To(BeTrue())
			g.Expect(u.Description).To(Equal("created_by_test"))
			g.Expect(u.UserGroupID).To(Equal(vpnapitest.DefaultGroupID))
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			e, ok := findEvent(vu, "DriftCorrected")
			g.Expect(ok).To(BeTrue())
			g.Expect(e.Type).To(Equal(corev1.EventTypeWarning))
			g.Expect(e.Note).To(And(ContainSubstring("description"), ContainSubstring("userGroupId"), ContainSubstring("changed_in_console")))
		}).Should(Succeed())
		got := eventuallyReady(vu)
		Expect(got.Status.UserGroupName).To(Equal(vpnapitest.DefaultGroupName))
	})

	It("creates a user deleted in the console again, with a new token and an event", func() {
		startOperator(ns, cloud, operatorOptions{syncPeriod: time.Second})
		vu := newVpnUser(ns, "judith")
		apply(vu, goodPassword)
		first := eventuallyReady(vu)

		Expect(cloud.DeleteUserOutOfBand(project, server, first.Status.ID)).To(BeTrue())
		var got *vpnv1alpha1.VpnUser
		Eventually(func(g Gomega) {
			got = eventuallyReady(vu)
			g.Expect(got.Status.Recreations).To(Equal(int32(1)))
			g.Expect(got.Status.ID).NotTo(BeEmpty())
			g.Expect(got.Status.ID).NotTo(Equal(first.Status.ID))
		}).Should(Succeed())
		users := cloudUsers(cloud)
		Expect(users).To(HaveLen(1))
		Expect(users[0].ID).To(Equal(got.Status.ID))
		Expect(users[0].Password).To(Equal(goodPassword))
		Expect(users[0].ClientToken).NotTo(Equal(string(got.UID)))
		Expect(users[0].ClientToken).To(Equal(clientToken(got.UID, 1)))
		Eventually(eventReasons(vu)).Should(ContainElements("Warning/Recreating", "Normal/Recreated"))
	})

	It("writes nothing when a reconcile finds nothing new", func() {
		op := startOperator(ns, cloud, operatorOptions{syncPeriod: 500 * time.Millisecond})
		vu := newVpnUser(ns, "katie")
		apply(vu, goodPassword)
		eventuallyReady(vu)
		// Let the first observation after creation settle.
		Eventually(calls(cloud, "show")).Should(BeNumerically(">=", 3))

		before := fetch(vu)
		statusWrites, objectWrites := op.statusWrites.Load(), op.objectWrites.Load()
		events := len(eventsOf(vu))
		shows := cloud.CountCalls("show")

		By("letting several sync periods pass")
		Eventually(calls(cloud, "show"), 10*time.Second).Should(BeNumerically(">=", shows+4))
		after := fetch(vu)
		Expect(after.ResourceVersion).To(Equal(before.ResourceVersion))
		Expect(op.statusWrites.Load()).To(Equal(statusWrites))
		Expect(op.objectWrites.Load()).To(Equal(objectWrites))
		Expect(eventsOf(vu)).To(HaveLen(events))
		Expect(cloud.CountCalls("update") + cloud.CountCalls("reset_password") + cloud.CountCalls("create")).To(Equal(1))
	})
})
