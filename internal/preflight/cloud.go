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

package preflight

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// probeServerID is the server the signed call lists when no server is given: a
// well-formed id that no server has, so the cloud authenticates the call and then
// answers 404 for the server, which proves the signature and the project.
const probeServerID = "00000000-0000-0000-0000-000000000000"

const schemeHTTPS = "https"

// maxClockSkewText is MaxClockSkew in words.
const maxClockSkewText = "15 minutes"

// checkEndpoint resolves the endpoint's host, connects to it, shakes hands with TLS and
// sends an unsigned GET: any HTTP answer will do, and its Date is the cloud's clock.
func (r *run) checkEndpoint(ctx context.Context) Result {
	res := Result{Check: CheckEndpoint}
	if r.o.Region == "" && r.o.Endpoint == "" {
		if !r.o.DefaultCredentials {
			res.Status, res.Detail = StatusSkip, "no default region or endpoint: each credentials Secret names its region"
			return res
		}
		res.Status, res.Detail = StatusFail, "neither a region nor an endpoint is set"
		res.Fix = "set HUAWEICLOUD_SDK_REGION (or --region) to the region of the VPN servers, e.g. ap-southeast-1, " +
			"or --vpn-endpoint"
		return res
	}
	u, err := vpnapi.EndpointURL(r.o.Region, r.o.Endpoint)
	if err != nil {
		res.Status, res.Detail, res.Fix = StatusFail, err.Error(), "correct --vpn-endpoint or the region"
		return res
	}
	shown := u.Scheme + "://" + u.Host
	port := u.Port()
	if port == "" {
		port = map[string]string{schemeHTTPS: "443", "http": "80"}[u.Scheme]
	}
	var stages []string
	var proxy *url.URL
	if r.o.Transport.Proxy != nil {
		proxy, err = r.o.Transport.Proxy(&http.Request{URL: u})
	}
	if err != nil {
		res.Status, res.Detail = StatusFail, "the proxy settings are invalid: "+err.Error()
		res.Fix = "correct HTTPS_PROXY / HTTP_PROXY / NO_PROXY"
		return res
	}
	if proxy == nil {
		if fail := r.dialEndpoint(ctx, u, port, &stages); fail != nil {
			return *fail
		}
	} else {
		stages = append(stages, "through the proxy "+proxy.Host)
	}
	status, elapsed, err := r.getEndpoint(ctx, u)
	if err != nil {
		res.Status, res.Detail = StatusFail, shown+": HTTP: "+oneLine(err.Error())
		res.Fix = "the endpoint accepts connections but does not answer HTTP: check --vpn-endpoint (and the proxy)"
		if u.Scheme == schemeHTTPS && proxy != nil {
			res.Fix += "; a proxy that intercepts TLS needs its CA: mount it and point SSL_CERT_FILE at it"
		}
		return res
	}
	r.endpointOK = true
	res.Status = StatusOK
	res.Detail = fmt.Sprintf("%s answers (%s; HTTP %d in %s)", shown, strings.Join(stages, ", "), status,
		max(elapsed.Round(time.Millisecond), time.Millisecond))
	return res
}

// dialEndpoint checks the way to the endpoint stage by stage, for a precise failure.
// It appends the stages passed to stages.
func (r *run) dialEndpoint(ctx context.Context, u *url.URL, port string, stages *[]string) *Result {
	host := u.Hostname()
	fail := func(detail, fix string) *Result {
		return &Result{Check: CheckEndpoint, Status: StatusFail, Detail: u.Scheme + "://" + u.Host + ": " + detail, Fix: fix}
	}
	if net.ParseIP(host) == nil {
		*stages = append(*stages, "DNS")
		if _, err := net.DefaultResolver.LookupHost(ctx, host); err != nil {
			return fail("DNS: "+oneLine(err.Error()),
				"check the region (or --vpn-endpoint) for a typo, and that the pod's DNS resolves public names "+
					"(a private endpoint needs its private DNS zone)")
		}
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return fail("TCP: "+oneLine(err.Error()),
			"allow egress to "+net.JoinHostPort(host, port)+" (NetworkPolicy, security group, firewall), "+
				"or set HTTPS_PROXY if the cluster reaches the internet through a proxy")
	}
	defer func() { _ = conn.Close() }()
	*stages = append(*stages, "TCP")
	if u.Scheme != schemeHTTPS {
		return nil
	}
	cfg := r.o.Transport.TLSClientConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.ServerName = host
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		fix := "check that the endpoint serves HTTPS on port " + port
		var verify *tls.CertificateVerificationError
		if errors.As(err, &verify) {
			fix = "the endpoint's certificate is not trusted: for a private endpoint or a TLS-intercepting proxy, " +
				"mount its CA certificate and point SSL_CERT_FILE at it (the chart's extraVolumes and extraEnv)"
		}
		return fail("TLS: "+oneLine(err.Error()), fix)
	}
	*stages = append(*stages, "TLS")
	return nil
}

