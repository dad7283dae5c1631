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
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

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
