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
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

const (
	project = vpnapitest.DefaultProjectID
	server  = vpnapitest.DefaultServerID

	goodPassword    = "Initial-Passw0rd"
	rotatedPassword = "Rotated-Passw0rd"
)

// testRetry keeps the waits of the specs short, yet long enough to tell back-off from a
// hot loop.
var testRetry = RetryPolicy{
	Throttled:      200 * time.Millisecond,
	AuthFailed:     time.Second,
	ServerNotFound: time.Second,
	BaseDelay:      50 * time.Millisecond,
	MaxDelay:       time.Second,
	NewUserPoll:    200 * time.Millisecond,
}

// operatorOptions vary the operator a spec runs.
type operatorOptions struct {
	// syncPeriod is the period of observation; long by default, so that a spec sees
	// only the calls it causes.
	syncPeriod time.Duration
	// logger receives the operator's logs (GinkgoWriter by default).
	logger *logr.Logger
	// refuseStatus, when set, may refuse a status write of the operator (a crash stand-in).
	refuseStatus func(vu *vpnv1alpha1.VpnUser) error
	// noDefaultCredentials runs the operator as with --default-credentials=none.
	noDefaultCredentials bool
	// moreNamespaces are watched too.
	moreNamespaces []string
	// minObjectSyncPeriod lowers the least period of the annotation sync-period.
	minObjectSyncPeriod time.Duration
	// retry replaces testRetry.
	retry *RetryPolicy
	// adoptionNamespaces limits adoption (nil: every namespace).
	adoptionNamespaces []string
	// cloudQPS, when set, limits each set of credentials to this many calls per second
	// (burst 1), as --cloud-qps does.
	cloudQPS float64
	// metrics, when set, gets the operator's metrics (the reconciler's and the cloud
	// client's), with vpnuser_user_info when metricsPerObject is set.
	metrics          prometheus.Registerer
	metricsPerObject bool
	// leaderElection runs the manager with leader election (a Lease in the namespace).
	leaderElection bool
	// credentials, when set, replace the default credentials (a keyless source's
	// Refresher); credentialsSource names it, as --credentials-source does.
	credentials       vpnapi.CredentialsProvider
	credentialsSource string
}

// operator is one run of the operator on one namespace, against a fake cloud.
type operator struct {
	cancel context.CancelFunc
	done   chan error

	events *countingRecorder // the events the reconciler emitted, counted by reason

	statusWrites atomic.Int64 // writes of the status subresource
	objectWrites atomic.Int64 // writes of the object (metadata)
	refused      atomic.Int64 // status writes refused by refuseStatus

	reconciler *VpnUserReconciler
}

