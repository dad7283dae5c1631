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
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	// Import all Kubernetes client auth plugins (e.g. Azure, GCP, OIDC, etc.)
	// to ensure that exec-entrypoint and run can make use of them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	// CA roots inside the binary, for an image with no /etc/ssl (release images have no
	// base): used only when the system has no roots of its own.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/controller"
	"github.com/vpnuser-operator/vpnuser-operator/internal/preflight"
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
	allowInsecureEndpoint   bool
	adoptionNamespaces      string
	keyless                 keylessOptions
}

// Values of --default-credentials.
const (
	defaultCredentialsEnv  = "env"
	defaultCredentialsNone = "none"
)

// allNamespaces is the value of --adoption-namespaces that allows every namespace.
const allNamespaces = "*"

// Flag names that error messages repeat.
const (
	flagWatchNamespaces    = "--watch-namespaces"
	flagAdoptionNamespaces = "--adoption-namespaces"
)

// parseNamespaces parses a comma-separated list of namespaces, the value of the flag
// name: spaces around each name are trimmed and repeats dropped, keeping the first
// order. "" (or only spaces) is an empty list. Each name must be a namespace's (an RFC
// 1123 label); an empty entry ("a,,b", "a,") is refused rather than ignored, since the
// list is a boundary. The error names the flag.
func parseNamespaces(name, value string) ([]string, error) {
	if strings.TrimSpace(value) == "" {
		return []string{}, nil
	}
	var list, problems []string
	seen := map[string]bool{}
	for i, ns := range strings.Split(value, ",") {
		ns = strings.TrimSpace(ns)
		if ns == "" {
			problems = append(problems, fmt.Sprintf("entry %d is empty", i+1))
			continue
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			problems = append(problems, fmt.Sprintf("%q is not a namespace name: %s", ns, strings.Join(errs, ", ")))
			continue
		}
		if !seen[ns] {
			seen[ns] = true
			list = append(list, ns)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s must be a comma-separated list of namespaces: %s", name, strings.Join(problems, "; "))
	}
	return list, nil
}

// adoptionNamespaceList is --adoption-namespaces for VpnUserReconciler.AdoptionNamespaces:
// nil for "*" (every namespace), else the namespaces listed: none for "".
func (o *cloudOptions) adoptionNamespaceList() ([]string, error) {
	if strings.TrimSpace(o.adoptionNamespaces) == allNamespaces {
		return nil, nil
	}
	for _, ns := range strings.Split(o.adoptionNamespaces, ",") {
		if strings.TrimSpace(ns) == allNamespaces {
			return nil, fmt.Errorf("%s: %q allows every namespace and cannot be listed with namespaces",
				flagAdoptionNamespaces, allNamespaces)
		}
	}
	return parseNamespaces(flagAdoptionNamespaces, o.adoptionNamespaces)
}

// checkEndpoint checks --vpn-endpoint with vpnapi.CheckEndpoint: http:// to a host other
// than this machine needs --allow-insecure-endpoint, and then gives a warning to log.
func (o *cloudOptions) checkEndpoint() (warning string, err error) {
	warning, err = vpnapi.CheckEndpoint(o.endpoint, o.allowInsecureEndpoint)
	if err != nil {
		return "", fmt.Errorf("--vpn-endpoint: %w", err)
	}
	return warning, nil
}

func (o *cloudOptions) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.region, "region", "",
		"The Huawei Cloud region of the VPN servers, e.g. ap-southeast-1. Overrides "+EnvRegion+".")
	fs.StringVar(&o.endpoint, "vpn-endpoint", "",
		"The VPN API endpoint, e.g. https://vpn.ap-southeast-1.myhuaweicloud.com (the default for the region), "+
			"a private endpoint, or http://127.0.0.1:PORT for a local fake. An http:// endpoint on another host needs "+
			vpnapi.AllowInsecureEndpointFlag+".")
	fs.BoolVar(&o.allowInsecureEndpoint, strings.TrimPrefix(vpnapi.AllowInsecureEndpointFlag, "--"), false,
		"Accept an http:// --vpn-endpoint on a host that is not this machine (loopback), with a warning: passwords "+
			"and security tokens then travel in clear over the network.")
	fs.StringVar(&o.adoptionNamespaces, strings.TrimPrefix(flagAdoptionNamespaces, "--"), allNamespaces,
		"The namespaces whose VpnUsers may adopt an existing cloud user or take over an observed one, comma-separated: "+
			"\"*\" allows every namespace, \"\" none.")
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
	o.keyless.bindFlags(fs)
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
	if _, err := o.adoptionNamespaceList(); err != nil {
		problems = append(problems, err.Error())
	}
	if err := o.keyless.validate(); err != nil {
		problems = append(problems, err.Error())
	}
	if _, err := o.checkEndpoint(); err != nil {
		problems = append(problems, err.Error())
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
	if cfg, ok, err := o.keylessConfig(getenv, region); ok {
		return cfg, err
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
	if r := keylessSource(cfg); r != nil {
		// Temporary keys change at every refresh: the limiter is the source's.
		cfg.Limiter = clouds.Limiter("source:"+r.Source(), r.ProjectID())
		api, err := vpnapi.New(cfg)
		if err != nil {
			return nil, err
		}
		clouds.Default = api
		return clouds, nil
	}
	c, err := cfg.Credentials.Credentials(context.Background())
	if err != nil {
		return nil, fmt.Errorf("cloud credentials: %w", err)
	}
	cfg.Limiter = clouds.Limiter(c.AccessKey, c.ProjectID)
	api, err := vpnapi.New(cfg)
	if err != nil {
		return nil, err
	}
	clouds.Default = api
	return clouds, nil
}

// namespacesForLog shows a list of namespaces in the start-up log: nil (every
// namespace) as "*", so that a log reader never takes "all" for "none".
func namespacesForLog(namespaces []string) any {
	if namespaces == nil {
		return allNamespaces
	}
	return namespaces
}

// fail prints one line on stderr and exits: configuration errors need no stack trace.
func fail(err error) {
	fmt.Fprintf(os.Stderr, "error: %v\n", err)
	os.Exit(1)
}

// managerOptions are the flags of the manager: the Kubernetes side of the operator.
type managerOptions struct {
	metricsAddr                                      string
	metricsCertPath, metricsCertName, metricsCertKey string
	secureMetrics                                    bool
	enableHTTP2                                      bool
	probeAddr                                        string
	pprofAddr                                        string
	enableLeaderElection                             bool
	leaderElectionNamespace                          string
	kubeAPIQPS                                       float64
	kubeAPIBurst                                     int
	watchNamespaces                                  string
	metricsPerObject                                 bool
}

func (o *managerOptions) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", "0", "The address the metrics endpoint binds to. "+
		"Use :8443 for HTTPS or :8080 for HTTP, or leave as 0 to disable the metrics service.")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "The address the probe endpoint binds to.")
	fs.BoolVar(&o.enableLeaderElection, "leader-elect", false,
		"Enable leader election for controller manager. "+
			"Enabling this will ensure there is only one active controller manager.")
	fs.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "",
		"The namespace of the leader-election Lease; defaults to the pod's namespace (required outside a cluster).")
	fs.Float64Var(&o.kubeAPIQPS, "kube-api-qps", 50, "The most requests per second the operator sends to the Kubernetes API server.")
	fs.IntVar(&o.kubeAPIBurst, "kube-api-burst", 100, "The burst of requests allowed above --kube-api-qps.")
	fs.StringVar(&o.pprofAddr, "pprof-bind-address", "0",
		"The address the Go profiler (net/http/pprof) binds to, e.g. 127.0.0.1:6060; 0 disables it. Do not expose it.")
	fs.BoolVar(&o.secureMetrics, "metrics-secure", true,
		"If set, the metrics endpoint is served securely via HTTPS. Use --metrics-secure=false to use HTTP instead.")
	fs.StringVar(&o.metricsCertPath, "metrics-cert-path", "",
		"The directory that contains the metrics server certificate.")
	fs.StringVar(&o.metricsCertName, "metrics-cert-name", "tls.crt", "The name of the metrics server certificate file.")
	fs.StringVar(&o.metricsCertKey, "metrics-cert-key", "tls.key", "The name of the metrics server key file.")
	fs.BoolVar(&o.enableHTTP2, "enable-http2", false,
		"If set, HTTP/2 will be enabled for the metrics server")
	fs.StringVar(&o.watchNamespaces, strings.TrimPrefix(flagWatchNamespaces, "--"), "",
		"The namespaces whose VpnUsers (and Secrets) the operator serves, comma-separated, e.g. team-a,team-b; "+
			"empty: every namespace. The operator then watches and reads nothing elsewhere, so Roles in these "+
			"namespaces suffice.")
	fs.BoolVar(&o.metricsPerObject, "metrics-per-object", false,
		"Export vpnuser_user_info, one series per VpnUser (namespace, name, Ready status and reason); "+
			"off by default, as its cardinality grows with the number of VpnUsers.")
}

