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
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

const (
	consolePassword = "Console-Passw0rd"
	keysSecret      = "cloud-keys"
)

// hasFinalizer tells whether the stored VpnUser has the operator's finalizer.
func hasFinalizer(vu *vpnv1alpha1.VpnUser) func() bool {
	return func() bool { return controllerutil.ContainsFinalizer(fetch(vu), vpnv1alpha1.Finalizer) }
}

// consoleUser makes a user as someone in the console would, and returns its id.
func consoleUser(cloud *vpnapitest.Server, name string) string {
	GinkgoHelper()
	id, err := cloud.CreateUserOutOfBand(project, server, name, consolePassword)
	Expect(err).NotTo(HaveOccurred())
	return id
}

// untouched checks that a console user still exists with the password it was given.
func untouched(cloud *vpnapitest.Server, id string) {
	GinkgoHelper()
	_, exists := cloud.User(project, server, id)
	Expect(exists).To(BeTrue(), "the console user was deleted")
	Expect(cloud.CheckPassword(project, server, id, consolePassword)).To(BeTrue(), "the console user's password was changed")
	Expect(userCalls(cloud, id, "reset_password")()).To(BeZero())
	Expect(userCalls(cloud, id, "update")()).To(BeZero())
	Expect(userCalls(cloud, id, "delete")()).To(BeZero())
}

// pause stops the operator's calls for vu, and waits until it says so.
func pause(vu *vpnv1alpha1.VpnUser, paused bool) {
	GinkgoHelper()
	if paused {
		annotate(vu, vpnv1alpha1.AnnotationPaused, "true")
		eventuallyReason(vu, vpnv1alpha1.ReasonPaused)
		return
	}
	update(vu, func(vu *vpnv1alpha1.VpnUser) { delete(vu.Annotations, vpnv1alpha1.AnnotationPaused) })
}