// startOperator starts a manager with the reconciler, watching namespace ns only.
func startOperator(ns string, cloud *vpnapitest.Server, opts operatorOptions) *operator {
	GinkgoHelper()
	op := &operator{done: make(chan error, 1), events: &countingRecorder{counts: map[string]int{}}}
	logger := logf.Log.WithName("operator")
	if opts.logger != nil {
		logger = *opts.logger
	}
	if opts.syncPeriod == 0 {
		opts.syncPeriod = time.Hour
	}
	namespaces := map[string]cache.Config{ns: {}}
	for _, more := range opts.moreNamespaces {
		namespaces[more] = cache.Config{}
	}
	mgrOpts, err := ManagerOptions(cfg, ctrl.Options{
		Scheme:                 scheme.Scheme,
		Logger:                 logger,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: namespaces},
		NewClient: func(config *rest.Config, options client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(config, options)
			if err != nil {
				return nil, err
			}
			return interceptor.NewClient(c, op.counting(opts.refuseStatus)), nil
		},
		Controller:                    config.Controller{SkipNameValidation: ptr.To(true)},
		LeaderElection:                opts.leaderElection,
		LeaderElectionID:              "vpnuser-operator-test",
		LeaderElectionNamespace:       ns,
		LeaderElectionReleaseOnCancel: true,
	})
	Expect(err).NotTo(HaveOccurred())
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	Expect(err).NotTo(HaveOccurred())

	cloudConfig := vpnapi.Config{
		Endpoint:       cloud.URL,
		Timeout:        5 * time.Second,
		MaxRetries:     2,
		RetryBaseDelay: 10 * time.Millisecond,
		RetryMaxDelay:  100 * time.Millisecond,
		UserAgent:      "vpnuser-operator/test",
		QPS:            opts.cloudQPS,
		Burst:          1,
	}
	if opts.metrics != nil {
		cloudConfig.Metrics = vpnapi.NewMetrics(opts.metrics)
	}
	clouds := &SecretClients{Reader: mgr.GetAPIReader(), Config: cloudConfig}
	if !opts.noDefaultCredentials {
		cloudConfig.Credentials = vpnapi.StaticCredentials{
			AccessKey: vpnapitest.DefaultAccessKey,
			SecretKey: vpnapi.NewSecret(vpnapitest.DefaultSecretKey),
			ProjectID: project,
		}
		if opts.credentials != nil {
			cloudConfig.Credentials = opts.credentials
		}
		api, err := vpnapi.New(cloudConfig)
		Expect(err).NotTo(HaveOccurred())
		clouds.Default = api
	}
	retry := testRetry
	if opts.retry != nil {
		retry = *opts.retry
	}

	recorder, err := NewEventRecorder(mgr, "vpnuser-controller")
	Expect(err).NotTo(HaveOccurred())

	ctx, cancel := context.WithCancel(context.Background())
	op.cancel = cancel
	r := &VpnUserReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Clouds:                  clouds,
		Recorder:                op.events.wrap(recorder),
		SyncPeriod:              opts.syncPeriod,
		MaxConcurrentReconciles: 2,
		Retry:                   retry,
		minObjectSyncPeriod:     opts.minObjectSyncPeriod,
		AdoptionNamespaces:      opts.adoptionNamespaces,
		MetricsRegistry:         opts.metrics,
		MetricsPerObject:        opts.metricsPerObject,
	}
	r.DefaultCredentialsSource = opts.credentialsSource
	Expect(r.SetupWithManager(ctx, mgr)).To(Succeed())
	op.reconciler = r
	go func() {
		defer GinkgoRecover()
		op.done <- mgr.Start(ctx)
	}()
	DeferCleanup(op.stop)
	return op
}

// countingRecorder counts the events emitted, by "<name>/<reason>", before passing them on:
// the API server's events aggregate repeats into series, which a spec cannot count.
type countingRecorder struct {
	next events.EventRecorder

	mu     sync.Mutex
	counts map[string]int
}

func (c *countingRecorder) wrap(next events.EventRecorder) *countingRecorder {
	c.next = next
	return c
}

func (c *countingRecorder) Eventf(regarding runtime.Object, related runtime.Object, eventtype, reason, action, note string, args ...interface{}) {
	if o, ok := regarding.(client.Object); ok {
		c.mu.Lock()
		c.counts[o.GetName()+"/"+reason]++
		c.mu.Unlock()
	}
	c.next.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

// count is how many events of reason were emitted on the VpnUser named name.
func (c *countingRecorder) count(name, reason string) func() int {
	return func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.counts[name+"/"+reason]
	}
}

// stop stops the manager and waits for it; stopping twice is fine.
func (op *operator) stop() {
	GinkgoHelper()
	op.cancel()
	select {
	case err, ok := <-op.done:
		if ok {
			Expect(err).NotTo(HaveOccurred())
			close(op.done)
		}
	case <-time.After(time.Minute):
		Fail("the operator did not stop within a minute")
	}
}

// counting counts the operator's writes, and lets a spec refuse status writes.
func (op *operator) counting(refuse func(*vpnv1alpha1.VpnUser) error) interceptor.Funcs {
	return interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			op.objectWrites.Add(1)
			return c.Patch(ctx, obj, patch, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			op.objectWrites.Add(1)
			return c.Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if vu, ok := obj.(*vpnv1alpha1.VpnUser); ok && refuse != nil {
				if err := refuse(vu); err != nil {
					op.refused.Add(1)
					return err
				}
			}
			op.statusWrites.Add(1)
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			op.statusWrites.Add(1)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	}
}