// getEndpoint sends an unsigned GET to the endpoint's base, recording the answer's Date.
func (r *run) getEndpoint(ctx context.Context, u *url.URL) (status int, elapsed time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String()+"/", nil)
	if err != nil {
		return 0, 0, err
	}
	hc := &http.Client{Transport: r.o.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	start := r.o.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	elapsed = r.o.Now().Sub(start)
	_ = resp.Body.Close()
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		// Date is truncated to the second: the cloud's time was within the next second,
		// about half the round trip before the answer arrived.
		r.serverDate = d.Add(time.Second / 2)
		r.localDate = start.Add(elapsed / 2)
	}
	return resp.StatusCode, elapsed, nil
}

// credentialsSource describes where the credentials are read from, never a value.
func (r *run) credentialsSource() string {
	if r.o.Keyless != nil || r.o.KeylessError != nil {
		return "the keyless source " + r.o.KeylessName
	}
	if r.o.CredentialsDir != "" {
		return "the files in " + r.o.CredentialsDir + " (--cloud-credentials-dir)"
	}
	return "the environment (" + vpnapi.EnvAccessKey + ", " + vpnapi.EnvSecretKey + ", " + vpnapi.EnvProjectID + ")"
}

// credentialsFix is the hint for credentials that cannot be read.
func (r *run) credentialsFix() string {
	if r.o.Keyless != nil || r.o.KeylessError != nil {
		return "check the source's environment and that it answers (README, Keyless credentials), or pin another with --credentials-source"
	}
	names := vpnapi.EnvAccessKey + ", " + vpnapi.EnvSecretKey + " and " + vpnapi.EnvProjectID
	if r.o.CredentialsDir != "" {
		return "mount a Secret with the keys " + names + " at " + r.o.CredentialsDir
	}
	return "set " + names + " (from the credentials Secret), or --cloud-credentials-dir"
}

