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

// Package preflight checks, with the operator's own flags and environment, what a new
// installation gets wrong: the flags, the cloud endpoint, the credentials and their
// signature, the project and a VPN server, the clock, the CRD and the Kubernetes
// permissions. Each check gives one line with a fix hint; nothing it prints holds a
// secret key, a security token or an access key.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// Status is the outcome of a check.
type Status string

// The outcomes: a skipped check could not run (it depends on one that failed, or does not
// apply to this configuration) and does not fail the preflight by itself.
const (
	StatusOK   Status = "OK"
	StatusFail Status = "FAIL"
	StatusSkip Status = "SKIP"
)

// Names of the checks, in the order they run.
const (
	CheckFlags          = "flags"
	CheckEndpoint       = "endpoint"
	CheckCredentials    = "credentials"
	CheckProject        = "project"
	CheckServer         = "server"
	CheckClock          = "clock"
	CheckKubeAPI        = "kube-api"
	CheckCRD            = "crd"
	CheckPermissions    = "permissions"
	CheckLeaderElection = "leader-election"
)

// Defaults of Options.
const (
	DefaultCheckTimeout = 5 * time.Second
	DefaultTimeout      = 25 * time.Second
)

// EnvServerID is the environment variable of the VPN server to check, as
// --preflight-server-id sets it.
const EnvServerID = "VPNUSER_PREFLIGHT_SERVER_ID"

// MaxClockSkew is how far the API allows X-Sdk-Date from its own clock (API.md).
const MaxClockSkew = 15 * time.Minute

// Result is the outcome of one check.
type Result struct {
	Check  string
	Status Status
	// Detail says what was found.
	Detail string
	// Fix says what to do about a failure.
	Fix string
}

// String gives the line of the result: "OK   check: detail", "FAIL check: detail — fix:
// hint", "SKIP check: detail".
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-4s %s", r.Status, r.Check)
	if r.Detail != "" {
		b.WriteString(": ")
		b.WriteString(r.Detail)
	}
	if r.Fix != "" {
		b.WriteString(" — fix: ")
		b.WriteString(r.Fix)
	}
	return b.String()
}

// Options are what the operator's flags and environment say, as the main package reads
// them.
type Options struct {
	// FlagsError is what the operator's own validation of its flags found (nil: valid).
	FlagsError error
	// Region is --region, else HUAWEICLOUD_SDK_REGION; Endpoint is --vpn-endpoint.
	Region   string
	Endpoint string
	// DefaultCredentials is false with --default-credentials=none: each VpnUser's Secret
	// brings its own, and the cloud checks are skipped.
	DefaultCredentials bool
	// CredentialsDir is --cloud-credentials-dir; "" reads the credentials from Getenv.
	CredentialsDir string
	// Keyless, when set, is the operator's keyless source (--credentials-source, or auto
	// finding one), named KeylessName; KeylessError is why it could not be made. Either
	// replaces the keys of CredentialsDir and Getenv.
	Keyless      vpnapi.CredentialsProvider
	KeylessName  string
	KeylessError error
	Getenv       func(string) string
	// Cloud is the operator's client configuration without credentials (user agent,
	// timeout); the preflight makes its own client of it, without retries.
	Cloud vpnapi.Config
	// ServerID is a VPN server to check (--preflight-server-id); "" checks none.
	ServerID string

	// RESTConfig gives the configuration of the Kubernetes API (the pod's or the
	// kubeconfig's).
	RESTConfig func() (*rest.Config, error)
	// WatchNamespaces are --watch-namespaces: nil for every namespace.
	WatchNamespaces []string
	// LeaderElection is --leader-elect; LeaderElectionNamespace its namespace, "" for the
	// pod's (read from PodNamespaceFile).
	LeaderElection          bool
	LeaderElectionNamespace string
	// PodNamespaceFile holds the pod's namespace in a cluster; "" means the
	// ServiceAccount's mounted namespace file.
	PodNamespaceFile string

	// Transport sends the cloud requests and probes the endpoint; nil means a clone of
	// http.DefaultTransport (proxy from the environment, the system's roots).
	Transport *http.Transport
	// CheckTimeout bounds each check, Timeout all of them (0: the defaults).
	CheckTimeout time.Duration
	Timeout      time.Duration
	// Now is the local clock; nil means time.Now.
	Now func() time.Time
}

// run is one preflight: the results so far and what the checks learnt for the later ones.
type run struct {
	o       Options
	results []Result
	// secrets are the values no line may show: the keys and the token.
	secrets []string

	// Set by the endpoint check: whether the endpoint answered, the time its Date gives
	// and the local time then.
	endpointOK bool
	serverDate time.Time
	localDate  time.Time
	// Set by the credentials check: the client, its project and the signed call's error.
	client    *vpnapi.Client
	projectID string
	signedOK  bool
	probeErr  error
	// Set by the kube-api check: the API server's configuration and who the preflight is.
	rest *rest.Config
	user string
}

// Run runs every check in order and returns their results, never holding a secret.
func Run(ctx context.Context, o Options) []Result {
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = DefaultCheckTimeout
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.Transport == nil {
		o.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	r := &run{o: o}
	if o.FlagsError != nil {
		r.add(Result{Check: CheckFlags, Status: StatusFail, Detail: oneLine(o.FlagsError.Error()),
			Fix: "correct the flags named (manager preflight --help lists them)"})
		for _, c := range []string{CheckEndpoint, CheckCredentials, CheckProject, CheckServer, CheckClock,
			CheckKubeAPI, CheckCRD, CheckPermissions, CheckLeaderElection} {
			r.skip(c, "the flags are not valid")
		}
		return r.results
	}
	r.add(Result{Check: CheckFlags, Status: StatusOK, Detail: "valid"})
	for _, check := range []func(context.Context) Result{
		r.checkEndpoint, r.checkCredentials, r.checkProject, r.checkServer, r.checkClock,
		r.checkKubeAPI, r.checkCRD, r.checkPermissions, r.checkLeaderElection,
	} {
		r.add(r.timed(ctx, check))
	}
	return r.results
}

// timed runs one check within CheckTimeout and what is left of the preflight's time.
func (r *run) timed(ctx context.Context, check func(context.Context) Result) Result {
	cctx, cancel := context.WithTimeout(ctx, r.o.CheckTimeout)
	defer cancel()
	res := check(cctx)
	switch {
	case res.Status != StatusFail:
	case ctx.Err() != nil:
		res.Detail += fmt.Sprintf(" (the preflight's %s were spent)", r.o.Timeout)
	case errors.Is(cctx.Err(), context.DeadlineExceeded):
		res.Detail += fmt.Sprintf(" (the check took longer than %s)", r.o.CheckTimeout)
	}
	return res
}

func (r *run) add(res Result) {
	res.Detail = r.scrub(res.Detail)
	res.Fix = r.scrub(res.Fix)
	r.results = append(r.results, res)
}

func (r *run) skip(check, why string) {
	r.add(Result{Check: check, Status: StatusSkip, Detail: why})
}

// scrub replaces every secret value in s: a safety net, should a message echo one.
func (r *run) scrub(s string) string {
	for _, v := range r.secrets {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// oneLine keeps a message on its line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Print writes one line per result and tells whether none failed.
func Print(w io.Writer, results []Result) (ok bool) {
	ok = true
	for _, res := range results {
		_, _ = fmt.Fprintln(w, res.String())
		if res.Status == StatusFail {
			ok = false
		}
	}
	return ok
}