// newCloud starts a fake cloud for one spec.
func newCloud() *vpnapitest.Server {
	cloud := vpnapitest.NewServer(vpnapitest.DefaultOptions())
	DeferCleanup(cloud.Close)
	return cloud
}

// newNamespace makes a namespace for one spec. envtest runs no namespace controller, so
// it is left behind; nothing watches it once the spec's operator stops.
func newNamespace() string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "vpnuser-" + rand.String(8)}}
	Expect(k8sClient.Create(testContext(), ns)).To(Succeed())
	return ns.Name
}

// newVpnUser is a VpnUser of the default fake server, with its password in Secret
// <name>-password.
func newVpnUser(ns, name string, mutate ...func(*vpnv1alpha1.VpnUser)) *vpnv1alpha1.VpnUser {
	vu := &vpnv1alpha1.VpnUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: vpnv1alpha1.VpnUserSpec{
			VpnServerID:       server,
			Description:       "created_by_test",
			PasswordSecretRef: vpnv1alpha1.SecretKeyReference{Name: name + "-password"},
		},
	}
	for _, m := range mutate {
		m(vu)
	}
	return vu
}

func newPasswordSecret(ns, name, password string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Data:       map[string][]byte{vpnv1alpha1.DefaultPasswordKey: []byte(password)},
	}
}

func create(objs ...client.Object) {
	GinkgoHelper()
	for _, o := range objs {
		Expect(k8sClient.Create(testContext(), o)).To(Succeed())
	}
}

// apply creates the Secret and the VpnUser, in that order.
func apply(vu *vpnv1alpha1.VpnUser, password string) {
	GinkgoHelper()
	create(newPasswordSecret(vu.Namespace, vu.Spec.PasswordSecretRef.Name, password), vu)
}

func fetch(vu *vpnv1alpha1.VpnUser) *vpnv1alpha1.VpnUser {
	GinkgoHelper()
	out := &vpnv1alpha1.VpnUser{}
	Expect(k8sClient.Get(testContext(), client.ObjectKeyFromObject(vu), out)).To(Succeed())
	return out
}

// update changes a VpnUser with a retry on conflicts.
func update(vu *vpnv1alpha1.VpnUser, change func(*vpnv1alpha1.VpnUser)) {
	GinkgoHelper()
	Eventually(func() error {
		cur := &vpnv1alpha1.VpnUser{}
		if err := k8sClient.Get(testContext(), client.ObjectKeyFromObject(vu), cur); err != nil {
			return err
		}
		change(cur)
		return k8sClient.Update(testContext(), cur)
	}).Should(Succeed())
}

// setPassword changes the password in the VpnUser's Secret.
func setPassword(vu *vpnv1alpha1.VpnUser, password string) {
	GinkgoHelper()
	Eventually(func() error {
		s := &corev1.Secret{}
		key := client.ObjectKey{Namespace: vu.Namespace, Name: vu.Spec.PasswordSecretRef.Name}
		if err := k8sClient.Get(testContext(), key, s); err != nil {
			return err
		}
		s.Data = map[string][]byte{vpnv1alpha1.DefaultPasswordKey: []byte(password)}
		return k8sClient.Update(testContext(), s)
	}).Should(Succeed())
}

