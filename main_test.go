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

package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/vpnuser-operator/vpnuser-operator/internal/leakcheck"
	"github.com/vpnuser-operator/vpnuser-operator/internal/preflight"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

func parse(t *testing.T, args ...string) cloudOptions {
	t.Helper()
	var o cloudOptions
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	o.bindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

var fullEnv = map[string]string{
	vpnapi.EnvAccessKey: "AK", vpnapi.EnvSecretKey: "SK-value-never-printed",
	vpnapi.EnvProjectID: "0b8c1e6f3f5d4c2a9e7b6a5d4c3b2a19", EnvRegion: "ap-southeast-1",
}

func TestDefaults(t *testing.T) {
	o := parse(t)
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	if o.syncPeriod != 10*time.Minute || o.qps != 10 || o.burst != 20 || o.maxConcurrentReconciles != 4 {
		t.Errorf("defaults = %+v", o)
	}
	cfg, err := o.cloudConfig(env(fullEnv))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "ap-southeast-1" || cfg.UserAgent != "vpnuser-operator/dev" {
		t.Errorf("config = %+v", cfg)
	}
	if o := parse(t, "--region", "cn-north-4"); mustConfig(t, o).Region != "cn-north-4" {
		t.Error("--region does not override " + EnvRegion)
	}
}

func mustConfig(t *testing.T, o cloudOptions) vpnapi.Config {
	t.Helper()
	cfg, err := o.cloudConfig(env(fullEnv))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestConfigurationErrorsNameWhatIsWrong(t *testing.T) {
	without := func(keys ...string) map[string]string {
		m := map[string]string{}
		for k, v := range fullEnv {
			m[k] = v
		}
		for _, k := range keys {
			delete(m, k)
		}
		return m
	}
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no AK and project", nil, without(vpnapi.EnvAccessKey, vpnapi.EnvProjectID),
			"missing cloud configuration: HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_PROJECT_ID are not set"},
		{"no SK", nil, without(vpnapi.EnvSecretKey), "missing cloud configuration: HUAWEICLOUD_SDK_SK is not set"},
		{"no region", nil, without(EnvRegion), "HUAWEICLOUD_SDK_REGION (or --region, or --vpn-endpoint) is not set"},
		{"bad project", nil, map[string]string{vpnapi.EnvAccessKey: "AK", vpnapi.EnvSecretKey: "SK-value-never-printed",
			vpnapi.EnvProjectID: "nope", EnvRegion: "r"}, "malformed cloud configuration: HUAWEICLOUD_SDK_PROJECT_ID"},
		{"a secret key pasted as the project", nil, map[string]string{vpnapi.EnvAccessKey: "AK", vpnapi.EnvSecretKey: "x",
			vpnapi.EnvProjectID: "SK-value-never-printed/9xQ+Lm3Zt0Yb2Wc", EnvRegion: "r"}, "HUAWEICLOUD_SDK_PROJECT_ID"},
		{"qps", []string{"--cloud-qps", "0"}, fullEnv, "--cloud-qps must be greater than 0"},
		{"sync period", []string{"--sync-period", "10s"}, fullEnv, "--sync-period must be at least 30s"},
		{"burst", []string{"--cloud-burst", "0"}, fullEnv, "--cloud-burst must be at least 1"},
		{"timeout", []string{"--cloud-timeout", "0s"}, fullEnv, "--cloud-timeout must be greater than 0"},
		{"workers", []string{"--max-concurrent-reconciles", "0"}, fullEnv, "--max-concurrent-reconciles must be at least 1"},
		{"credentials dir", []string{"--cloud-credentials-dir", t.TempDir()}, map[string]string{EnvRegion: "r"}, "missing files"},
		{"default credentials", []string{"--default-credentials", "secret"}, fullEnv, `--default-credentials must be "env" or "none", got "secret"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := parse(t, c.args...)
			err := o.validate()
			if err == nil {
				_, err = o.cloudConfig(env(c.env))
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v; want one containing %q", err, c.want)
			}
			for _, secret := range []string{"SK-value-never-printed", "9xQ+Lm3Zt0Yb2Wc"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows a credential's value: %v", err)
				}
			}
		})
	}
}

func TestNoDefaultCredentials(t *testing.T) {
	o := parse(t, "--default-credentials", "none")
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	cfg, err := o.cloudConfig(env(map[string]string{}))
	if err != nil {
		t.Fatalf("none needs no environment: %v", err)
	}
	if cfg.Credentials != nil {
		t.Error("none has default credentials")
	}
	clouds, err := cloudClients(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if clouds.Default != nil {
		t.Error("none made a default client")
	}

	o = parse(t)
	clouds, err = cloudClients(mustConfig(t, o), nil)
	if err != nil {
		t.Fatal(err)
	}
	if clouds.Default == nil || clouds.Limiter(fullEnv[vpnapi.EnvAccessKey], fullEnv[vpnapi.EnvProjectID]) == nil {
		t.Error("env made no default client, or no limiter for its project")
	}
}

func parseManager(t *testing.T, args ...string) managerOptions {
	t.Helper()
	var o managerOptions
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	o.bindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestWatchNamespaces(t *testing.T) {
	for _, c := range []struct {
		value string
		want  []string // nil: every namespace
	}{
		{"", nil},
		{"  ", nil},
		{"team-a", []string{"team-a"}},
		{"team-a,team-b", []string{"team-a", "team-b"}},
		{" team-b , team-a ,team-b", []string{"team-b", "team-a"}},
		{"a,a,a", []string{"a"}},
		{"0team", []string{"0team"}},
	} {
		o := parseManager(t, "--watch-namespaces="+c.value)
		if err := o.validate(); err != nil {
			t.Errorf("%q: %v", c.value, err)
			continue
		}
		got, err := o.watchNamespaceList()
		if err != nil || !slices.Equal(got, c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("%q: %q, %v; want %q", c.value, got, err, c.want)
		}
		m := cacheNamespaces(got)
		if c.want == nil && m != nil {
			t.Errorf("%q: DefaultNamespaces %v, want nil (every namespace)", c.value, m)
		}
		for _, ns := range c.want {
			if _, ok := m[ns]; !ok || len(m) != len(c.want) {
				t.Errorf("%q: DefaultNamespaces %v", c.value, m)
			}
		}
	}
	if o := parseManager(t); o.watchNamespaces != "" {
		t.Errorf("--watch-namespaces defaults to %q, want every namespace", o.watchNamespaces)
	}
	for _, c := range []struct{ value, want string }{
		{"Team-A", `"Team-A" is not a namespace name`},
		{"team_a", `"team_a" is not a namespace name`},
		{"-a", `"-a" is not a namespace name`},
		{"a.b", `"a.b" is not a namespace name`},
		{strings.Repeat("a", 64), "is not a namespace name"},
		{"a,,b", "entry 2 is empty"},
		{"a,", "entry 2 is empty"},
		{"*", `"*" is not a namespace name`},
	} {
		o := parseManager(t, "--watch-namespaces="+c.value)
		err := o.validate()
		if err == nil || !strings.Contains(err.Error(), "--watch-namespaces") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v; want one naming --watch-namespaces and containing %q", c.value, err, c.want)
		}
	}
}

func TestAdoptionNamespaces(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string // nil: every namespace
	}{
		{nil, nil}, // the default: "*"
		{[]string{"--adoption-namespaces=*"}, nil},
		{[]string{"--adoption-namespaces= * "}, nil},
		{[]string{"--adoption-namespaces="}, []string{}},
		{[]string{"--adoption-namespaces=team-a"}, []string{"team-a"}},
		{[]string{"--adoption-namespaces=team-a, team-b,team-a"}, []string{"team-a", "team-b"}},
	} {
		o := parse(t, c.args...)
		if err := o.validate(); err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		got, err := o.adoptionNamespaceList()
		if err != nil || !slices.Equal(got, c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("%v: %#v, %v; want %#v (nil allows every namespace, an empty list none)", c.args, got, err, c.want)
		}
	}
	for _, c := range []struct{ value, want string }{
		{"*,team-a", `"*" allows every namespace and cannot be listed`},
		{"team-a,*", `"*" allows every namespace and cannot be listed`},
		{"Team-A", `"Team-A" is not a namespace name`},
		{"a,,b", "entry 2 is empty"},
	} {
		o := parse(t, "--adoption-namespaces="+c.value)
		err := o.validate()
		if err == nil || !strings.Contains(err.Error(), "--adoption-namespaces") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v; want one naming --adoption-namespaces and containing %q", c.value, err, c.want)
		}
	}
}

func TestInsecureEndpoint(t *testing.T) {
	// http to another host needs the flag.
	o := parse(t, "--vpn-endpoint=http://10.0.0.1")
	err := o.validate()
	if err == nil || !strings.Contains(err.Error(), "--vpn-endpoint") || !strings.Contains(err.Error(), vpnapi.AllowInsecureEndpointFlag) {
		t.Errorf("http://10.0.0.1 without %s: error %v; want one naming both flags", vpnapi.AllowInsecureEndpointFlag, err)
	}
	if _, err := o.checkEndpoint(); err == nil {
		t.Error("checkEndpoint accepts http://10.0.0.1 without the flag")
	}
	// With it, a warning.
	o = parse(t, "--vpn-endpoint=http://10.0.0.1", vpnapi.AllowInsecureEndpointFlag)
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	if w, err := o.checkEndpoint(); err != nil || !strings.Contains(w, "in clear") {
		t.Errorf("with %s: warning %q, error %v; want a warning", vpnapi.AllowInsecureEndpointFlag, w, err)
	}
	// Loopback http (the local fakes), https and the default need neither.
	for _, endpoint := range []string{"http://127.0.0.1:8080", "http://localhost:9000/prefix", "http://[::1]:8080",
		"https://vpn.example.com", "https://10.0.0.1", ""} {
		o := parse(t, "--vpn-endpoint="+endpoint)
		if err := o.validate(); err != nil {
			t.Errorf("%q: %v", endpoint, err)
		}
		if w, err := o.checkEndpoint(); w != "" || err != nil {
			t.Errorf("%q: warning %q, error %v", endpoint, w, err)
		}
	}
}

// runPreflightWith runs `manager preflight args` with the operator's flags bound as main
// binds them, the environment vars and no Kubernetes; it returns the exit code and output.
func runPreflightWith(t *testing.T, vars map[string]string, args ...string) (int, string) {
	t.Helper()
	var mgr managerOptions
	var cloud cloudOptions
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	mgr.bindFlags(fs)
	cloud.bindFlags(fs)
	logOpts := zap.Options{}
	logOpts.BindFlags(fs)
	noKube := func() (*rest.Config, error) { return nil, errors.New("no kubeconfig in this test") }
	var out bytes.Buffer
	code := runPreflight(fs, args, &mgr, &cloud, env(vars), noKube, &out)
	t.Logf("manager preflight %s: exit %d\n%s", strings.Join(args, " "), code, out.String())
	return code, out.String()
}

func lineOf(out, check string) string {
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 5 && strings.HasPrefix(l[5:], check+":") {
			return l
		}
	}
	return ""
}

func TestPreflightFlags(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		says string
	}{
		"unknown flag":      {[]string{"--no-such-flag"}, "FAIL flags: flag provided but not defined: -no-such-flag"},
		"operator's flag":   {[]string{"--cloud-qps", "0"}, "FAIL flags: --cloud-qps must be greater than 0"},
		"manager's flag":    {[]string{"--watch-namespaces", "Team_A"}, "FAIL flags: --watch-namespaces"},
		"server id":         {[]string{"--preflight-server-id", "srv-1"}, "FAIL flags: --preflight-server-id must be"},
		"stray argument":    {[]string{"--sync-period", "1m", "extra"}, `FAIL flags: unexpected arguments ["extra"]`},
		"malformed value":   {[]string{"--sync-period", "soon"}, "FAIL flags: invalid value"},
		"logging flags too": {[]string{"--zap-log-level", "debug", "--cloud-burst", "0"}, "FAIL flags: --cloud-burst"},
	} {
		t.Run(name, func(t *testing.T) {
			code, out := runPreflightWith(t, fullEnv, tc.args...)
			if code != 1 || !strings.HasPrefix(out, tc.says) {
				t.Errorf("exit %d, output %q; want 1 and %q", code, out, tc.says)
			}
		})
	}
	code, out := runPreflightWith(t, nil, "--help")
	if code != 0 || !strings.Contains(out, "-preflight-server-id") || !strings.Contains(out, "-vpn-endpoint") {
		t.Errorf("--help: exit %d, output %q", code, out)
	}
}

func TestPreflightAgainstTheFakeCloud(t *testing.T) {
	fake := vpnapitest.NewServer(vpnapitest.DefaultOptions())
	t.Cleanup(fake.Close)
	vars := map[string]string{
		vpnapi.EnvAccessKey: vpnapitest.DefaultAccessKey, vpnapi.EnvSecretKey: vpnapitest.DefaultSecretKey,
		vpnapi.EnvProjectID: vpnapitest.DefaultProjectID, EnvRegion: vpnapitest.DefaultRegion,
		preflight.EnvServerID: vpnapitest.DefaultServerID,
	}
	code, out := runPreflightWith(t, vars, "--vpn-endpoint", fake.URL, "--leader-elect")
	for _, check := range []string{preflight.CheckFlags, preflight.CheckEndpoint, preflight.CheckCredentials,
		preflight.CheckProject, preflight.CheckServer, preflight.CheckClock} {
		if !strings.HasPrefix(lineOf(out, check), "OK ") {
			t.Errorf("%s: %q", check, lineOf(out, check))
		}
	}
	if !strings.Contains(lineOf(out, preflight.CheckServer), vpnapitest.DefaultServerID) {
		t.Errorf("the server of %s was not checked", preflight.EnvServerID)
	}
	if !strings.HasPrefix(lineOf(out, preflight.CheckKubeAPI), "FAIL kube-api: no Kubernetes configuration") || code != 1 {
		t.Errorf("without Kubernetes: exit %d, %q", code, lineOf(out, preflight.CheckKubeAPI))
	}
	if strings.Count(out, "\n") != 10 {
		t.Errorf("not one line per check")
	}

	// The flag wins over the environment.
	other := "0f0e0d0c-0b0a-4098-8765-432101234567"
	_, out = runPreflightWith(t, vars, "--vpn-endpoint", fake.URL, "--preflight-server-id", other)
	if l := lineOf(out, preflight.CheckServer); !strings.HasPrefix(l, "FAIL server: vpn server "+other+" not found") {
		t.Errorf("server: %q", l)
	}

	// A wrong secret key fails without being shown.
	wrong := "WrongSecretKeyNeverToBePrinted42"
	vars[vpnapi.EnvSecretKey] = wrong
	code, out = runPreflightWith(t, vars, "--vpn-endpoint", fake.URL)
	if code != 1 || !strings.HasPrefix(lineOf(out, preflight.CheckCredentials), "FAIL credentials:") {
		t.Errorf("wrong secret key: exit %d, %q", code, lineOf(out, preflight.CheckCredentials))
	}
	if leaks := leakcheck.Find(out, []string{wrong, vpnapitest.DefaultSecretKey, vpnapitest.DefaultAccessKey}); len(leaks) > 0 {
		t.Errorf("the output shows %d secret values", len(leaks))
	}
}

func TestCredentialsSourceAuto(t *testing.T) {
	oidc := map[string]string{vpnapi.EnvIdPID: "idp", vpnapi.EnvIDTokenFile: "/var/run/token"}
	keys := map[string]string{vpnapi.EnvAccessKey: "AK", vpnapi.EnvSecretKey: "SK"}
	pod := map[string]string{vpnapi.EnvContainerCredentialsURI: "http://169.254.170.2/v1/credentials",
		vpnapi.EnvContainerTokenFile: "/var/run/pod-token"}
	merge := func(ms ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	cases := []struct {
		name string
		env  map[string]string
		dir  string
		want string
	}{
		{"nothing", nil, "", credentialsSourceEnv},
		{"keys", keys, "", credentialsSourceEnv},
		{"oidc wins over keys, as in the SDK", merge(keys, oidc), "", vpnapi.SourceOIDC},
		{"keys win over pod identity", merge(keys, pod), "", credentialsSourceEnv},
		{"pod identity", pod, "", vpnapi.SourcePodIdentity},
		{"half of oidc is not oidc", merge(pod, map[string]string{vpnapi.EnvIdPID: "idp"}), "", vpnapi.SourcePodIdentity},
		{"a credentials dir wins", merge(oidc, pod), "/etc/creds", credentialsSourceEnv},
	}
	for _, c := range cases {
		k := keylessOptions{source: credentialsSourceAuto}
		if got := k.resolve(env(c.env), c.dir); got != c.want {
			t.Errorf("%s: resolve = %q, want %q", c.name, got, c.want)
		}
	}
	k := keylessOptions{source: vpnapi.SourceMetadata}
	if got := k.resolve(env(merge(keys, oidc)), ""); got != vpnapi.SourceMetadata {
		t.Errorf("a pinned source is not kept: %q", got)
	}
}

func TestCredentialsSourceConfig(t *testing.T) {
	base := map[string]string{EnvRegion: "ap-southeast-1", vpnapi.EnvProjectID: fullEnv[vpnapi.EnvProjectID]}
	with := func(kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	t.Run("oidc", func(t *testing.T) {
		o := parse(t, "--credentials-source=oidc")
		cfg, err := o.cloudConfig(env(with(vpnapi.EnvIdPID, "idp", vpnapi.EnvIDTokenFile, "/var/run/token")))
		if err != nil {
			t.Fatal(err)
		}
		r := keylessSource(cfg)
		if r == nil || r.Source() != vpnapi.SourceOIDC || r.ProjectID() != base[vpnapi.EnvProjectID] {
			t.Fatalf("credentials = %#v", cfg.Credentials)
		}
		if d := describeDefaultCredentials(cfg); !strings.Contains(d, vpnapi.EnvIdPID) {
			t.Errorf("description = %q", d)
		}
	})
	t.Run("keys stay keys", func(t *testing.T) {
		o := parse(t)
		cfg, err := o.cloudConfig(env(fullEnv))
		if err != nil {
			t.Fatal(err)
		}
		if keylessSource(cfg) != nil || describeDefaultCredentials(cfg) != "" {
			t.Errorf("keys taken for a keyless source")
		}
	})
	errCases := []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{[]string{"--credentials-source=pod-identity"}, with(), []string{vpnapi.EnvContainerCredentialsURI, vpnapi.EnvContainerTokenFile, "are not set"}},
		{[]string{"--credentials-source=oidc"}, with(vpnapi.EnvIdPID, "idp"), []string{vpnapi.EnvIDTokenFile + " is not set"}},
		{[]string{"--credentials-source=oidc"}, with(vpnapi.EnvIdPID, "idp", vpnapi.EnvIDTokenFile, "/t", vpnapi.EnvIAMEndpoint, "http://iam.example.com"),
			[]string{vpnapi.EnvIAMEndpoint, "http://"}},
		{[]string{"--credentials-source=metadata", "--vpn-endpoint=https://vpn.example.com"}, map[string]string{},
			[]string{vpnapi.EnvProjectID + " (or a region to find it by) is not set"}},
		{[]string{"--credentials-source=metadata"}, with(vpnapi.EnvProjectID, "not/a/project"), []string{vpnapi.EnvProjectID}},
		{[]string{"--credentials-source=pod-identity"}, with(vpnapi.EnvContainerCredentialsURI, "file:///x", vpnapi.EnvContainerTokenFile, "/t"),
			[]string{"not an http"}},
		{[]string{"--credentials-source=metadata", "--cloud-credentials-dir=/etc/creds"}, with(), []string{"--cloud-credentials-dir", "only one"}},
	}
	for _, c := range errCases {
		o := parse(t, c.args...)
		_, err := o.cloudConfig(env(c.env))
		if err == nil {
			t.Errorf("%v %v: no error", c.args, c.env)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not name %q", c.args, err, w)
			}
		}
	}
	o := parse(t, "--credentials-source=vault")
	if err := o.validate(); err == nil || !strings.Contains(err.Error(), "--credentials-source") {
		t.Errorf("validate = %v", err)
	}
}

func TestKeylessClientsUseTheSourcesLimiter(t *testing.T) {
	o := parse(t, "--credentials-source=metadata")
	cfg, err := o.cloudConfig(env(map[string]string{EnvRegion: "ap-southeast-1", vpnapi.EnvProjectID: fullEnv[vpnapi.EnvProjectID]}))
	if err != nil {
		t.Fatal(err)
	}
	// No fetch at start: the metadata service is not there, and that is no reason to fail.
	clouds, err := cloudClients(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if clouds.Default == nil {
		t.Fatal("no default client")
	}
}

// The preflight checks a keyless source as the operator uses it: its temporary
// credentials sign the read-only call, and a source that refuses is a failed check.
func TestPreflightWithAKeylessSource(t *testing.T) {
	fake := vpnapitest.NewServer(vpnapitest.DefaultOptions())
	t.Cleanup(fake.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(vpnapitest.DefaultPodIdentityToken), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		vpnapi.EnvContainerCredentialsURI: fake.URL + vpnapitest.PodIdentityPath,
		vpnapi.EnvContainerTokenFile:      tokenFile,
		vpnapi.EnvProjectID:               vpnapitest.DefaultProjectID,
		EnvRegion:                         vpnapitest.DefaultRegion,
		preflight.EnvServerID:             vpnapitest.DefaultServerID,
	}
	_, out := runPreflightWith(t, vars, "--vpn-endpoint", fake.URL, "--credentials-source", "pod-identity")
	for _, check := range []string{preflight.CheckCredentials, preflight.CheckProject, preflight.CheckServer} {
		if !strings.HasPrefix(lineOf(out, check), "OK ") {
			t.Errorf("%s: %q", check, lineOf(out, check))
		}
	}
	if l := lineOf(out, preflight.CheckCredentials); !strings.Contains(l, "keyless source") {
		t.Errorf("credentials: the source is not named: %q", l)
	}
	issued := fake.IssuedCredentials()
	var secrets []string
	for _, c := range issued {
		secrets = append(secrets, c.SecretKey, c.SecurityToken)
	}
	secrets = append(secrets, vpnapitest.DefaultPodIdentityToken)
	if leaks := leakcheck.Find(out, secrets); len(leaks) > 0 {
		t.Errorf("the output shows %d secret values", len(leaks))
	}

	// An agent that refuses the token fails the check, with the source's hint.
	if err := os.WriteFile(tokenFile, []byte("not-the-agent-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runPreflightWith(t, vars, "--vpn-endpoint", fake.URL, "--credentials-source", "pod-identity")
	if l := lineOf(out, preflight.CheckCredentials); code != 1 || !strings.HasPrefix(l, "FAIL credentials:") || !strings.Contains(l, "--credentials-source") {
		t.Errorf("refused token: exit %d, %q", code, l)
	}
}
