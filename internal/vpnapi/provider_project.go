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

package vpnapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// iamProjectsPath is IAM's list of projects (Keystone), which the SDK asks for the
// project named after the region when it is given no project id.
const iamProjectsPath = "/v3/projects"

// iamProjectsNameQuery is the query parameter of iamProjectsPath that names the project.
const iamProjectsNameQuery = "name"

// ProjectDiscovery finds the project of temporary credentials that come without one, as
// the SDK does (core/auth/basic_credentials.go): the one project named after Region, as
// IAM lists it to a request signed with the credentials.
type ProjectDiscovery struct {
	// IAMEndpoint is the base URL of IAM (see IAMEndpoint).
	IAMEndpoint string
	// Region names the project.
	Region string
	// HTTPClient sends the request; nil means one that waits at most 10 seconds and
	// follows no redirect.
	HTTPClient *http.Client
	// Now gives the time of X-Sdk-Date; nil means time.Now.
	Now func() time.Time
}

// Discover lists the projects named Region with c; exactly one must come back.
func (p *ProjectDiscovery) Discover(ctx context.Context, c Credentials) (string, error) {
	what := "finding the project of region " + p.Region + " at IAM"
	u, err := url.Parse(strings.TrimRight(p.IAMEndpoint, "/") + iamProjectsPath)
	if err != nil {
		return "", errors.New(what + ": the IAM endpoint is not a URL")
	}
	u.RawQuery = url.Values{iamProjectsNameQuery: {p.Region}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", errors.New(what + ": cannot build the request")
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	req.Header.Set(HeaderSdkDate, now().UTC().Format(SdkDateFormat))
	signed := []string{signedHost, signedSdkDate}
	if !c.SecurityToken.IsEmpty() {
		req.Header.Set(HeaderSecurityToken, c.SecurityToken.Reveal())
		signed = append(signed, signedSecurityToken)
	}
	if err := SignRequest(req, nil, c.AccessKey, c.SecretKey, signed); err != nil {
		return "", errors.New(what + ": cannot sign the request")
	}
	header := req.Header
	ans, err := call(ctx, sourceHTTPClient(p.HTTPClient), http.MethodGet, u.String(), what, header, nil)
	if err != nil {
		return "", err
	}
	if ans.status != http.StatusOK {
		return "", ans.refused(what, c.SecretKey, c.SecurityToken)
	}
	var body struct {
		Projects []struct {
			ID string `json:"id"`
		} `json:"projects"`
	}
	if err := ans.decode(what, &body); err != nil {
		return "", err
	}
	switch n := len(body.Projects); {
	case n == 0:
		return "", fmt.Errorf("%s: IAM lists no project of that name; set %s", what, EnvProjectID)
	case n > 1:
		return "", fmt.Errorf("%s: IAM lists %d projects of that name; set %s to one of them", what, n, EnvProjectID)
	}
	id := body.Projects[0].ID
	if err := ValidateProjectID(id); err != nil {
		return "", fmt.Errorf("%s: IAM gave a malformed project id (%v)", what, err)
	}
	return id, nil
}
