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
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/vpnuser-operator/vpnuser-operator/internal/leakcheck"
	"github.com/vpnuser-operator/vpnuser-operator/internal/preflight"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

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