var _ = Describe("Only the cloud user a VpnUser made", func() {
	var (
		ns    string
		cloud *vpnapitest.Server
	)
	freshSpecWithOperator(&ns, &cloud, nil, operatorOptions{})

	It("records that a create refused for good made nothing: a console user of that name made later is left alone", func() {
		vu := newVpnUser(ns, "refused", func(vu *vpnv1alpha1.VpnUser) {
			vu.Spec.UserGroupID = "11111111-2222-4333-8444-555555555555" // no such group
		})
		apply(vu, goodPassword)
		eventuallyReason(vu, vpnv1alpha1.ReasonInvalidSpec)
		Eventually(hasFinalizer(vu)).Should(BeFalse(), "nothing is outstanding: the finalizer goes")
		Expect(fetch(vu).Status.PendingCreate).To(BeNil())

		id := consoleUser(cloud, "refused")
		update(vu, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.UserGroupID = "" })
		eventuallyReason(vu, vpnv1alpha1.ReasonNameConflict)
		Consistently(hasFinalizer(vu)).Should(BeFalse())
		untouched(cloud, id)

		deleteObject(vu)
		eventuallyGone(vu)
		untouched(cloud, id)
	})

	It("records that a create refused for its credentials made nothing", func() {
		cloud.InjectFault(vpnapitest.Fault{Operation: "create", Times: 1000, Status: 403})
		vu := newVpnUser(ns, "forbidden")
		apply(vu, goodPassword)
		eventuallyReason(vu, vpnv1alpha1.ReasonCloudAuthFailed)
		Eventually(hasFinalizer(vu)).Should(BeFalse())

		id := consoleUser(cloud, "forbidden")
		cloud.ClearFaults()
		eventuallyReason(vu, vpnv1alpha1.ReasonNameConflict)
		untouched(cloud, id)
	})

	It("takes the user of a create whose answer was lost for its own, inside the window", func() {
		cloud.InjectFault(vpnapitest.Fault{Operation: "create", Times: 1000, LoseResponse: true})
		vu := newVpnUser(ns, "lost-answer")
		apply(vu, goodPassword)
		Eventually(func() *vpnv1alpha1.CreateWindow { return fetch(vu).Status.PendingCreate }).ShouldNot(BeNil())
		Expect(fetch(vu).Status.PendingCreate.LastSentAt.Time).To(BeTemporally("~", time.Now(), time.Minute))
		pause(vu, true)
		// The retry now carries another password with the same token: the cloud refuses it,
		// and only the window can tell the user of that name is this VpnUser's.
		setPassword(vu, rotatedPassword)
		cloud.ClearFaults()
		pause(vu, false)

		got := eventuallyReady(vu)
		Expect(got.Status.PendingCreate).To(BeNil())
		Expect(cloudUsers(cloud)).To(HaveLen(1))
		Expect(cloud.CheckPassword(project, server, got.Status.ID, rotatedPassword)).To(BeTrue())
		_, found := findEvent(got, eventCreated)
		Expect(found).To(BeTrue())
	})

	It("leaves a user of that name made outside the window to whoever made it", func() {
		cloud.InjectFault(vpnapitest.Fault{Operation: "create", Times: 1000, DropConnection: true})
		vu := newVpnUser(ns, "dropped")
		apply(vu, goodPassword)
		Eventually(func() *vpnv1alpha1.CreateWindow { return fetch(vu).Status.PendingCreate }).ShouldNot(BeNil())
		pause(vu, true)
		cloud.ClearFaults()
		// Someone makes a user of that name ten minutes after the create was sent.
		cloud.ShiftClock(10 * time.Minute)
		id := consoleUser(cloud, "dropped")
		cloud.ShiftClock(-10 * time.Minute)
		pause(vu, false)

		eventuallyReason(vu, vpnv1alpha1.ReasonNameConflict)
		Eventually(hasFinalizer(vu)).Should(BeFalse())
		Expect(fetch(vu).Status.PendingCreate).To(BeNil())
		untouched(cloud, id)
		deleteObject(vu)
		eventuallyGone(vu)
		untouched(cloud, id)
	})

	It("waits, when deleted, for the user a create that got no answer may have made, so that it does not leak", func() {
		cloud.InjectFault(vpnapitest.Fault{Operation: "create", Times: 1000, DropConnection: true})
		vu := newVpnUser(ns, "late-show")
		apply(vu, goodPassword)
		Eventually(func() *vpnv1alpha1.CreateWindow { return fetch(vu).Status.PendingCreate }).ShouldNot(BeNil())
		deleteObject(vu)
		Eventually(func() string { return condition(fetch(vu), vpnv1alpha1.ConditionReady).Reason }).Should(Equal(vpnv1alpha1.ReasonDeleting))
		Consistently(func() error { _, err := fetchErr(vu); return err }).Should(Succeed(), "the VpnUser went before the grace")

		// The cloud shows the user the lost create made only now (it is eventually consistent).
		id := consoleUser(cloud, "late-show")
		eventuallyGone(vu)
		_, exists := cloud.User(project, server, id)
		Expect(exists).To(BeFalse(), "the user made by the lost create leaked")
	})

	It("takes a 404 for a deleted user only when the server answers: a server gone keeps the id and creates nothing", func() {
		vu := newVpnUser(ns, "server-gone")
		apply(vu, goodPassword)
		id := eventuallyReady(vu).Status.ID
		Expect(fetch(vu).Status.ProjectID).To(Equal(project))

		Expect(cloud.DeleteServerOutOfBand(project, server)).To(BeTrue())
		creates := cloud.CountCalls("create")
		annotate(vu, vpnv1alpha1.AnnotationReconcileRequestedAt, "server-gone")
		got := eventuallyReason(vu, vpnv1alpha1.ReasonServerNotFound)
		Expect(got.Status.ID).To(Equal(id))
		Expect(got.Status.Recreations).To(BeZero())
		Consistently(calls(cloud, "create")).Should(Equal(creates))

		deleteObject(vu)
		Consistently(func() error { _, err := fetchErr(vu); return err }).Should(Succeed(), "the finalizer stays while nothing is known")
		Expect(condition(fetch(vu), vpnv1alpha1.ConditionReady).Message).To(ContainSubstring("deletionPolicy: Orphan"))
		update(vu, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.DeletionPolicy = vpnv1alpha1.DeletionPolicyOrphan })
		eventuallyGone(vu)
	})
})

