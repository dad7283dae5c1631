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
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

// A second project of the fake cloud, with its own key pair and server.
const (
	project2   = "1c9d2f7a4e6b5c3d8a9f0e1d2c3b4a51"
	accessKey2 = "FAKEAKSECONDPROJECT01"
	secretKey2 = "SecondProjectSecretKeyOfTheFakeCloud0001"
	server2    = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
)

// newTwoProjectCloud is the default fake cloud plus project2.
func newTwoProjectCloud() *vpnapitest.Server {
	opts := vpnapitest.DefaultOptions()
	opts.Projects = append(opts.Projects, vpnapitest.Project{
		ID: project2, AccessKey: accessKey2, SecretKey: secretKey2,
		Servers: []vpnapitest.VPNServer{{ID: server2, AuthType: vpnapitest.AuthLocalPassword, State: vpnapitest.StateActive}},
	})
	cloud := vpnapitest.NewServer(opts)
	DeferCleanup(cloud.Close)
	return cloud
}

func credentialsSecret(ns, name, ak, sk, projectID string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Data: map[string][]byte{
			vpnv1alpha1.CredentialsKeyAccessKey: []byte(ak),
			vpnv1alpha1.CredentialsKeySecretKey: []byte(sk),
			vpnv1alpha1.CredentialsKeyProjectID: []byte(projectID),
		},
	}
}

