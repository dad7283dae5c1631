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

// Command manager runs the vpnuser-operator: it makes the users of Huawei Cloud P2C VPN
// servers follow VpnUser objects.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	// Import all Kubernetes client auth plugins (e.g. Azure, GCP, OIDC, etc.)
	// to ensure that exec-entrypoint and run can make use of them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/controller"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
	// +kubebuilder:scaffold:imports
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

// EnvRegion names the environment variable of the cloud region, as Huawei's tools read it.
const EnvRegion = "HUAWEICLOUD_SDK_REGION"

// minSyncPeriod keeps the periodic GETs of a large fleet within the cloud's quotas.
const minSyncPeriod = 30 * time.Second

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))

	utilruntime.Must(vpnv1alpha1.AddToScheme(scheme))
	// +kubebuilder:scaffold:scheme
}

// cloudOptions are the flags that configure the cloud client and the reconciler.
type cloudOptions struct {
	region                  string
	endpoint                string
	credentialsDir          string
	syncPeriod              time.Duration
	qps                     float64
	burst                   int
	timeout                 time.Duration
	maxConcurrentReconciles int
	defaultCredentials      string
}

// Values of --default-credentials.
const (
	defaultCredentialsEnv  = "env"
	defaultCredentialsNone = "none"
)

func (o *cloudOptions) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.region, "region", "",
		"The Huawei Cloud region of the VPN servers, e.g. ap-southeast-1. Overrides "+EnvRegion+".")
	fs.StringVar(&o.endpoint, "vpn-endpoint", "",
		"The VPN API endpoint, e.g. https://vpn.ap-southeast-1.myhuaweicloud.com (the default for the region), "+
			"a private endpoint, or http://127.0.0.1:PORT for a local fake.")
	fs.StringVar(&o.credentialsDir, "cloud-credentials-dir", "",
		"A directory (a mounted Secret) with the files "+vpnapi.EnvAccessKey+", "+vpnapi.EnvSecretKey+", "+
			vpnapi.EnvProjectID+" and optionally "+vpnapi.EnvSecurityToken+"; they are read again when they change, "+
			"so rotated keys are used without a restart. Without it, the same names are read from the environment.")
	fs.DurationVar(&o.syncPeriod, "sync-period", controller.DefaultSyncPeriod,
		"How often each cloud user is read back (at least 30s); the reads are spread evenly over the period.")
	fs.Float64Var(&o.qps, "cloud-qps", vpnapi.DefaultQPS, "The most requests per second the operator sends to the cloud.")
	fs.IntVar(&o.burst, "cloud-burst", vpnapi.DefaultBurst, "The burst of requests allowed above --cloud-qps.")
	fs.DurationVar(&o.timeout, "cloud-timeout", vpnapi.DefaultTimeout, "The timeout of one request to the cloud.")
	fs.IntVar(&o.maxConcurrentReconciles, "max-concurrent-reconciles", 4, "How many VpnUsers are reconciled at once.")
	fs.StringVar(&o.defaultCredentials, "default-credentials", defaultCredentialsEnv,
		"The cloud credentials of VpnUsers without spec.credentialsSecretRef: \"env\" reads them from the environment "+
			"(or --cloud-credentials-dir); \"none\" runs without default credentials (a multi-tenant cluster where each "+
			"namespace brings its own Secret), and such VpnUsers report CredentialsNotFound.")
}

