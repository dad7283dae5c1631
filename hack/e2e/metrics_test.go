//go:build e2e

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

package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

// fleetGauge scrapes the operator's /metrics as Prometheus does (HTTPS, a ServiceAccount
// token from a TokenRequest, authorized by the ClusterRole metrics-reader) and checks that
// vpnuser_users counts the VpnUsers of the cluster by Ready status and reason, a waiting
// one included; a token of a ServiceAccount without the binding gets 403.
func (s *suite) fleetGauge(t *testing.T) {
	// checkMetrics made the ServiceAccounts and the binding; a fresh token for each.
	scraper := strings.TrimSpace(s.kubectl.must("create", "token", "scraper", "-n", ns, "--duration=10m"))
	nobody := strings.TrimSpace(s.kubectl.must("create", "token", "nobody", "-n", ns, "--duration=10m"))
	if code, _ := s.scrape(t, nobody); code != http.StatusForbidden {
		t.Fatalf("metrics for a ServiceAccount without metrics-reader: %d, want 403", code)
	}

	s.apply(t, `
apiVersion: vpn.huaweicloud.io/v1alpha1
kind: VpnUser
metadata:
  name: heidi
spec:
  vpnServerId: `+vpnapitest.DefaultServerID+`
  passwordSecretRef:
    name: heidi-password
`)
	s.reason(t, "heidi", "SecretNotFound")

	var want, got map[string]float64
	waitFor(t, "vpnuser_users to count the VpnUsers of the cluster", 60*time.Second, func() (bool, error) {
		want = s.vpnUsersByState(t)
		code, body := s.scrape(t, scraper)
		if code != http.StatusOK {
			return false, fmt.Errorf("status %d", code)
		}
		got = samples(body, "vpnuser_users")
		return maps.Equal(got, want), fmt.Errorf("vpnuser_users %v; the cluster holds %v", got, want)
	})
	logf("vpnuser_users = %v, as kubectl counts them", got)
	if want[`ready="False",reason="SecretNotFound"`] < 1 {
		t.Errorf("no waiting VpnUser counted: %v", want)
	}

	_, body := s.scrape(t, scraper)
	if n := samples(body, "vpnuser_time_to_ready_seconds_count")[`trigger="create"`]; n < 1 {
		t.Errorf("vpnuser_time_to_ready_seconds_count{trigger=\"create\"} = %v after the samples were created", n)
	}
	if n := samples(body, "vpnapi_calls_total")[`operation="create",result="ok"`]; n < 1 {
		t.Errorf("vpnapi_calls_total{operation=\"create\",result=\"ok\"} = %v", n)
	}
	if _, ok := samples(body, "vpnuser_observation_oldest_age_seconds")[`sync_period="30s"`]; !ok {
		t.Errorf("no vpnuser_observation_oldest_age_seconds for the operator's period 30s")
	}
	if strings.Contains(body, "vpnuser_user_info") {
		t.Errorf("vpnuser_user_info is served without --metrics-per-object")
	}
	s.kubectl.must("delete", "vpnuser", "heidi", "-n", ns, "--timeout=60s")
}

// scrape GETs the operator's /metrics with a bearer token.
func (s *suite) scrape(t *testing.T, token string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		// The operator serves metrics with a self-signed certificate here, as a
		// ServiceMonitor's default insecureSkipVerify expects.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	}}
	req, _ := http.NewRequest(http.MethodGet, s.metricsURL, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", s.metricsURL, err)
	}
	defer func() { _ = res.Body.Close() }()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// vpnUsersByState counts the VpnUsers of the cluster as vpnuser_users labels them.
func (s *suite) vpnUsersByState(t *testing.T) map[string]float64 {
	t.Helper()
	var list struct {
		Items []struct {
			Status struct {
				Conditions []struct {
					Type, Status, Reason string
				} `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(s.kubectl.must("get", "vpnusers", "-A", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, vu := range list.Items {
		ready, reason := "Unknown", ""
		for _, c := range vu.Status.Conditions {
			if c.Type == "Ready" {
				ready, reason = c.Status, c.Reason
			}
		}
		counts[fmt.Sprintf("ready=%q,reason=%q", ready, reason)]++
	}
	return counts
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)

// samples are the values of the series of name in a text exposition, by their labels as
// written (`a="x",b="y"`, sorted by name).
func samples(body, name string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil || m[1] != name {
			continue
		}
		if v, err := strconv.ParseFloat(m[3], 64); err == nil {
			out[m[2]] = v
		}
	}
	return out
}