// updateSecret changes a Secret with a retry on conflicts.
func updateSecret(ns, name string, change func(*corev1.Secret)) {
	GinkgoHelper()
	Eventually(func() error {
		s := &corev1.Secret{}
		if err := k8sClient.Get(testContext(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			return err
		}
		change(s)
		return k8sClient.Update(testContext(), s)
	}).Should(Succeed())
}

// userCalls counts the calls of operation on one cloud user ("" for every operation).
func userCalls(cloud *vpnapitest.Server, userID, operation string) func() int {
	return func() int {
		n := 0
		for _, c := range cloud.Calls() {
			if c.UserID == userID && (operation == "" || c.Operation == operation) {
				n++
			}
		}
		return n
	}
}

// operations lists the operations of the calls the fake saw.
func operations(cloud *vpnapitest.Server) []string {
	var out []string
	for _, c := range cloud.Calls() {
		out = append(out, c.Operation)
	}
	return out
}

func kstatusOf(vu *vpnv1alpha1.VpnUser) status.Status {
	GinkgoHelper()
	res, err := status.Compute(toUnstructured(vu))
	Expect(err).NotTo(HaveOccurred())
	return res.Status
}

func annotate(vu *vpnv1alpha1.VpnUser, key, value string) {
	GinkgoHelper()
	update(vu, func(vu *vpnv1alpha1.VpnUser) {
		if vu.Annotations == nil {
			vu.Annotations = map[string]string{}
		}
		vu.Annotations[key] = value
	})
}

var _ = Describe("Password Secret versions", func() {
	var (
		ns    string
		cloud *vpnapitest.Server
		op    *operator
	)
	freshSpecWithOperator(&ns, &cloud, &op, operatorOptions{})

	It("records a metadata-only change of the Secret without a reset", func() {
		vu := newVpnUser(ns, "labelled")
		apply(vu, goodPassword)
		first := eventuallyReady(vu)

		updateSecret(ns, vu.Spec.PasswordSecretRef.Name, func(s *corev1.Secret) {
			s.Labels = map[string]string{"app.kubernetes.io/managed-by": "Helm"}
		})
		Eventually(func(g Gomega) {
			got := eventuallyReady(vu)
			g.Expect(got.Status.AppliedPasswordSecret.ResourceVersion).NotTo(Equal(first.Status.AppliedPasswordSecret.ResourceVersion))
			g.Expect(got.Status.RejectedPasswordSecret).To(BeNil())
		}).Should(Succeed())
		Consistently(calls(cloud, "reset_password"), 500*time.Millisecond).Should(BeZero())
		Expect(condition(fetch(vu), vpnv1alpha1.ConditionReady).Reason).To(Equal(vpnv1alpha1.ReasonCreated))
		Expect(op.events.count(vu.Name, vpnv1alpha1.ReasonPasswordRejected)()).To(BeZero())

		By("changing the password afterwards: one reset")
		setPassword(vu, rotatedPassword)
		Eventually(calls(cloud, "reset_password")).Should(Equal(1))
		Expect(cloud.CheckPassword(project, server, first.Status.ID, rotatedPassword)).To(BeTrue())
	})

	It("takes a reset whose answer was lost, then refused as reused, for applied", func() {
		vu := newVpnUser(ns, "lost-reset")
		apply(vu, goodPassword)
		id := eventuallyReady(vu).Status.ID

		cloud.InjectFault(vpnapitest.Fault{Operation: "reset_password", LoseResponse: true})
		setPassword(vu, rotatedPassword)
		Eventually(calls(cloud, "reset_password")).Should(Equal(2))
		Eventually(func(g Gomega) {
			got := eventuallyReady(vu)
			g.Expect(got.Status.RejectedPasswordSecret).To(BeNil())
			g.Expect(got.Status.AppliedPasswordSecret).NotTo(BeNil())
		}).Should(Succeed())
		Expect(cloud.CheckPassword(project, server, id, rotatedPassword)).To(BeTrue())
		Eventually(eventReasons(vu)).Should(ContainElement("Normal/PasswordReset"))
		Expect(eventReasons(vu)()).NotTo(ContainElement("Warning/PasswordRejected"))
		Expect(op.events.count(vu.Name, vpnv1alpha1.ReasonPasswordRejected)()).To(BeZero())
	})

	It("takes a reset applied just before the operator stopped for applied, after a restart", func() {
		vu := newVpnUser(ns, "crash-reset")
		apply(vu, goodPassword)
		id := eventuallyReady(vu).Status.ID

		By("losing the reset's answer, then stopping the operator before it tries again")
		cloud.InjectFault(vpnapitest.Fault{Operation: "reset_password", LoseResponse: true})
		cloud.InjectFault(vpnapitest.Fault{Operation: "reset_password", Status: 503, Code: "VPN.0002", Times: 1000})
		setPassword(vu, rotatedPassword)
		Eventually(func() *vpnv1alpha1.AppliedSecret { return fetch(vu).Status.PendingPasswordSecret }).ShouldNot(BeNil())
		Eventually(calls(cloud, "reset_password")).Should(BeNumerically(">=", 2))
		op.stop()
		Expect(cloud.CheckPassword(project, server, id, rotatedPassword)).To(BeTrue())

		By("a new process, which knows nothing of the lost answer but what the status says")
		cloud.ClearFaults()
		op = startOperator(ns, cloud, operatorOptions{})
		Eventually(func(g Gomega) {
			got := eventuallyReady(vu)
			g.Expect(got.Status.PendingPasswordSecret).To(BeNil())
			g.Expect(got.Status.RejectedPasswordSecret).To(BeNil())
			g.Expect(got.Status.AppliedPasswordSecret).NotTo(BeNil())
		}).Should(Succeed())
		Expect(cloud.CheckPassword(project, server, id, rotatedPassword)).To(BeTrue())
		Expect(eventReasons(vu)()).NotTo(ContainElement("Warning/PasswordRejected"))
	})
})

var _ = Describe("Create tokens and a cloud that is eventually consistent", func() {
	var (
		ns    string
		cloud *vpnapitest.Server
		op    *operator
	)
	freshSpecWithOperator(&ns, &cloud, &op, operatorOptions{})

	It("sends a new idempotency token after a create the cloud refused", func() {
		vu := newVpnUser(ns, "regrouped", func(vu *vpnv1alpha1.VpnUser) {
			vu.Spec.UserGroupID = "11111111-2222-4333-8444-555555555555"
		})
		apply(vu, goodPassword)
		got := eventuallyReason(vu, vpnv1alpha1.ReasonInvalidSpec)
		Expect(got.Status.RefusedCreates).To(Equal(int32(1)))

		update(vu, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.UserGroupID = vpnapitest.DefaultGroupID })
		created := eventuallyReady(vu)
		Expect(cloudUsers(cloud)).To(HaveLen(1))
		Expect(cloudUsers(cloud)[0].ID).To(Equal(created.Status.ID))
		var tokens []string
		for _, c := range cloud.Calls() {
			if c.Operation == "create" {
				tokens = append(tokens, c.ClientToken)
			}
		}
		Expect(tokens).To(HaveLen(2))
		Expect(tokens[0]).NotTo(Equal(tokens[1]))
		Expect(tokens[0]).To(Equal(string(created.UID)))
		Expect(cloudUsers(cloud)[0].ClientToken).To(Equal(tokens[1]))
	})

	It("waits for a new user that the cloud does not show yet instead of creating it again", func() {
		cloud.InjectFault(vpnapitest.Fault{Operation: "show", Status: 404, Code: "VPN.0004", Times: 2})
		vu := newVpnUser(ns, "not-yet-visible")
		apply(vu, goodPassword)
		got := eventuallyReady(vu)
		Expect(got.Status.Recreations).To(BeZero())
		Expect(got.Status.IDRecordedAt).NotTo(BeNil())
		Expect(got.Status.CreatedAt).NotTo(BeNil())
		Expect(cloud.CountCalls("create")).To(Equal(1))
		Expect(cloud.CountCalls("show")).To(BeNumerically(">=", 3))
		Expect(cloudUsers(cloud)).To(HaveLen(1))
		Expect(op.events.count(vu.Name, eventRecreating)()).To(BeZero())

		By("a user seen once is created again at once when the cloud loses it")
		Expect(cloud.DeleteUserOutOfBand(project, server, got.Status.ID)).To(BeTrue())
		annotate(vu, vpnv1alpha1.AnnotationReconcileRequestedAt, "recreate-now")
		Eventually(func() int32 { return fetch(vu).Status.Recreations }).Should(Equal(int32(1)))
		eventuallyReady(vu)
		Expect(cloudUsers(cloud)).To(HaveLen(1))
	})
})