var _ = Describe("One VpnUser per cloud user", func() {
	var (
		ns, other string
		cloud     *vpnapitest.Server
	)
	BeforeEach(func() {
		ns, other = newNamespace(), newNamespace()
		cloud = newCloud()
	})

	It("refuses a second VpnUser that names the same user, in any namespace, and never lets it write", func() {
		startOperator(ns, cloud, operatorOptions{moreNamespaces: []string{other}})
		first := newVpnUser(ns, "shared-user")
		apply(first, goodPassword)
		id := eventuallyReady(first).Status.ID

		second := newVpnUser(other, "claimant", func(vu *vpnv1alpha1.VpnUser) {
			vu.Spec.UserName = "shared-user"
			vu.Spec.Description = "taken_over"
			vu.Annotations = map[string]string{vpnv1alpha1.AnnotationAdopt: "true"}
		})
		apply(second, rotatedPassword)
		got := eventuallyReason(second, vpnv1alpha1.ReasonAlreadyManaged)
		Expect(condition(got, vpnv1alpha1.ConditionReady).Message).NotTo(ContainSubstring(ns), "the message shows the holder's namespace")
		Expect(got.Status.ID).To(BeEmpty())
		Consistently(hasFinalizer(second)).Should(BeFalse())
		Expect(userCalls(cloud, id, "update")()).To(BeZero())
		Expect(userCalls(cloud, id, "reset_password")()).To(BeZero())
		Expect(cloud.CheckPassword(project, server, id, goodPassword)).To(BeTrue())

		By("an observer is no claim")
		observer := newVpnUser(other, "observer", func(vu *vpnv1alpha1.VpnUser) {
			vu.Spec.UserName = "shared-user"
			vu.Spec.ManagementPolicy = vpnv1alpha1.ManagementPolicyObserve
		})
		apply(observer, goodPassword)
		Expect(eventuallyReady(observer).Status.ID).To(Equal(id))

		By("deleting the second leaves the user; deleting the first deletes it")
		deleteObject(second)
		eventuallyGone(second)
		Expect(userCalls(cloud, id, "delete")()).To(BeZero())
		Expect(eventuallyReady(first).Status.ID).To(Equal(id))
		deleteObject(first)
		eventuallyGone(first)
		Expect(cloudUsers(cloud)).To(BeEmpty())
	})

	It("never lets an older VpnUser that only observed the user push out the one that made it", func() {
		startOperator(ns, cloud, operatorOptions{moreNamespaces: []string{other}})
		observer := newVpnUser(other, "early-observer", func(vu *vpnv1alpha1.VpnUser) {
			vu.Spec.UserName = "made-later"
			vu.Spec.ManagementPolicy = vpnv1alpha1.ManagementPolicyObserve
		})
		apply(observer, rotatedPassword)
		eventuallyReason(observer, vpnv1alpha1.ReasonNotFound)

		maker := newVpnUser(ns, "made-later")
		apply(maker, goodPassword)
		id := eventuallyReady(maker).Status.ID
		annotate(observer, vpnv1alpha1.AnnotationReconcileRequestedAt, "look-again")
		Expect(eventuallyReason(observer, vpnv1alpha1.ReasonObserved).Status.ID).To(Equal(id))

		update(observer, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.ManagementPolicy = vpnv1alpha1.ManagementPolicyManage })
		eventuallyReason(observer, vpnv1alpha1.ReasonAlreadyManaged)
		annotate(maker, vpnv1alpha1.AnnotationReconcileRequestedAt, "still-mine")
		Eventually(func() string { return fetch(maker).Status.LastHandledReconcileAt }).Should(Equal("still-mine"))
		Expect(eventuallyReady(maker).Status.ID).To(Equal(id))
		Expect(hasFinalizer(maker)()).To(BeTrue())
		Expect(cloud.CheckPassword(project, server, id, goodPassword)).To(BeTrue())
	})

	It("lets a VpnUser switched to Observe and back manage the user it made, where adoption is not allowed", func() {
		startOperator(ns, cloud, operatorOptions{adoptionNamespaces: []string{}})
		vu := newVpnUser(ns, "round-trip")
		apply(vu, goodPassword)
		id := eventuallyReady(vu).Status.ID
		update(vu, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.ManagementPolicy = vpnv1alpha1.ManagementPolicyObserve })
		eventuallyReason(vu, vpnv1alpha1.ReasonObserved)
		// Under Observe the operator vouches for no password: back under Manage it resets the
		// Secret's, which must then not be one of the user's last 5.
		setPassword(vu, rotatedPassword)
		update(vu, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.ManagementPolicy = vpnv1alpha1.ManagementPolicyManage })
		Expect(eventuallyReady(vu).Status.ID).To(Equal(id))
		Expect(hasFinalizer(vu)()).To(BeTrue())
		deleteObject(vu)
		eventuallyGone(vu)
		Expect(cloudUsers(cloud)).To(BeEmpty(), "the user it made leaked")
	})

	It("names a holder of the same namespace", func() {
		startOperator(ns, cloud, operatorOptions{})
		first := newVpnUser(ns, "same-ns")
		apply(first, goodPassword)
		eventuallyReady(first)
		second := newVpnUser(ns, "same-ns-2", func(vu *vpnv1alpha1.VpnUser) { vu.Spec.UserName = "same-ns" })
		apply(second, goodPassword)
		got := eventuallyReason(second, vpnv1alpha1.ReasonAlreadyManaged)
		Expect(condition(got, vpnv1alpha1.ConditionReady).Message).To(ContainSubstring(`VpnUser "same-ns" of this namespace`))
	})

	It("allows adoption and takeover only in the namespaces the operator allows", func() {
		startOperator(ns, cloud, operatorOptions{adoptionNamespaces: []string{}})
		id := consoleUser(cloud, "legacy-user")
		vu := newVpnUser(ns, "legacy-user", func(vu *vpnv1alpha1.VpnUser) {
			vu.Annotations = map[string]string{vpnv1alpha1.AnnotationAdopt: "true"}
		})
		apply(vu, goodPassword)
		eventuallyReason(vu, vpnv1alpha1.ReasonAdoptionNotAllowed)
		Consistently(hasFinalizer(vu)).Should(BeFalse())
		untouched(cloud, id)

		By("an observed user switched to Manage is not taken over either")
		observed := newVpnUser(ns, "observed", func(vu *vpnv1alpha1.VpnUser) {
			vu.Spec.UserName = "legacy-user"
			vu.Spec.ManagementPolicy = vpnv1alpha1.ManagementPolicyObserve
		})
		deleteObject(vu)
		eventuallyGone(vu)
		apply(observed, goodPassword)
		eventuallyReason(observed, vpnv1alpha1.ReasonObserved)
		update(observed, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.ManagementPolicy = vpnv1alpha1.ManagementPolicyManage })
		eventuallyReason(observed, vpnv1alpha1.ReasonAdoptionNotAllowed)
		untouched(cloud, id)
		deleteObject(observed)
		eventuallyGone(observed)
		untouched(cloud, id)
	})
})

