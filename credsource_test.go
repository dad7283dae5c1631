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
	"strings"
	"testing"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

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