var _ = Describe("The annotation sync-period", func() {
	It("observes each object at its own period, not at all with 0, and warns once about a bad value", func() {
		ns, cloud := newNamespace(), newCloud()
		op := startOperator(ns, cloud, operatorOptions{minObjectSyncPeriod: 500 * time.Millisecond})
		withPeriod := func(p string) func(*vpnv1alpha1.VpnUser) {
			return func(vu *vpnv1alpha1.VpnUser) { vu.Annotations = map[string]string{vpnv1alpha1.AnnotationSyncPeriod: p} }
		}
		fast := newVpnUser(ns, "fast", withPeriod("1s"))
		never := newVpnUser(ns, "never", withPeriod("0"))
		typo := newVpnUser(ns, "typo", withPeriod("5 minutes"))
		short := newVpnUser(ns, "too-short", withPeriod("100ms"))
		for _, vu := range []*vpnv1alpha1.VpnUser{fast, never, typo, short} {
			apply(vu, goodPassword)
		}
		ids := map[string]string{}
		for _, vu := range []*vpnv1alpha1.VpnUser{fast, never, typo, short} {
			got := eventuallyReady(vu)
			Expect(condition(got, vpnv1alpha1.ConditionReady).Reason).To(Equal(vpnv1alpha1.ReasonCreated))
			ids[vu.Name] = got.Status.ID
		}

		start := time.Now()
		fastGets, neverGets, typoGets := userCalls(cloud, ids["fast"], "show")(), userCalls(cloud, ids["never"], "show")(),
			userCalls(cloud, ids["typo"], "show")()
		time.Sleep(5 * time.Second)
		elapsed := time.Since(start)
		observed := userCalls(cloud, ids["fast"], "show")() - fastGets
		GinkgoWriter.Printf("GETs of the object at 1s in %s: %d\n", elapsed, observed)
		Expect(observed).To(BeNumerically(">=", int(elapsed/time.Second)-1))
		Expect(observed).To(BeNumerically("<=", int(elapsed/time.Second)+1))
		Expect(userCalls(cloud, ids["never"], "show")()).To(Equal(neverGets), "no periodic GET at 0")
		Expect(userCalls(cloud, ids["typo"], "show")()).To(Equal(typoGets), "the global period (1h) is used")

		for _, vu := range []*vpnv1alpha1.VpnUser{typo, short} {
			e, found := findEvent(vu, vpnv1alpha1.ReasonInvalidAnnotation)
			Expect(found).To(BeTrue())
			Expect(e.Type).To(Equal(corev1.EventTypeWarning))
			Expect(e.Note).To(And(ContainSubstring(vpnv1alpha1.AnnotationSyncPeriod), ContainSubstring("30s"), ContainSubstring("24h")))
		}
		By("reconciling the bad one again: no second event for the same value")
		update(typo, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.Description = "changed" })
		eventuallyReady(typo)
		Expect(op.events.count("typo", vpnv1alpha1.ReasonInvalidAnnotation)()).To(Equal(1))
		Expect(condition(fetch(typo), vpnv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	})
})

var _ = Describe("managementPolicy Observe", func() {
	var (
		ns    string
		cloud *vpnapitest.Server
	)
	freshSpec(&ns, &cloud)

	observed := func(name string) *vpnv1alpha1.VpnUser {
		return newVpnUser(ns, name, func(vu *vpnv1alpha1.VpnUser) {
			vu.Spec.ManagementPolicy = vpnv1alpha1.ManagementPolicyObserve
			vu.Spec.PasswordSecretRef = vpnv1alpha1.SecretKeyReference{}
			vu.Spec.Description = ""
		})
	}

	It("only reads the cloud user, for its whole life, deletion included", func() {
		startOperator(ns, cloud, operatorOptions{syncPeriod: time.Second})
		id, err := cloud.CreateUserOutOfBand(project, server, "watched", "Console-Passw0rd")
		Expect(err).NotTo(HaveOccurred())
		vu := observed("watched")
		create(vu)

		got := eventuallyReason(vu, vpnv1alpha1.ReasonObserved)
		Expect(condition(got, vpnv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		Expect(got.Status.ID).To(Equal(id))
		Expect(kstatusOf(eventuallyReady(vu))).To(Equal(status.CurrentStatus))

		By("changing the user in the console: the status shows it, nothing puts it back")
		Expect(cloud.UpdateUserOutOfBand(project, server, id, ptr.To("console_change"), ptr.To(vpnapitest.SecondGroupID))).To(BeTrue())
		Eventually(func() string { return fetch(vu).Status.Description }).Should(Equal("console_change"))
		Expect(fetch(vu).Status.UserGroupName).To(Equal(vpnapitest.SecondGroupName))

		By("deleting it with deletionPolicy Delete")
		Expect(fetch(vu).Spec.DeletionPolicy).To(Equal(vpnv1alpha1.DeletionPolicyDelete))
		deleteObject(vu)
		eventuallyGone(vu)
		u, ok := cloud.User(project, server, id)
		Expect(ok).To(BeTrue())
		Expect(u.Description).To(Equal("console_change"))
		Expect(u.Password).To(Equal("Console-Passw0rd"))
		ops := operations(cloud)
		GinkgoWriter.Printf("calls of the observed user over its life: %d %v\n", len(ops), countByOperation(ops))
		Expect(ops).NotTo(BeEmpty())
		Expect(ops).To(HaveEach(BeElementOf("show", "list")))
		Expect(cloud.CountCalls("list")).To(Equal(1), "found by name once, then by id")
		Expect(userCalls(cloud, id, "")()).To(Equal(cloud.CountCalls("show")))
	})

	It("reports NotFound, in progress, and finds the user once it exists", func() {
		startOperator(ns, cloud, operatorOptions{syncPeriod: time.Second})
		vu := observed("latecomer")
		create(vu)
		got := eventuallyReason(vu, vpnv1alpha1.ReasonNotFound)
		Expect(condition(got, vpnv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
		Expect(condition(got, vpnv1alpha1.ConditionReconciling).Status).To(Equal(metav1.ConditionTrue))
		Expect(condition(got, vpnv1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionFalse))
		Expect(condition(got, vpnv1alpha1.ConditionReady).Message).To(ContainSubstring("latecomer"))
		Expect(kstatusOf(got)).To(Equal(status.InProgressStatus))
		Expect(cloud.CountCalls("create")).To(BeZero())

		id, err := cloud.CreateUserOutOfBand(project, server, "latecomer", "Console-Passw0rd")
		Expect(err).NotTo(HaveOccurred())
		Expect(eventuallyReason(vu, vpnv1alpha1.ReasonObserved).Status.ID).To(Equal(id))
		Expect(operations(cloud)).To(HaveEach(BeElementOf("show", "list")))
	})

	It("takes the observed user over under Manage, and stops writing under Observe again", func() {
		op := startOperator(ns, cloud, operatorOptions{})
		id, err := cloud.CreateUserOutOfBand(project, server, "handover", "Console-Passw0rd")
		Expect(err).NotTo(HaveOccurred())
		vu := observed("handover")
		create(vu)
		Expect(eventuallyReason(vu, vpnv1alpha1.ReasonObserved).Status.ID).To(Equal(id))

		By("switching to Manage")
		create(newPasswordSecret(ns, "handover-password", goodPassword))
		update(vu, func(vu *vpnv1alpha1.VpnUser) {
			vu.Spec.ManagementPolicy = vpnv1alpha1.ManagementPolicyManage
			vu.Spec.PasswordSecretRef = vpnv1alpha1.SecretKeyReference{Name: "handover-password"}
			vu.Spec.Description = "managed_now"
		})
		got := eventuallyReady(vu)
		Expect(condition(got, vpnv1alpha1.ConditionReady).Reason).To(Equal(vpnv1alpha1.ReasonAdopted))
		Expect(got.Status.ID).To(Equal(id))
		Expect(cloudUsers(cloud)).To(HaveLen(1))
		Expect(cloud.CountCalls("create")).To(BeZero())
		Expect(cloud.CheckPassword(project, server, id, goodPassword)).To(BeTrue())
		u, _ := cloud.User(project, server, id)
		Expect(u.Description).To(Equal("managed_now"))
		Eventually(eventReasons(vu)).Should(ContainElement("Normal/Adopted"))
		Expect(op.events.count(vu.Name, eventAdopted)()).To(Equal(1))

		By("switching back to Observe: no write any more")
		update(vu, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.ManagementPolicy = vpnv1alpha1.ManagementPolicyObserve })
		eventuallyReason(vu, vpnv1alpha1.ReasonObserved)
		writes := cloud.CountCalls("update") + cloud.CountCalls("reset_password") + cloud.CountCalls("create") + cloud.CountCalls("delete")
		updateSecret(ns, "handover-password", func(s *corev1.Secret) {
			s.Data = map[string][]byte{vpnv1alpha1.DefaultPasswordKey: []byte(rotatedPassword)}
		})
		update(vu, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.Description = "ignored" })
		Expect(cloud.UpdateUserOutOfBand(project, server, id, ptr.To("console_again"), nil)).To(BeTrue())
		annotate(vu, vpnv1alpha1.AnnotationReconcileRequestedAt, "look")
		Eventually(func() string { return fetch(vu).Status.Description }).Should(Equal("console_again"))
		deleteObject(vu)
		eventuallyGone(vu)
		Expect(cloud.CountCalls("update") + cloud.CountCalls("reset_password") + cloud.CountCalls("create") +
			cloud.CountCalls("delete")).To(Equal(writes))
		Expect(cloud.CheckPassword(project, server, id, goodPassword)).To(BeTrue())
	})
})

func countByOperation(ops []string) map[string]int {
	out := map[string]int{}
	for _, o := range ops {
		out[o]++
	}
	return out
}

var _ = Describe("The annotation reconcile-requested-at", func() {
	It("reconciles at once with a GET and records the value, but not while paused", func() {
		ns, cloud := newNamespace(), newCloud()
		startOperator(ns, cloud, operatorOptions{})
		vu := newVpnUser(ns, "on-request")
		apply(vu, goodPassword)
		id := eventuallyReady(vu).Status.ID
		Consistently(userCalls(cloud, id, "show"), 300*time.Millisecond).Should(Equal(1))

		value := fmt.Sprint(time.Now().Unix())
		annotate(vu, vpnv1alpha1.AnnotationReconcileRequestedAt, value)
		Eventually(func() string { return fetch(vu).Status.LastHandledReconcileAt }).Should(Equal(value))
		Expect(userCalls(cloud, id, "show")()).To(Equal(2))

		By("pausing: a new request is not recorded, and calls nothing")
		annotate(vu, vpnv1alpha1.AnnotationPaused, annotationEnabled)
		eventuallyReason(vu, vpnv1alpha1.ReasonPaused)
		n := cloud.CountCalls("")
		annotate(vu, vpnv1alpha1.AnnotationReconcileRequestedAt, "while-paused")
		Consistently(func() string { return fetch(vu).Status.LastHandledReconcileAt }, time.Second).Should(Equal(value))
		Expect(cloud.CountCalls("")).To(Equal(n))

		By("resuming: the request is handled")
		update(vu, func(vu *vpnv1alpha1.VpnUser) { delete(vu.Annotations, vpnv1alpha1.AnnotationPaused) })
		Eventually(func() string { return fetch(vu).Status.LastHandledReconcileAt }).Should(Equal("while-paused"))
		eventuallyReady(vu)
		Expect(userCalls(cloud, id, "show")()).To(BeNumerically(">=", 3))
	})
})

var _ = Describe("Per-namespace cloud credentials", func() {
	var (
		ns1, ns2 string
		cloud    *vpnapitest.Server
	)
	BeforeEach(func() {
		ns1, ns2 = newNamespace(), newNamespace()
		cloud = newTwoProjectCloud()
	})

	withCredentials := func(name string) func(*vpnv1alpha1.VpnUser) {
		return func(vu *vpnv1alpha1.VpnUser) {
			vu.Spec.CredentialsSecretRef = &vpnv1alpha1.LocalSecretReference{Name: name}
		}
	}

	It("puts each namespace's users in its own project, and nothing crosses", func() {
		startOperator(ns1, cloud, operatorOptions{noDefaultCredentials: true, moreNamespaces: []string{ns2}})
		create(credentialsSecret(ns1, "cloud", vpnapitest.DefaultAccessKey, vpnapitest.DefaultSecretKey, project))
		create(credentialsSecret(ns2, "cloud", accessKey2, secretKey2, project2))
		alice := newVpnUser(ns1, "alice", withCredentials("cloud"))
		bob := newVpnUser(ns2, "bobby", withCredentials("cloud"), func(vu *vpnv1alpha1.VpnUser) { vu.Spec.VpnServerID = server2 })
		// A user of ns2 that names the server of project 1: its keys cannot reach it.
		mallory := newVpnUser(ns2, "mallory", withCredentials("cloud"))
		apply(alice, goodPassword)
		apply(bob, goodPassword)
		apply(mallory, goodPassword)

		aliceID := eventuallyReady(alice).Status.ID
		bobID := eventuallyReady(bob).Status.ID
		eventuallyReason(mallory, vpnv1alpha1.ReasonServerNotFound)
		Expect(cloud.Users(project, server)).To(ConsistOf(HaveField("User.ID", aliceID)))
		Expect(cloud.Users(project2, server2)).To(ConsistOf(HaveField("User.ID", bobID)))
		for _, c := range cloud.Calls() {
			switch c.AccessKey {
			case vpnapitest.DefaultAccessKey:
				Expect(c.ProjectID).To(Equal(project))
			case accessKey2:
				Expect(c.ProjectID).To(Equal(project2))
			default:
				Fail("a call with an unknown access key: " + c.AccessKey)
			}
		}

		By("a VpnUser without credentialsSecretRef, and no default credentials")
		orphan := newVpnUser(ns1, "no-credentials")
		calls := cloud.CountCalls("")
		apply(orphan, goodPassword)
		got := eventuallyReason(orphan, vpnv1alpha1.ReasonCredentialsNotFound)
		Expect(condition(got, vpnv1alpha1.ConditionReady).Message).To(And(
			ContainSubstring("--default-credentials=none"), ContainSubstring("spec.credentialsSecretRef")))
		Expect(kstatusOf(got)).To(Equal(status.InProgressStatus))
		Expect(cloud.CountCalls("")).To(Equal(calls))
	})

	It("reports missing credentials without a cloud call, and uses them once they come", func() {
		startOperator(ns1, cloud, operatorOptions{noDefaultCredentials: true})
		vu := newVpnUser(ns1, "waiting-keys", withCredentials("tenant-keys"), func(vu *vpnv1alpha1.VpnUser) { vu.Spec.VpnServerID = server2 })
		apply(vu, goodPassword)
		got := eventuallyReason(vu, vpnv1alpha1.ReasonCredentialsNotFound)
		Expect(condition(got, vpnv1alpha1.ConditionReady).Message).To(ContainSubstring(`"tenant-keys"`))
		Expect(condition(got, vpnv1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionFalse))
		Expect(kstatusOf(got)).To(Equal(status.InProgressStatus))

		By("a Secret without the secret key")
		keys := credentialsSecret(ns1, "tenant-keys", accessKey2, secretKey2, project2)
		delete(keys.Data, vpnv1alpha1.CredentialsKeySecretKey)
		create(keys)
		Eventually(func() string {
			return condition(fetch(vu), vpnv1alpha1.ConditionReady).Message
		}).Should(And(ContainSubstring(`"tenant-keys"`), ContainSubstring(vpnv1alpha1.CredentialsKeySecretKey)))
		Expect(condition(fetch(vu), vpnv1alpha1.ConditionReady).Reason).To(Equal(vpnv1alpha1.ReasonCredentialsNotFound))
		Expect(cloud.CountCalls("")).To(BeZero())

		By("adding the key")
		updateSecret(ns1, "tenant-keys", func(s *corev1.Secret) {
			s.Data[vpnv1alpha1.CredentialsKeySecretKey] = []byte(secretKey2)
		})
		eventuallyReady(vu)
		Expect(cloud.Users(project2, server2)).To(HaveLen(1))
	})

	It("reports keys the cloud refuses and picks up a rotated key pair without a restart", func() {
		startOperator(ns1, cloud, operatorOptions{noDefaultCredentials: true})
		create(credentialsSecret(ns1, "rotating", accessKey2, secretKey2, project2))
		vu := newVpnUser(ns1, "rotated", withCredentials("rotating"), func(vu *vpnv1alpha1.VpnUser) { vu.Spec.VpnServerID = server2 })
		apply(vu, goodPassword)
		id := eventuallyReady(vu).Status.ID

		By("rotating the key pair in the cloud only")
		const newAK, newSK = "FAKEAKSECONDPROJECT02", "SecondProjectSecretKeyOfTheFakeCloud0002"
		cloud.SetCredentials(project2, newAK, newSK, "")
		annotate(vu, vpnv1alpha1.AnnotationReconcileRequestedAt, "after-rotation")
		got := eventuallyReason(vu, vpnv1alpha1.ReasonCloudAuthFailed)
		message := condition(got, vpnv1alpha1.ConditionReady).Message
		Expect(message).To(And(ContainSubstring(`credentials Secret "rotating"`), ContainSubstring("401")))
		Expect(message).NotTo(ContainSubstring(secretKey2))

		By("putting the new pair in the Secret")
		updateSecret(ns1, "rotating", func(s *corev1.Secret) {
			s.Data[vpnv1alpha1.CredentialsKeyAccessKey] = []byte(newAK)
			s.Data[vpnv1alpha1.CredentialsKeySecretKey] = []byte(newSK)
		})
		Expect(eventuallyReady(vu).Status.ID).To(Equal(id))
		last := cloud.Calls()[len(cloud.Calls())-1]
		Expect(last.AccessKey).To(Equal(newAK))
	})

	It("keeps the finalizer of a Delete VpnUser whose credentials Secret is gone and that it has not read since it started", func() {
		first := startOperator(ns1, cloud, operatorOptions{noDefaultCredentials: true})
		create(credentialsSecret(ns1, "short-lived", accessKey2, secretKey2, project2))
		vu := newVpnUser(ns1, "stranded", withCredentials("short-lived"), func(vu *vpnv1alpha1.VpnUser) { vu.Spec.VpnServerID = server2 })
		apply(vu, goodPassword)
		id := eventuallyReady(vu).Status.ID

		// A running operator would use the credentials it last read (see "Credentials of
		// another project"); one started since has none.
		first.stop()
		deleteObject(credentialsSecret(ns1, "short-lived", "", "", ""))
		startOperator(ns1, cloud, operatorOptions{noDefaultCredentials: true})
		deleteObject(vu)
		// The Secret's deletion alone may be reconciled first (CredentialsNotFound for a live
		// VpnUser); the deletion's message follows.
		Eventually(func(g Gomega) {
			got, err := fetchErr(vu)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.Finalizers).To(ContainElement(vpnv1alpha1.Finalizer))
			ready := condition(got, vpnv1alpha1.ConditionReady)
			g.Expect(ready.Reason).To(Equal(vpnv1alpha1.ReasonCredentialsNotFound))
			g.Expect(ready.Message).To(And(
				ContainSubstring(`"short-lived"`), ContainSubstring("restore the Secret"), ContainSubstring("deletionPolicy: Orphan")))
		}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
		Consistently(func(g Gomega) {
			got, err := fetchErr(vu)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.Finalizers).To(ContainElement(vpnv1alpha1.Finalizer))
		}, time.Second).Should(Succeed())
		_, ok := cloud.User(project2, server2, id)
		Expect(ok).To(BeTrue())

		By("restoring the Secret")
		create(credentialsSecret(ns1, "short-lived", accessKey2, secretKey2, project2))
		eventuallyGone(vu)
		Expect(cloud.Users(project2, server2)).To(BeEmpty())
	})
})