// watchNamespaceList is --watch-namespaces: the namespaces, or nil for every namespace.
func (o *managerOptions) watchNamespaceList() ([]string, error) {
	list, err := parseNamespaces(flagWatchNamespaces, o.watchNamespaces)
	if len(list) == 0 {
		return nil, err
	}
	return list, err
}

// cacheNamespaces is the manager's Cache.DefaultNamespaces for the namespaces: nil (every
// namespace) for none.
func cacheNamespaces(namespaces []string) map[string]cache.Config {
	if len(namespaces) == 0 {
		return nil
	}
	m := make(map[string]cache.Config, len(namespaces))
	for _, ns := range namespaces {
		m[ns] = cache.Config{}
	}
	return m
}

// validate checks the flags; its error names the flag.
func (o *managerOptions) validate() error {
	var problems []string
	if o.kubeAPIQPS <= 0 || o.kubeAPIBurst < 1 {
		problems = append(problems, fmt.Sprintf("--kube-api-qps must be greater than 0 and --kube-api-burst at least 1, got %v and %d", o.kubeAPIQPS, o.kubeAPIBurst))
	}
	if _, err := o.watchNamespaceList(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// metricsServer is the configuration of the metrics endpoint. HTTP/2 is off unless
// --enable-http2 (the HTTP/2 Stream Cancellation and Rapid Reset CVEs:
// GHSA-qppj-fm5r-hxr3, GHSA-4374-p667-p6c8). Served securely, the endpoint
// authenticates and authorizes its callers (the RBAC of config/rbac); without a
// certificate, controller-runtime makes a self-signed one: fine for development, not
// for production.
func (o *managerOptions) metricsServer() metricsserver.Options {
	var tlsOpts []func(*tls.Config)
	if !o.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) {
			setupLog.Info("Disabling HTTP/2")
			c.NextProtos = []string{"http/1.1"}
		})
	}
	opts := metricsserver.Options{
		BindAddress:   o.metricsAddr,
		SecureServing: o.secureMetrics,
		TLSOpts:       tlsOpts,
	}
	if o.secureMetrics {
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	if len(o.metricsCertPath) > 0 {
		setupLog.Info("Initializing metrics certificate watcher using provided certificates",
			"metricsCertPath", o.metricsCertPath, "metricsCertName", o.metricsCertName, "metricsCertKey", o.metricsCertKey)
		opts.CertDir = o.metricsCertPath
		opts.CertName = o.metricsCertName
		opts.KeyName = o.metricsCertKey
	}
	return opts
}