// validate checks the flags; its error names the flag.
func (o *cloudOptions) validate() error {
	var problems []string
	if o.qps <= 0 {
		problems = append(problems, fmt.Sprintf("--cloud-qps must be greater than 0, got %v", o.qps))
	}
	if o.burst < 1 {
		problems = append(problems, fmt.Sprintf("--cloud-burst must be at least 1, got %d", o.burst))
	}
	if o.syncPeriod < minSyncPeriod {
		problems = append(problems, fmt.Sprintf("--sync-period must be at least %s, got %s", minSyncPeriod, o.syncPeriod))
	}
	if o.timeout <= 0 {
		problems = append(problems, fmt.Sprintf("--cloud-timeout must be greater than 0, got %s", o.timeout))
	}
	if o.maxConcurrentReconciles < 1 {
		problems = append(problems, fmt.Sprintf("--max-concurrent-reconciles must be at least 1, got %d", o.maxConcurrentReconciles))
	}
	if o.defaultCredentials != defaultCredentialsEnv && o.defaultCredentials != defaultCredentialsNone {
		problems = append(problems, fmt.Sprintf("--default-credentials must be %q or %q, got %q",
			defaultCredentialsEnv, defaultCredentialsNone, o.defaultCredentials))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// cloudConfig makes the configuration of the cloud client from the flags and the
// environment. Its error names everything that is missing or malformed, never a secret.
// With --default-credentials=none it holds no credentials, and the region may come from
// each credentials Secret instead.
func (o *cloudOptions) cloudConfig(getenv func(string) string) (vpnapi.Config, error) {
	region := o.region
	if region == "" {
		region = strings.TrimSpace(getenv(EnvRegion))
	}
	if o.defaultCredentials == defaultCredentialsNone {
		return o.config(region, nil), nil
	}
	var missing []string
	if region == "" && o.endpoint == "" {
		missing = append(missing, EnvRegion+" (or --region, or --vpn-endpoint)")
	}
	var creds vpnapi.CredentialsProvider
	if o.credentialsDir != "" {
		creds = vpnapi.NewFileCredentials(o.credentialsDir)
	} else {
		for _, name := range []string{vpnapi.EnvAccessKey, vpnapi.EnvSecretKey, vpnapi.EnvProjectID} {
			if strings.TrimSpace(getenv(name)) == "" {
				missing = append(missing, name)
			}
		}
	}
	if len(missing) > 0 {
		verb := "is"
		if len(missing) > 1 {
			verb = "are"
		}
		return vpnapi.Config{}, fmt.Errorf("missing cloud configuration: %s %s not set", strings.Join(missing, ", "), verb)
	}
	if creds == nil {
		c, err := vpnapi.EnvCredentials(getenv)
		if err != nil {
			return vpnapi.Config{}, err
		}
		creds = vpnapi.StaticCredentials(c)
	}
	c, err := creds.Credentials(context.Background())
	if err != nil {
		return vpnapi.Config{}, fmt.Errorf("cloud credentials: %w", err)
	}
	if err := vpnapi.ValidateProjectID(c.ProjectID); err != nil {
		return vpnapi.Config{}, fmt.Errorf("malformed cloud configuration: %s: %w", vpnapi.EnvProjectID, err)
	}
	return o.config(region, creds), nil
}

func (o *cloudOptions) config(region string, creds vpnapi.CredentialsProvider) vpnapi.Config {
	return vpnapi.Config{
		Region:      region,
		Endpoint:    o.endpoint,
		Credentials: creds,
		QPS:         o.qps,
		Burst:       o.burst,
		Timeout:     o.timeout,
		UserAgent:   "vpnuser-operator/" + version,
	}
}

// cloudClients makes the provider of the VpnUsers' cloud clients: one client per
// credentials Secret, and the default client when cfg has credentials. Each project gets
// one rate limiter of --cloud-qps and --cloud-burst, shared by all its clients.
func cloudClients(cfg vpnapi.Config, reader client.Reader) (*controller.SecretClients, error) {
	clouds := &controller.SecretClients{Reader: reader, Config: cfg}
	clouds.Config.Credentials = nil
	if cfg.Credentials == nil {
		return clouds, nil
	}
	c, err := cfg.Credentials.Credentials(context.Background())
	if err != nil {
		return nil, fmt.Errorf("cloud credentials: %w", err)
	}
	cfg.Limiter = clouds.Limiter(c.ProjectID)
	api, err := vpnapi.New(cfg)
	if err != nil {
		return nil, err
	}
	clouds.Default = api
	return clouds, nil
}

// fail prints one line on stderr and exits: configuration errors need no stack trace.
func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "error: "+format+"\n", args...)
	os.Exit(1)
}

