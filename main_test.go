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
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
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
			if strings.Contains(err.Error(), "SK-value-never-printed") {
				t.Errorf("the error shows the secret key: %v", err)
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
	if clouds.Default == nil || clouds.Limiter(fullEnv[vpnapi.EnvProjectID]) == nil {
		t.Error("env made no default client, or no limiter for its project")
	}
}