// newManager makes the manager for the cluster of the kubeconfig (or the pod's).
func (o *managerOptions) newManager() (ctrl.Manager, error) {
	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("no Kubernetes configuration: %w", err)
	}
	restConfig.QPS, restConfig.Burst = float32(o.kubeAPIQPS), o.kubeAPIBurst
	namespaces, err := o.watchNamespaceList()
	if err != nil {
		return nil, err
	}
	// Secrets are read uncached, only their metadata is watched, cached objects are
	// trimmed, and the cache and the client each have a connection of their own.
	// With --watch-namespaces the cache (the VpnUsers, the Secrets' metadata) holds only
	// those namespaces; Secrets are read only for the VpnUsers it holds.
	opts, err := controller.ManagerOptions(restConfig, ctrl.Options{
		Cache:                   cache.Options{DefaultNamespaces: cacheNamespaces(namespaces)},
		Scheme:                  scheme,
		Metrics:                 o.metricsServer(),
		HealthProbeBindAddress:  o.probeAddr,
		PprofBindAddress:        o.pprofAddr,
		LeaderElection:          o.enableLeaderElection,
		LeaderElectionID:        "vpnuser-operator.vpn.huaweicloud.io",
		LeaderElectionNamespace: o.leaderElectionNamespace,
		// The program ends as soon as the manager stops, so the leader may step down at
		// once and its successor need not wait for the lease to expire.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(restConfig, opts)
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	return mgr, nil
}

// setupReconcilers registers the VpnUser reconciler with mgr.
func setupReconcilers(ctx context.Context, mgr ctrl.Manager, cloud cloudOptions, cloudConfig vpnapi.Config, perObject bool) error {
	clouds, err := cloudClients(cloudConfig, mgr.GetAPIReader())
	if err != nil {
		return err
	}
	if err := startKeyless(mgr, cloudConfig); err != nil {
		return err
	}
	adoption, err := cloud.adoptionNamespaceList()
	if err != nil {
		return err
	}
	recorder, err := controller.NewEventRecorder(mgr, "vpnuser-controller")
	if err != nil {
		return err
	}
	if err := (&controller.VpnUserReconciler{
		Client:                   mgr.GetClient(),
		APIReader:                mgr.GetAPIReader(),
		Clouds:                   clouds,
		Recorder:                 recorder,
		SyncPeriod:               cloud.syncPeriod,
		MaxConcurrentReconciles:  cloud.maxConcurrentReconciles,
		AdoptionNamespaces:       adoption,
		MetricsRegistry:          metrics.Registry,
		MetricsPerObject:         perObject,
		DefaultCredentialsSource: describeDefaultCredentials(cloudConfig),
	}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("creating the controller vpnuser: %w", err)
	}
	// +kubebuilder:scaffold:builder
	return nil
}

// setupChecks adds the health check and the ready check: ready once the informers have
// synced, since before that the operator cannot act on anything, and a rollout or a
// harness that waits for readiness should know it.
func setupChecks(mgr ctrl.Manager) error {
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("setting up the health check: %w", err)
	}
	cachesSynced := func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("the informers' caches have not synced yet")
		}
		return nil
	}
	if err := mgr.AddReadyzCheck("readyz", cachesSynced); err != nil {
		return fmt.Errorf("setting up the ready check: %w", err)
	}
	return nil
}