// nolint:gocyclo
func main() {
	var metricsAddr string
	var metricsCertPath, metricsCertName, metricsCertKey string
	var enableLeaderElection bool
	var probeAddr string
	var secureMetrics bool
	var enableHTTP2 bool
	var tlsOpts []func(*tls.Config)
	var cloud cloudOptions
	var leaderElectionNamespace string
	var kubeAPIQPS float64
	var kubeAPIBurst int
	var pprofAddr string
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0", "The address the metrics endpoint binds to. "+
		"Use :8443 for HTTPS or :8080 for HTTP, or leave as 0 to disable the metrics service.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "The address the probe endpoint binds to.")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false,
		"Enable leader election for controller manager. "+
			"Enabling this will ensure there is only one active controller manager.")
	flag.StringVar(&leaderElectionNamespace, "leader-election-namespace", "",
		"The namespace of the leader-election Lease; defaults to the pod's namespace (required outside a cluster).")
	flag.Float64Var(&kubeAPIQPS, "kube-api-qps", 50, "The most requests per second the operator sends to the Kubernetes API server.")
	flag.IntVar(&kubeAPIBurst, "kube-api-burst", 100, "The burst of requests allowed above --kube-api-qps.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "0",
		"The address the Go profiler (net/http/pprof) binds to, e.g. 127.0.0.1:6060; 0 disables it. Do not expose it.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true,
		"If set, the metrics endpoint is served securely via HTTPS. Use --metrics-secure=false to use HTTP instead.")
	flag.StringVar(&metricsCertPath, "metrics-cert-path", "",
		"The directory that contains the metrics server certificate.")
	flag.StringVar(&metricsCertName, "metrics-cert-name", "tls.crt", "The name of the metrics server certificate file.")
	flag.StringVar(&metricsCertKey, "metrics-cert-key", "tls.key", "The name of the metrics server key file.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false,
		"If set, HTTP/2 will be enabled for the metrics server")
	cloud.bindFlags(flag.CommandLine)
	// Production logging (JSON, info level) unless --zap-devel or --zap-log-level say otherwise.
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()

	if err := cloud.validate(); err != nil {
		fail("%v", err)
	}
	if kubeAPIQPS <= 0 || kubeAPIBurst < 1 {
		fail("--kube-api-qps must be greater than 0 and --kube-api-burst at least 1, got %v and %d", kubeAPIQPS, kubeAPIBurst)
	}
	cloudConfig, err := cloud.cloudConfig(os.Getenv)
	if err != nil {
		fail("%v", err)
	}
	cloudConfig.Metrics = vpnapi.NewMetrics(metrics.Registry)

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	setupLog.Info("Starting the vpnuser-operator", "version", version, "region", cloudConfig.Region,
		"endpoint", cloudConfig.Endpoint, "syncPeriod", cloud.syncPeriod, "defaultCredentials", cloud.defaultCredentials)

	// if the enable-http2 flag is false (the default), http/2 should be disabled
	// due to its vulnerabilities. More specifically, disabling http/2 will
	// prevent from being vulnerable to the HTTP/2 Stream Cancellation and
	// Rapid Reset CVEs. For more information see:
	// - https://github.com/advisories/GHSA-qppj-fm5r-hxr3
	// - https://github.com/advisories/GHSA-4374-p667-p6c8
	disableHTTP2 := func(c *tls.Config) {
		setupLog.Info("Disabling HTTP/2")
		c.NextProtos = []string{"http/1.1"}
	}

	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, disableHTTP2)
	}

	// Metrics endpoint is enabled in 'config/default/kustomization.yaml'. The Metrics options configure the server.
	// More info:
	// - https://pkg.go.dev/sigs.k8s.io/controller-runtime/pkg/metrics/server
	// - https://book.kubebuilder.io/reference/metrics.html
	metricsServerOptions := metricsserver.Options{
		BindAddress:   metricsAddr,
		SecureServing: secureMetrics,
		TLSOpts:       tlsOpts,
	}

	if secureMetrics {
		// FilterProvider is used to protect the metrics endpoint with authn/authz.
		// These configurations ensure that only authorized users and service accounts
		// can access the metrics endpoint. The RBAC are configured in 'config/rbac/kustomization.yaml'. More info:
		// https://pkg.go.dev/sigs.k8s.io/controller-runtime/pkg/metrics/filters#WithAuthenticationAndAuthorization
		metricsServerOptions.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	// Without a certificate, controller-runtime generates a self-signed one for the
	// metrics server: fine for development, not for production.
	if len(metricsCertPath) > 0 {
		setupLog.Info("Initializing metrics certificate watcher using provided certificates",
			"metricsCertPath", metricsCertPath, "metricsCertName", metricsCertName, "metricsCertKey", metricsCertKey)

		metricsServerOptions.CertDir = metricsCertPath
		metricsServerOptions.CertName = metricsCertName
		metricsServerOptions.KeyName = metricsCertKey
	}

	restConfig, err := ctrl.GetConfig()
	if err != nil {
		fail("no Kubernetes configuration: %v", err)
	}
	restConfig.QPS, restConfig.Burst = float32(kubeAPIQPS), kubeAPIBurst
	clientOptions, err := controller.ClientOptions(restConfig)
	if err != nil {
		fail("%v", err)
	}
	cacheOptions, err := controller.CacheOptions(restConfig)
	if err != nil {
		fail("%v", err)
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsServerOptions,
		HealthProbeBindAddress:  probeAddr,
		PprofBindAddress:        pprofAddr,
		LeaderElection:          enableLeaderElection,
		LeaderElectionID:        "vpnuser-operator.vpn.huaweicloud.io",
		LeaderElectionNamespace: leaderElectionNamespace,
		// The program ends as soon as the manager stops, so the leader may step down at
		// once and its successor need not wait for the lease to expire.
		LeaderElectionReleaseOnCancel: true,
		// Secrets are read uncached; only their metadata is watched. Writes go over a
		// connection of their own.
		Client: clientOptions,
		// Cached objects are trimmed of managedFields and of what is never read. Lists and
		// watches go over a connection of their own, never queued behind writes.
		Cache: cacheOptions,
	})
	if err != nil {
		setupLog.Error(err, "Failed to create the manager")
		os.Exit(1)
	}

	clouds, err := cloudClients(cloudConfig, mgr.GetAPIReader())
	if err != nil {
		fail("%v", err)
	}
	ctx := ctrl.SetupSignalHandler()
	if err := (&controller.VpnUserReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Clouds:                  clouds,
		Recorder:                mgr.GetEventRecorder("vpnuser-controller"),
		SyncPeriod:              cloud.syncPeriod,
		MaxConcurrentReconciles: cloud.maxConcurrentReconciles,
	}).SetupWithManager(ctx, mgr); err != nil {
		setupLog.Error(err, "Failed to create the controller", "controller", "vpnuser")
		os.Exit(1)
	}
	// +kubebuilder:scaffold:builder

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "Failed to set up the health check")
		os.Exit(1)
	}
	// Ready once the informers have synced: before that the operator cannot act on
	// anything, and a rollout or a harness that waits for readiness should know it.
	cachesSynced := func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("the informers' caches have not synced yet")
		}
		return nil
	}
	if err := mgr.AddReadyzCheck("readyz", cachesSynced); err != nil {
		setupLog.Error(err, "Failed to set up the ready check")
		os.Exit(1)
	}

	setupLog.Info("Starting the manager")
	if err := mgr.Start(ctx); err != nil {
		setupLog.Error(err, "Failed to run the manager")
		os.Exit(1)
	}
}