var _ = Describe("Credentials of another project", func() {
	var (
		ns    string
		cloud *vpnapitest.Server
	)
	BeforeEach(func() {
		ns = newNamespace()
		cloud = newTwoProjectCloud()
		startOperator(ns, cloud, operatorOptions{noDefaultCredentials: true})
	})
	withKeys := func(vu *vpnv1alpha1.VpnUser) {
		vu.Spec.CredentialsSecretRef = &vpnv1alpha1.LocalSecretReference{Name: keysSecret}
	}

	It("refuses to act on a user through credentials of another project, and goes on when they come back", func() {
		create(credentialsSecret(ns, keysSecret, vpnapitest.DefaultAccessKey, vpnapitest.DefaultSecretKey, project))
		vu := newVpnUser(ns, "one-project", withKeys)
		apply(vu, goodPassword)
		id := eventuallyReady(vu).Status.ID

		updateSecret(ns, keysSecret, func(s *corev1.Secret) {
			s.Data[vpnv1alpha1.CredentialsKeyAccessKey] = []byte(accessKey2)
			s.Data[vpnv1alpha1.CredentialsKeySecretKey] = []byte(secretKey2)
			s.Data[vpnv1alpha1.CredentialsKeyProjectID] = []byte(project2)
		})
		got := eventuallyReason(vu, vpnv1alpha1.ReasonProjectMismatch)
		Expect(got.Status.ID).To(Equal(id))
		for _, c := range cloud.Calls() {
			Expect(c.AccessKey).NotTo(Equal(accessKey2), "a call went out with the other project's keys")
		}
		deleteObject(vu)
		Consistently(func() error { _, err := fetchErr(vu); return err }).Should(Succeed())

		updateSecret(ns, keysSecret, func(s *corev1.Secret) {
			s.Data[vpnv1alpha1.CredentialsKeyAccessKey] = []byte(vpnapitest.DefaultAccessKey)
			s.Data[vpnv1alpha1.CredentialsKeySecretKey] = []byte(vpnapitest.DefaultSecretKey)
			s.Data[vpnv1alpha1.CredentialsKeyProjectID] = []byte(project)
		})
		eventuallyGone(vu)
		Expect(cloud.Users(project, server)).To(BeEmpty())
	})

	It("deletes the user of a VpnUser whose credentials Secret went first, as a namespace deletion does", func() {
		keys := credentialsSecret(ns, keysSecret, vpnapitest.DefaultAccessKey, vpnapitest.DefaultSecretKey, project)
		create(keys)
		vu := newVpnUser(ns, "ns-deleted", withKeys)
		apply(vu, goodPassword)
		eventuallyReady(vu)
		Expect(k8sClient.Delete(testContext(), keys)).To(Succeed())
		deleteObject(vu)
		eventuallyGone(vu)
		Expect(cloud.Users(project, server)).To(BeEmpty())
	})
})