func main() {
	var mgrOpts managerOptions
	var cloud cloudOptions
	mgrOpts.bindFlags(flag.CommandLine)
	cloud.bindFlags(flag.CommandLine)
	// Production logging (JSON, info level) unless --zap-devel or --zap-log-level say otherwise.
	logOpts := zap.Options{}
	logOpts.BindFlags(flag.CommandLine)
	printVersion := flag.Bool("version", false, "Print the version and exit.")
	// manager preflight [flags]: check the installation with the operator's flags, and exit.
	if len(os.Args) > 1 && os.Args[1] == preflightCommand {
		os.Exit(runPreflight(flag.CommandLine, os.Args[2:], &mgrOpts, &cloud, os.Getenv, ctrl.GetConfig, os.Stdout))
	}
	flag.Parse()
	if *printVersion {
		fmt.Println("vpnuser-operator", version)
		return
	}

	// One line for all the problems of the flags.
	if err := errors.Join(cloud.validate(), mgrOpts.validate()); err != nil {
		fail(errors.New(strings.ReplaceAll(err.Error(), "\n", "; ")))
	}
	cloudConfig, err := cloud.cloudConfig(os.Getenv)
	if err != nil {
		fail(err)
	}
	cloudConfig.Metrics = vpnapi.NewMetrics(metrics.Registry)
	endpointWarning, err := cloud.checkEndpoint()
	if err != nil {
		fail(err)
	}
	watch, _ := mgrOpts.watchNamespaceList()     // validated above
	adoption, _ := cloud.adoptionNamespaceList() // validated above

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&logOpts)))
	setupLog.Info("Starting the vpnuser-operator", "version", version, "region", cloudConfig.Region,
		"endpoint", cloudConfig.Endpoint, "syncPeriod", cloud.syncPeriod, "defaultCredentials", cloud.defaultCredentials,
		"watchNamespaces", namespacesForLog(watch), "adoptionNamespaces", namespacesForLog(adoption))
	if endpointWarning != "" {
		setupLog.Info("WARNING: " + endpointWarning)
	}

	mgr, err := mgrOpts.newManager()
	if err != nil {
		fail(err)
	}
	ctx := ctrl.SetupSignalHandler()
	if err := setupReconcilers(ctx, mgr, cloud, cloudConfig, mgrOpts.metricsPerObject); err != nil {
		fail(err)
	}
	if err := setupChecks(mgr); err != nil {
		fail(err)
	}
	setupLog.Info("Starting the manager")
	if err := mgr.Start(ctx); err != nil {
		setupLog.Error(err, "Failed to run the manager")
		os.Exit(1)
	}
}