// checkCredentials reads the credentials and makes one signed, read-only call with them:
// a list of one user of the given server, or of a server that does not exist.
func (r *run) checkCredentials(ctx context.Context) Result {
	res := Result{Check: CheckCredentials}
	if !r.o.DefaultCredentials {
		res.Status, res.Detail = StatusSkip, "--default-credentials=none: each VpnUser's Secret brings its own"
		return res
	}
	var provider vpnapi.CredentialsProvider
	if r.o.KeylessError != nil {
		res.Status, res.Detail, res.Fix = StatusFail, oneLine(r.o.KeylessError.Error()), r.credentialsFix()
		return res
	}
	if r.o.Keyless != nil {
		provider = r.o.Keyless
	} else if r.o.CredentialsDir != "" {
		provider = vpnapi.NewFileCredentials(r.o.CredentialsDir)
	} else {
		c, err := vpnapi.EnvCredentials(r.o.Getenv)
		if err != nil {
			res.Status, res.Detail, res.Fix = StatusFail, oneLine(err.Error()), r.credentialsFix()
			return res
		}
		provider = vpnapi.StaticCredentials(c)
	}
	c, err := provider.Credentials(ctx)
	if err != nil {
		res.Status, res.Detail, res.Fix = StatusFail, "cannot read them from "+r.credentialsSource()+": "+
			oneLine(err.Error()), r.credentialsFix()
		return res
	}
	r.secrets = append(r.secrets, c.AccessKey, c.SecretKey.Reveal(), c.SecurityToken.Reveal())
	if err := vpnapi.ValidateProjectID(c.ProjectID); err != nil {
		res.Status, res.Detail = StatusFail, vpnapi.EnvProjectID+" from "+r.credentialsSource()+" is malformed: "+err.Error()
		res.Fix = "set it to the 32-hexadecimal-digit project id of the region (console: My Credentials > Projects)"
		return res
	}
	r.projectID = c.ProjectID
	kind := "a permanent key"
	if !c.SecurityToken.IsEmpty() {
		kind = "a temporary key with a security token"
	}
	from := "read from " + r.credentialsSource() + ", " + kind
	if !r.endpointOK {
		res.Status, res.Detail = StatusSkip, from+"; not tried: the endpoint does not answer"
		return res
	}
	cfg := r.o.Cloud
	cfg.Region, cfg.Endpoint = r.o.Region, r.o.Endpoint
	cfg.Credentials = provider
	cfg.Limiter, cfg.QPS, cfg.Metrics = nil, 0, nil
	cfg.MaxRetries = -1
	cfg.Timeout = r.o.CheckTimeout
	cfg.HTTPClient = &http.Client{Transport: r.o.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	client, err := vpnapi.New(cfg)
	if err != nil {
		res.Status, res.Detail, res.Fix = StatusFail, oneLine(err.Error()), "correct the cloud flags"
		return res
	}
	r.client = client
	server := r.o.ServerID
	if server == "" {
		server = probeServerID
	}
	r.probeErr = client.ProbeServer(ctx, server)
	return r.judgeSignedCall(res, from)
}

// judgeSignedCall tells from the signed call's answer whether the cloud accepted the
// signature: anything it answers after authentication (2xx, or a 404 for the server or
// the project) proves it; 401 and 403 refuse it.
func (r *run) judgeSignedCall(res Result, from string) Result {
	err := r.probeErr
	var ae *vpnapi.APIError
	switch {
	case err == nil, errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound && strings.HasPrefix(ae.Code, "VPN."):
		r.signedOK = true
		res.Status, res.Detail = StatusOK, from+"; a signed list call was accepted"
	case errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized:
		res.Status = StatusFail
		res.Detail = from + "; the cloud refused the signature: " + oneLine(err.Error())
		res.Fix = "the access key does not exist or the secret key is not its pair: set " + vpnapi.EnvAccessKey +
			" and " + vpnapi.EnvSecretKey + " to one key pair (with " + vpnapi.EnvSecurityToken +
			" for a temporary key)"
		if skew, ok := r.clockSkew(); ok && absDuration(skew) > MaxClockSkew {
			res.Fix = "the local clock is " + describeSkew(skew) + ": the cloud refuses every signature " +
				"(see the clock check); then, if it persists, " + res.Fix
		}
	case errors.As(err, &ae) && ae.StatusCode == http.StatusForbidden:
		res.Status = StatusFail
		res.Detail = from + "; the signature was accepted but the key may not read project " + r.projectID + ": " +
			oneLine(err.Error())
		res.Fix = vpnapi.EnvProjectID + " must be the project of this region in the key's account, and the key's " +
			"IAM user needs a VPN policy (VPN FullAccess for the operator)"
	case errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound:
		res.Status = StatusFail
		res.Detail = from + "; the endpoint does not serve the VPN API: " + oneLine(err.Error())
		res.Fix = "--vpn-endpoint must be the VPN API's endpoint, e.g. https://vpn.ap-southeast-1.myhuaweicloud.com"
	default:
		res.Status = StatusFail
		res.Detail = from + "; the signed list call failed: " + oneLine(err.Error())
		res.Fix = "the answer proves nothing about the keys: run the preflight again; if it persists, check the endpoint"
	}
	return res
}

// notFoundProject reports whether the signed call's 404 is about the project rather than
// the server.
func (r *run) notFoundProject() bool {
	var ae *vpnapi.APIError
	if !errors.As(r.probeErr, &ae) || ae.StatusCode != http.StatusNotFound {
		return false
	}
	msg := strings.ToLower(ae.Message)
	return strings.Contains(msg, "project") && !strings.Contains(msg, "server")
}

// checkProject tells whether the credentials' project exists: the signed call on it was
// not answered with a 404 for the project.
func (r *run) checkProject(context.Context) Result {
	res := Result{Check: CheckProject}
	switch {
	case !r.o.DefaultCredentials:
		res.Status, res.Detail = StatusSkip, "--default-credentials=none"
	case !r.signedOK:
		res.Status, res.Detail = StatusSkip, "needs the credentials"
	case r.notFoundProject():
		res.Status = StatusFail
		res.Detail = "project " + r.projectID + " not found: " + oneLine(r.probeErr.Error())
		res.Fix = vpnapi.EnvProjectID + " must be the project of region " + r.regionName() +
			" in the key's account (console: My Credentials > API Credentials > Projects)"
		r.signedOK = false
	default:
		res.Status, res.Detail = StatusOK, "project "+r.projectID+" resolves"
	}
	return res
}

func (r *run) regionName() string {
	if r.o.Region != "" {
		return r.o.Region
	}
	return "of the endpoint"
}

// checkServer tells whether the given VPN server exists in the project.
func (r *run) checkServer(context.Context) Result {
	res := Result{Check: CheckServer}
	switch {
	case !r.o.DefaultCredentials:
		res.Status, res.Detail = StatusSkip, "--default-credentials=none"
	case r.o.ServerID == "":
		res.Status, res.Detail = StatusSkip, "no server given (--preflight-server-id or "+EnvServerID+")"
	case !r.signedOK:
		res.Status, res.Detail = StatusSkip, "needs the credentials and the project"
	case r.probeErr != nil:
		res.Status = StatusFail
		res.Detail = "vpn server " + r.o.ServerID + " not found in project " + r.projectID + ": " +
			oneLine(r.probeErr.Error())
		res.Fix = "check the server's id (console: VPN > P2C VPN Gateways > Servers) and that it is in region " +
			r.regionName() + " of the project"
	default:
		res.Status, res.Detail = StatusOK, "vpn server "+r.o.ServerID+" exists; its users can be listed"
	}
	return res
}

// clockSkew is how far the local clock is ahead of the cloud's (negative: behind), from
// the Date of the endpoint's answer.
func (r *run) clockSkew() (time.Duration, bool) {
	if r.serverDate.IsZero() {
		return 0, false
	}
	return r.localDate.Sub(r.serverDate), true
}

// checkClock compares the local clock with the cloud's: beyond 15 minutes the cloud
// refuses every signature.
func (r *run) checkClock(context.Context) Result {
	res := Result{Check: CheckClock}
	skew, ok := r.clockSkew()
	switch {
	case !r.endpointOK:
		res.Status, res.Detail = StatusSkip, "needs the endpoint"
	case !ok:
		res.Status, res.Detail = StatusSkip, "the endpoint's answer has no Date header"
	case absDuration(skew) > MaxClockSkew:
		res.Status = StatusFail
		res.Detail = "the local clock is " + describeSkew(skew) + "; the cloud refuses signatures more than " +
			maxClockSkewText + " off"
		res.Fix = "synchronise the node's clock with NTP (chronyd, systemd-timesyncd): containers use the node's clock"
	default:
		res.Status, res.Detail = StatusOK, "the local clock is "+describeSkew(skew)+" (allowed: "+maxClockSkewText+")"
	}
	return res
}

// describeSkew says how far the local clock is from the cloud's, to the second (the
// resolution of Date).
func describeSkew(skew time.Duration) string {
	s := skew.Round(time.Second)
	switch {
	case s == 0:
		return "within 1s of the cloud's"
	case s > 0:
		return s.String() + " ahead of the cloud's"
	default:
		return (-s).String() + " behind the cloud's"
	}
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
