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
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
)

// markWhile against the real API server: the finalizer is patched while the read runs,
// kept when the read lets the reconcile go on, taken off again when it does not.
var _ = Describe("Adding the finalizer while the Secret is read (markWhile)", func() {
	var (
		ns string
		r  *VpnUserReconciler
	)
	BeforeEach(func() {
		ns = newNamespace()
		mem, err := newMemory(time.Now)
		Expect(err).NotTo(HaveOccurred())
		r = &VpnUserReconciler{Client: k8sClient, mem: mem}
	})
	stored := func(vu *vpnv1alpha1.VpnUser) *vpnv1alpha1.VpnUser {
		GinkgoHelper()
		got := &vpnv1alpha1.VpnUser{}
		Expect(k8sClient.Get(testContext(), keyOf(vu), got)).To(Succeed())
		return got
	}
	created := func(name string) *vpnv1alpha1.VpnUser {
		GinkgoHelper()
		vu := newVpnUser(ns, name)
		Expect(k8sClient.Create(testContext(), vu)).To(Succeed())
		return vu
	}

	It("runs the read and the patch side by side, and keeps the finalizer when the read goes on", func() {
		vu := created("marked")
		sawFinalizer := false
		o := r.markWhile(testContext(), vu, func() *outcome {
			// Sequential code would patch only after this returns: the read would never see it.
			sawFinalizer = Eventually(func() []string { return stored(vu).Finalizers }).
				WithTimeout(5 * time.Second).Should(ContainElement(vpnv1alpha1.Finalizer))
			return nil
		})
		Expect(o).To(BeNil())
		Expect(sawFinalizer).To(BeTrue())
		Expect(vu.Finalizers).To(ContainElement(vpnv1alpha1.Finalizer))
		Expect(vu.ResourceVersion).To(Equal(stored(vu).ResourceVersion), "vu is the object the patch answered")
	})

	It("takes the finalizer off again when the read ends the reconcile", func() {
		vu := created("unmarked")
		want := stalled(vpnv1alpha1.ReasonInvalidPassword, "weak")
		o := r.markWhile(testContext(), vu, func() *outcome { return want })
		Expect(o).To(BeIdenticalTo(want))
		Expect(o.err).NotTo(HaveOccurred())
		Expect(vu.Finalizers).NotTo(ContainElement(vpnv1alpha1.Finalizer))
		Expect(stored(vu).Finalizers).NotTo(ContainElement(vpnv1alpha1.Finalizer))
	})

	It("leaves the VpnUser as it was when the finalizer cannot be added", func() {
		vu := created("conflicted")
		changed := stored(vu)
		changed.Labels = map[string]string{"changed": "elsewhere"}
		Expect(k8sClient.Update(testContext(), changed)).To(Succeed())

		o := r.markWhile(testContext(), vu, func() *outcome { return nil })
		Expect(o).NotTo(BeNil())
		Expect(o.reason).To(Equal(vpnv1alpha1.ReasonProgressing))
		Expect(apierrors.IsConflict(o.err)).To(BeTrue(), "the stale copy conflicts: %v", o.err)
		Expect(vu.Finalizers).NotTo(ContainElement(vpnv1alpha1.Finalizer))

		want := waiting(vpnv1alpha1.ReasonSecretNotFound, "no Secret", nil)
		Expect(r.markWhile(testContext(), vu, func() *outcome { return want })).To(BeIdenticalTo(want))
		Expect(stored(vu).Finalizers).NotTo(ContainElement(vpnv1alpha1.Finalizer))
	})
})