// preflightCommand is the first argument that runs the preflight instead of the operator.
const preflightCommand = "preflight"

// runPreflight runs `manager preflight [flags]`: the flags of the operator (those bound
// to operatorFlags, which it shares the values of) and --preflight-server-id. It prints
// one line per check on out and returns the exit code: 0 when no check failed, else 1.
func runPreflight(operatorFlags *flag.FlagSet, args []string, mgr *managerOptions, cloud *cloudOptions,
	getenv func(string) string, restConfig func() (*rest.Config, error), out io.Writer) int {
	fs := flag.NewFlagSet("manager preflight", flag.ContinueOnError)
	// A parse error gets one line below, not the usage; --help prints the usage.
	fs.SetOutput(io.Discard)
	operatorFlags.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	serverID := fs.String("preflight-server-id", getenv(preflight.EnvServerID),
		"A VPN server to check (its users are listed, read-only); defaults to $"+preflight.EnvServerID+".")
	parseErr := fs.Parse(args)
	if parseErr != nil {
		if errors.Is(parseErr, flag.ErrHelp) {
			fs.SetOutput(out)
			_, _ = fmt.Fprintf(out, "Usage: manager preflight [flags]: check the installation with the operator's flags "+
				"and environment; one line per check, exit status 1 when one fails.\n")
			fs.PrintDefaults()
			return 0
		}
	}
	// client-go and controller-runtime log nothing the lines below do not say.
	ctrl.SetLogger(logr.Discard())

	flagsErr := parseErr
	if flagsErr == nil {
		flagsErr = errors.Join(cloud.validate(), mgr.validate())
	}
	if fs.NArg() > 0 {
		flagsErr = errors.Join(flagsErr, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	*serverID = strings.TrimSpace(*serverID)
	if *serverID != "" && vpnapi.ValidateUUID(*serverID) != nil {
		flagsErr = errors.Join(flagsErr, errors.New("--preflight-server-id must be a VPN server's id (a UUID)"))
	}
	if flagsErr != nil {
		flagsErr = errors.New(strings.ReplaceAll(flagsErr.Error(), "\n", "; "))
	}
	region := cloud.region
	if region == "" {
		region = strings.TrimSpace(getenv(EnvRegion))
	}
	watch, _ := mgr.watchNamespaceList() // its error is in flagsErr
	// A keyless source is checked as the operator would use it: its temporary credentials
	// sign the read-only call.
	var keyless vpnapi.CredentialsProvider
	var keylessName string
	var keylessErr error
	if flagsErr == nil && cloud.defaultCredentials != defaultCredentialsNone {
		if cfg, ok, err := cloud.keylessConfig(getenv, region); ok {
			keylessName, keylessErr = "(--credentials-source="+cloud.keyless.resolve(getenv, cloud.credentialsDir)+")", err
			if err == nil {
				keyless, keylessName = cfg.Credentials, describeDefaultCredentials(cfg)
			}
		}
	}
	results := preflight.Run(context.Background(), preflight.Options{
		FlagsError:              flagsErr,
		Region:                  region,
		Endpoint:                cloud.endpoint,
		DefaultCredentials:      cloud.defaultCredentials != defaultCredentialsNone,
		CredentialsDir:          cloud.credentialsDir,
		Keyless:                 keyless,
		KeylessName:             keylessName,
		KeylessError:            keylessErr,
		Getenv:                  getenv,
		Cloud:                   cloud.config(region, nil),
		ServerID:                *serverID,
		RESTConfig:              restConfigFor(restConfig, mgr),
		WatchNamespaces:         watch,
		LeaderElection:          mgr.enableLeaderElection,
		LeaderElectionNamespace: mgr.leaderElectionNamespace,
	})
	if !preflight.Print(out, results) {
		return 1
	}
	return 0
}

// restConfigFor gives the Kubernetes configuration with the operator's --kube-api-qps and
// --kube-api-burst.
func restConfigFor(get func() (*rest.Config, error), mgr *managerOptions) func() (*rest.Config, error) {
	return func() (*rest.Config, error) {
		cfg, err := get()
		if err != nil {
			return nil, err
		}
		cfg.QPS, cfg.Burst = float32(mgr.kubeAPIQPS), mgr.kubeAPIBurst
		return cfg, nil
	}
}

// Values of --credentials-source besides the keyless sources' names.
const (
	credentialsSourceAuto = "auto"
	credentialsSourceEnv  = "env"
)

// credentialsSources are the values of --credentials-source.
var credentialsSources = []string{credentialsSourceAuto, credentialsSourceEnv,
	vpnapi.SourcePodIdentity, vpnapi.SourceOIDC, vpnapi.SourceMetadata}

// keylessOptions are the flags of the operator's own credentials' source.
type keylessOptions struct {
	source           string
	metadataEndpoint string
}

func (k *keylessOptions) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&k.source, "credentials-source", credentialsSourceAuto,
		"Where the operator's own cloud credentials come from: \"env\" (an access key pair in the environment or "+
			"--cloud-credentials-dir), \""+vpnapi.SourcePodIdentity+"\" (CCE pod identity: "+vpnapi.EnvContainerCredentialsURI+
			", "+vpnapi.EnvContainerTokenFile+"), \""+vpnapi.SourceOIDC+"\" (OIDC federation with a projected ServiceAccount "+
			"token: "+vpnapi.EnvIdPID+", "+vpnapi.EnvIDTokenFile+"), \""+vpnapi.SourceMetadata+"\" (the ECS node's agency), or "+
			"\"auto\": the first configured of "+vpnapi.EnvIdPID+"/"+vpnapi.EnvIDTokenFile+", an access key pair, and the pod "+
			"identity variables, as Huawei's SDK orders them (the node's metadata only when named).")
	fs.StringVar(&k.metadataEndpoint, "metadata-endpoint", vpnapi.DefaultMetadataEndpoint,
		"The ECS metadata service of --credentials-source="+vpnapi.SourceMetadata+"; change it only for a local fake.")
}