func condition(vu *vpnv1alpha1.VpnUser, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(vu.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// eventuallyReason waits until the Ready condition has reason and returns the VpnUser.
func eventuallyReason(vu *vpnv1alpha1.VpnUser, reason string) *vpnv1alpha1.VpnUser {
	GinkgoHelper()
	var out *vpnv1alpha1.VpnUser
	Eventually(func(g Gomega) {
		cur := &vpnv1alpha1.VpnUser{}
		g.Expect(k8sClient.Get(testContext(), client.ObjectKeyFromObject(vu), cur)).To(Succeed())
		g.Expect(condition(cur, vpnv1alpha1.ConditionReady)).To(HaveField("Reason", reason), "conditions: %+v", cur.Status.Conditions)
		out = cur
	}).Should(Succeed())
	return out
}

// eventuallyReady waits until the VpnUser is Ready for its current generation.
func eventuallyReady(vu *vpnv1alpha1.VpnUser) *vpnv1alpha1.VpnUser {
	GinkgoHelper()
	var out *vpnv1alpha1.VpnUser
	Eventually(func(g Gomega) {
		cur := &vpnv1alpha1.VpnUser{}
		g.Expect(k8sClient.Get(testContext(), client.ObjectKeyFromObject(vu), cur)).To(Succeed())
		ready := condition(cur, vpnv1alpha1.ConditionReady)
		g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), "conditions: %+v", cur.Status.Conditions)
		g.Expect(ready.ObservedGeneration).To(Equal(cur.Generation))
		g.Expect(cur.Status.ObservedGeneration).To(Equal(cur.Generation))
		out = cur
	}).Should(Succeed())
	return out
}

func eventuallyGone(vu *vpnv1alpha1.VpnUser) {
	GinkgoHelper()
	Eventually(func() bool {
		err := k8sClient.Get(testContext(), client.ObjectKeyFromObject(vu), &vpnv1alpha1.VpnUser{})
		return client.IgnoreNotFound(err) == nil && err != nil
	}).Should(BeTrue(), "VpnUser %s/%s still exists", vu.Namespace, vu.Name)
}

func deleteObject(obj client.Object) {
	GinkgoHelper()
	Expect(k8sClient.Delete(testContext(), obj)).To(Succeed())
}

// cloudUsers are the users the fake server holds.
func cloudUsers(cloud *vpnapitest.Server) []vpnapitest.StoredUser {
	return cloud.Users(project, server)
}

// calls counts the cloud calls of one operation ("" for all).
func calls(cloud *vpnapitest.Server, operation string) func() int {
	return func() int { return cloud.CountCalls(operation) }
}

// eventsOf lists the events recorded on the VpnUser (events.k8s.io/v1).
func eventsOf(vu *vpnv1alpha1.VpnUser) []eventsv1.Event {
	GinkgoHelper()
	list := &eventsv1.EventList{}
	Expect(k8sClient.List(testContext(), list, client.InNamespace(vu.Namespace))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == vu.Name && e.Regarding.Kind == "VpnUser" {
			out = append(out, e)
		}
	}
	return out
}

// eventReasons gives "Type/Reason" of each event of the VpnUser.
func eventReasons(vu *vpnv1alpha1.VpnUser) func() []string {
	return func() []string {
		var out []string
		for _, e := range eventsOf(vu) {
			out = append(out, e.Type+"/"+e.Reason)
		}
		return out
	}
}

func findEvent(vu *vpnv1alpha1.VpnUser, reason string) (eventsv1.Event, bool) {
	for _, e := range eventsOf(vu) {
		if e.Reason == reason {
			return e, true
		}
	}
	return eventsv1.Event{}, false
}

// syncBuffer collects log lines from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func fetchErr(vu *vpnv1alpha1.VpnUser) (*vpnv1alpha1.VpnUser, error) {
	out := &vpnv1alpha1.VpnUser{}
	err := k8sClient.Get(testContext(), client.ObjectKeyFromObject(vu), out)
	return out, err
}

// refuseID refuses the status write that would record a cloud user id: the operator
// "crashes" between the create and the status write.
func refuseID(vu *vpnv1alpha1.VpnUser) error {
	if vu.Status.ID != "" {
		return errors.New("the operator crashed before writing the status")
	}
	return nil
}

// freshSpec gives each spec of the container a namespace and a fake cloud of its own.
func freshSpec(ns *string, cloud **vpnapitest.Server) {
	BeforeEach(func() {
		*ns = newNamespace()
		*cloud = newCloud()
	})
}

// freshSpecWithOperator is freshSpec with an operator run on them with opts; op, when not
// nil, receives it.
func freshSpecWithOperator(ns *string, cloud **vpnapitest.Server, op **operator, opts operatorOptions) {
	freshSpec(ns, cloud)
	BeforeEach(func() {
		started := startOperator(*ns, *cloud, opts)
		if op != nil {
			*op = started
		}
	})
}