var _ = Describe("The reconciler's memory", func() {
	var (
		ns    string
		cloud *vpnapitest.Server
		op    *operator
	)
	freshSpecWithOperator(&ns, &cloud, &op, operatorOptions{})

	It("frees everything it kept about a VpnUser whose finalizer was removed by hand", func() {
		vu := newVpnUser(ns, "hand-freed")
		apply(vu, goodPassword)
		eventuallyReady(vu)
		Expect(op.reconciler.mem.entries()).To(BeNumerically(">", 0))

		stored := fetch(vu)
		controllerutil.RemoveFinalizer(stored, vpnv1alpha1.Finalizer)
		Expect(k8sClient.Update(testContext(), stored)).To(Succeed())
		deleteObject(vu)
		eventuallyGone(vu)
		Eventually(op.reconciler.mem.entries).Should(BeZero())
	})
})

var _ = Describe("A throttled project", func() {
	It("does not hold up the users of another project", func() {
		ns1, ns2 := newNamespace(), newNamespace()
		cloud := newTwoProjectCloud()
		startOperator(ns1, cloud, operatorOptions{noDefaultCredentials: true, moreNamespaces: []string{ns2}, cloudQPS: 1})
		create(credentialsSecret(ns1, keysSecret, vpnapitest.DefaultAccessKey, vpnapitest.DefaultSecretKey, project))
		create(credentialsSecret(ns2, keysSecret, accessKey2, secretKey2, project2))
		withKeys := func(vu *vpnv1alpha1.VpnUser) {
			vu.Spec.CredentialsSecretRef = &vpnv1alpha1.LocalSecretReference{Name: keysSecret}
		}
		const backlog = 200
		for i := range backlog {
			apply(newVpnUser(ns1, fmt.Sprintf("queued-%03d", i), withKeys), goodPassword)
		}
		// Project 1 has about three calls per user to make at one a second: ten minutes.
		start := time.Now()
		other := newVpnUser(ns2, "other-project", withKeys, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.VpnServerID = server2 })
		apply(other, goodPassword)
		Eventually(func() bool { return condition(fetch(other), vpnv1alpha1.ConditionReady).Status == metav1.ConditionTrue }).
			WithTimeout(time.Minute).Should(BeTrue())
		took := time.Since(start)
		AddReportEntry("a user of project 2 Ready behind 200 users of project 1 at 1 call/s", took.Round(10*time.Millisecond).String())
		GinkgoWriter.Printf("fairness: project 2's user Ready in %s with %d users of project 1 pending at 1 call/s\n", took.Round(10*time.Millisecond), backlog)
		ready := 0
		var list vpnv1alpha1.VpnUserList
		Expect(k8sClient.List(testContext(), &list, client.InNamespace(ns1))).To(Succeed())
		for _, vu := range list.Items {
			if condition(&vu, vpnv1alpha1.ConditionReady).Status == metav1.ConditionTrue {
				ready++
			}
		}
		Expect(ready).To(BeNumerically("<", backlog), "project 1 was not throttled: the spec proves nothing")
	})
})

var _ = Describe("A restart", func() {
	It("reads no complete VpnUser back at once, writes nothing, and serves new work at once", func() {
		ns := newNamespace()
		cloud := newCloud()
		first := startOperator(ns, cloud, operatorOptions{syncPeriod: time.Minute})
		var users []*vpnv1alpha1.VpnUser
		for i := range 5 {
			vu := newVpnUser(ns, fmt.Sprintf("settled-%d", i))
			apply(vu, goodPassword)
			users = append(users, vu)
		}
		for _, vu := range users {
			eventuallyReady(vu)
		}
		first.stop()
		cloud.ResetCalls()

		second := startOperator(ns, cloud, operatorOptions{syncPeriod: time.Minute})
		fresh := newVpnUser(ns, "after-restart")
		apply(fresh, goodPassword)
		eventuallyReady(fresh)
		Consistently(func() int { return cloud.CountCalls("show") - calls(cloud, "create")() }).
			WithTimeout(2*time.Second).Should(BeNumerically("<=", 1), "complete VpnUsers were read back at once")
		Expect(second.statusWrites.Load()).To(BeNumerically("<=", 2), "only the new VpnUser's status was written")

		By("a change is still served at once")
		update(users[0], func(vu *vpnv1alpha1.VpnUser) { vu.Spec.Description = "changed_after_restart" })
		Eventually(func() string { return fetch(users[0]).Status.Description }).Should(Equal("changed_after_restart"))
	})
})