// validate checks the flags; its error names the flag.
func (k *keylessOptions) validate() error {
	for _, s := range credentialsSources {
		if k.source == s {
			return nil
		}
	}
	return fmt.Errorf("--credentials-source must be one of %s, got %q", strings.Join(credentialsSources, ", "), k.source)
}

// resolve picks the source of the operator's credentials: credentialsSourceEnv or a
// keyless source's name. "auto" follows the SDK's default chain where it applies: an
// explicit --cloud-credentials-dir first, then OIDC (the SDK's environment provider
// prefers it to keys when both are set), keys, and pod identity. The SDK tries the
// node's metadata before pod identity, and whenever nothing else is set; the operator
// uses it only when named, so that a pod never takes its node's agency by accident.
func (k *keylessOptions) resolve(getenv func(string) string, credentialsDir string) string {
	set := func(names ...string) bool {
		for _, n := range names {
			if strings.TrimSpace(getenv(n)) == "" {
				return false
			}
		}
		return true
	}
	switch {
	case k.source != credentialsSourceAuto:
		return k.source
	case credentialsDir != "":
		return credentialsSourceEnv
	case set(vpnapi.EnvIdPID, vpnapi.EnvIDTokenFile):
		return vpnapi.SourceOIDC
	case set(vpnapi.EnvAccessKey, vpnapi.EnvSecretKey):
		return credentialsSourceEnv
	case set(vpnapi.EnvContainerCredentialsURI, vpnapi.EnvContainerTokenFile):
		return vpnapi.SourcePodIdentity
	}
	// Nothing configured: the access key pair's variables are named as missing.
	return credentialsSourceEnv
}

