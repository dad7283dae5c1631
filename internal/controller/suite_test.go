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
	"flag"
	"io"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/controlplane"
)

// The suite runs a real kube-apiserver and etcd (built into bin/k8s) with the CRD. Each
// spec gets its own namespace, its own fake cloud and its own operator (a manager whose
// cache sees only that namespace), so specs cannot see each other's calls or objects.
var (
	testEnv   *envtest.Environment
	cfg       *rest.Config
	k8sClient client.Client // direct, uncached: what the API server holds
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controller Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	// client-go logs through klog, a global that must not change once managers run: it
	// goes to klogCapture, which a spec may point at a buffer (see captureKlog).
	klog.SetLogger(zap.New(zap.WriteTo(klogCapture), zap.Level(zapcore.Level(-10))))
	klog.InitFlags(klogFlags)
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
	SetDefaultConsistentlyDuration(time.Second)
	SetDefaultConsistentlyPollingInterval(50 * time.Millisecond)

	Expect(vpnv1alpha1.AddToScheme(scheme.Scheme)).To(Succeed())

	By("starting the local control plane")
	var err error
	testEnv, err = controlplane.NewEnvironment()
	Expect(err).NotTo(HaveOccurred())
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())

	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme.Scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	By("stopping the local control plane")
	if testEnv != nil {
		Eventually(func() error { return testEnv.Stop() }, time.Minute, time.Second).Should(Succeed())
	}
})

var (
	klogCapture = &switchWriter{}
	klogFlags   = flag.NewFlagSet("klog", flag.ContinueOnError)
)

// switchWriter sends what it gets to w, or nowhere.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return len(p), nil
	}
	return s.w.Write(p)
}

// captureKlog sends client-go's logs, at every verbosity, to w until the spec ends.
func captureKlog(w io.Writer) {
	GinkgoHelper()
	klogCapture.mu.Lock()
	klogCapture.w = w
	klogCapture.mu.Unlock()
	Expect(klogFlags.Set("v", "10")).To(Succeed())
	DeferCleanup(func() {
		Expect(klogFlags.Set("v", "0")).To(Succeed())
		klogCapture.mu.Lock()
		klogCapture.w = nil
		klogCapture.mu.Unlock()
	})
}

// testContext is the context of API calls made by the specs themselves. Their logger
// drops everything, so that a spec that captures client-go's logs at high verbosity sees
// only the operator's, not the bodies of the Secrets the spec itself writes.
func testContext() context.Context { return logr.NewContext(context.Background(), logr.Discard()) }
