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
	"fmt"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/leakcheck"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

var _ = Describe("Keyless credentials", func() {
	var (
		ns    string
		cloud *vpnapitest.Server
	)
	freshSpec(&ns, &cloud)

	It("reports CredentialsUnavailable when the pod identity agent fails past the credentials' expiry, and recovers by itself", func() {
		Expect(cloud.SetKeyless(vpnapitest.Keyless{ProjectID: project})).To(Succeed())
		dir := GinkgoT().TempDir()
		tokenFile := filepath.Join(dir, "token")
		Expect(os.WriteFile(tokenFile, []byte(vpnapitest.DefaultPodIdentityToken), 0o600)).To(Succeed())
		source := &vpnapi.PodIdentitySource{URI: cloud.URL + vpnapitest.PodIdentityPath, TokenFile: tokenFile}
		refresher := vpnapi.NewRefresher(vpnapi.RefresherConfig{Source: source, ProjectID: project})
		ctx, cancel := context.WithCancel(context.Background())
		DeferCleanup(cancel)
		go func() { _ = refresher.Start(ctx) }()

		retry := testRetry
		retry.CredentialsUnavailable = 200 * time.Millisecond
		startOperator(ns, cloud, operatorOptions{credentials: refresher, retry: &retry,
			credentialsSource: vpnapi.DescribeSource(vpnapi.SourcePodIdentity)})

		vu := newVpnUser(ns, "keyless")
		apply(vu, "Keyless-Pass-01")
		eventuallyReady(vu)

		By("the agent fails and the cloud ends the credentials")
		cloud.InjectFault(vpnapitest.Fault{Operation: vpnapitest.OpPodIdentity, Times: 100000, Status: 503, Message: "agent down"})
		Expect(cloud.ExpireCredentials("")).To(Equal(1))
		update(vu, func(v *vpnv1alpha1.VpnUser) { v.Spec.Description = "changed_while_the_agent_is_down" })
		failed := eventuallyReason(vu, vpnv1alpha1.ReasonCredentialsUnavailable)
		ready := condition(failed, vpnv1alpha1.ConditionReady)
		Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		Expect(ready.Message).To(And(ContainSubstring(vpnapi.EnvContainerCredentialsURI), ContainSubstring("503")))
		var secrets []string
		for _, c := range cloud.IssuedCredentials() {
			secrets = append(secrets, c.SecretKey, c.SecurityToken)
		}
		secrets = append(secrets, vpnapitest.DefaultPodIdentityToken)
		Expect(leakcheck.Find(ready.Message, secrets)).To(BeEmpty())
		for _, e := range eventsOf(vu) {
			Expect(leakcheck.Find(e.Note, secrets)).To(BeEmpty(), "event %s", e.Reason)
		}

		By("the agent answers again")
		cloud.ClearFaults()
		recovered := eventuallyReady(vu)
		Expect(recovered.Status.Description).To(Equal("changed_while_the_agent_is_down"))
		Expect(cloud.KeylessStats().ExpiredCredentialRequests).To(Equal(1), "only the request the cloud ended the credentials under")
		Expect(leakcheck.Find(fmt.Sprintf("%+v", recovered.Status), secrets)).To(BeEmpty())
	})
})