// keylessCredentials makes the Refresher of a keyless source from the environment. Its
// error names every variable missing or malformed, never a value.
func (o *cloudOptions) keylessCredentials(source string, getenv func(string) string, region string) (*vpnapi.Refresher, error) {
	var missing, problems []string
	get := func(name string) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			missing = append(missing, name)
		}
		return v
	}
	projectID := strings.TrimSpace(getenv(vpnapi.EnvProjectID))
	iam := vpnapi.IAMEndpoint(getenv, region)
	// The temporary credentials' security token (and, for OIDC, the ID token) travel to
	// IAM: as for the VPN API, http:// only to this machine, or with --allow-insecure-endpoint.
	checkIAM := func() {
		if _, err := vpnapi.CheckEndpoint(iam, o.allowInsecureEndpoint); err != nil {
			problems = append(problems, vpnapi.EnvIAMEndpoint+": "+strings.TrimPrefix(err.Error(), "vpn api: config: "))
		}
	}
	var discover func(context.Context, vpnapi.Credentials) (string, error)
	if projectID == "" {
		// As the SDK: the one project named after the region, listed by IAM.
		if region == "" {
			missing = append(missing, vpnapi.EnvProjectID+" (or a region to find it by)")
		}
		checkIAM()
		discover = (&vpnapi.ProjectDiscovery{IAMEndpoint: iam, Region: region}).Discover
	}
	var src vpnapi.CredentialsSource
	switch source {
	case vpnapi.SourcePodIdentity:
		uri, file := get(vpnapi.EnvContainerCredentialsURI), get(vpnapi.EnvContainerTokenFile)
		if uri != "" && !isHTTPURL(uri) {
			problems = append(problems, vpnapi.EnvContainerCredentialsURI+" is not an http:// or https:// URL")
		}
		src = &vpnapi.PodIdentitySource{URI: uri, TokenFile: file}
	case vpnapi.SourceOIDC:
		idp, file := get(vpnapi.EnvIdPID), get(vpnapi.EnvIDTokenFile)
		if discover == nil {
			checkIAM()
		}
		src = &vpnapi.OIDCSource{IAMEndpoint: iam, IdPID: idp, TokenFile: file, ProjectID: projectID}
	case vpnapi.SourceMetadata:
		if !isHTTPURL(o.keyless.metadataEndpoint) {
			problems = append(problems, "--metadata-endpoint is not an http:// or https:// URL")
		}
		src = &vpnapi.MetadataSource{Endpoint: o.keyless.metadataEndpoint}
	default:
		return nil, fmt.Errorf("unknown credentials source %q", source)
	}
	if len(missing) > 0 {
		verb := "is"
		if len(missing) > 1 {
			verb = "are"
		}
		problems = append([]string{fmt.Sprintf("%s %s not set", strings.Join(missing, ", "), verb)}, problems...)
	}
	if projectID != "" {
		if err := vpnapi.ValidateProjectID(projectID); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", vpnapi.EnvProjectID, err))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("cloud credentials from %s: %s", vpnapi.DescribeSource(source), strings.Join(problems, "; "))
	}
	return vpnapi.NewRefresher(vpnapi.RefresherConfig{Source: src, ProjectID: projectID, DiscoverProject: discover}), nil
}

// keylessConfig is cloudConfig for a keyless source; ok is false when the operator's
// credentials are an access key pair (--credentials-source=env, or auto finding keys).
func (o *cloudOptions) keylessConfig(getenv func(string) string, region string) (cfg vpnapi.Config, ok bool, err error) {
	source := o.keyless.resolve(getenv, o.credentialsDir)
	if source == credentialsSourceEnv {
		return vpnapi.Config{}, false, nil
	}
	if o.credentialsDir != "" {
		return vpnapi.Config{}, true, fmt.Errorf("--cloud-credentials-dir holds keys, and --credentials-source=%s takes none: set only one", source)
	}
	if region == "" && o.endpoint == "" {
		return vpnapi.Config{}, true, errors.New("missing cloud configuration: " + EnvRegion + " (or --region, or --vpn-endpoint) is not set")
	}
	r, err := o.keylessCredentials(source, getenv, region)
	if err != nil {
		return vpnapi.Config{}, true, err
	}
	return o.config(region, r), true, nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// keylessSource is the Refresher of cfg's credentials, nil when they are keys.
func keylessSource(cfg vpnapi.Config) *vpnapi.Refresher {
	r, _ := cfg.Credentials.(*vpnapi.Refresher)
	return r
}

// describeDefaultCredentials names the keyless source of cfg for the VpnUsers' messages,
// "" for keys.
func describeDefaultCredentials(cfg vpnapi.Config) string {
	if r := keylessSource(cfg); r != nil {
		return vpnapi.DescribeSource(r.Source())
	}
	return ""
}

// startKeyless binds the Refresher of cfg (if any) to the metrics and the log, and has
// the manager run it: it refreshes the credentials in the background on every replica.
func startKeyless(mgr ctrl.Manager, cfg vpnapi.Config) error {
	r := keylessSource(cfg)
	if r == nil {
		return nil
	}
	log := ctrl.Log.WithName("credentials")
	log.Info("The operator's cloud credentials are temporary ones, refreshed ahead of their expiry",
		"source", r.Source(), "from", vpnapi.DescribeSource(r.Source()))
	r.Instrument(cfg.Metrics, log)
	if err := mgr.Add(r); err != nil {
		return fmt.Errorf("starting the credentials refresher: %w", err)
	}
	return nil
}
