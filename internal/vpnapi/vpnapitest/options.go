package vpnapitest

import (
	"errors"
	"fmt"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// The demo cloud of DefaultOptions. It is a fake: printing these is fine.
const (
	DefaultProjectID  = "0b8c1e6f3f5d4c2a9e7b6a5d4c3b2a19"
	DefaultAccessKey  = "FAKEAKVPNUSEROPERATOR"
	DefaultSecretKey  = "FakeSecretKeyOfTheVpnuserOperatorDemo0001"
	DefaultServerID   = "6b2f8d3e-4a1c-4e5f-9b7d-2c8a1e3f5d70"
	DefaultGroupID    = "7625fd92-2e20-4e4d-8c56-66f110fbfaa8"
	DefaultGroupName  = "user-group1"
	SecondGroupID     = "1f0e2d3c-4b5a-4697-8877-665544332211"
	SecondGroupName   = "user-group2"
	DefaultRegion     = "ap-southeast-1"
	AuthLocalPassword = "LOCAL_PASSWORD"
	AuthCertificate   = "CERT"
	StateActive       = "ACTIVE"
	// StatePendingUpdate is a transient state: writes answer VPN.0030 (busy).
	StatePendingUpdate = "PENDING_UPDATE"
	// StateFrozen is a lasting state: writes answer 403 VPN.0003.
	StateFrozen = "FROZEN"
)

// Options configure a fake cloud.
type Options struct {
	Projects []Project `json:"projects"`
	// QPS bounds the requests the fake serves per second (0 = unlimited); above it, it
	// answers 429 APIGW.0308 with Retry-After.
	QPS float64 `json:"qps"`
	// Latency delays every answer.
	Latency time.Duration `json:"-"`
	// Seed seeds the random choice of SetFaultRate (0: a fixed default).
	Seed uint64 `json:"seed"`
	// Now is the fake's clock (X-Sdk-Date check, timestamps); nil means time.Now.
	Now func() time.Time `json:"-"`
	// Logf, when set, gets one line per API call (never a body).
	Logf func(format string, args ...any) `json:"-"`
	// Keyless configures the keyless sources of temporary credentials (keyless.go).
	Keyless Keyless `json:"keyless,omitempty"`
}

// Project is a project of the fake: its id (32 hex digits), its key pair and its VPN
// servers. When SecurityToken is set, requests must carry it (temporary credentials).
type Project struct {
	ID            string      `json:"id"`
	AccessKey     string      `json:"accessKey"`
	SecretKey     string      `json:"secretKey"`
	SecurityToken string      `json:"securityToken,omitempty"`
	Servers       []VPNServer `json:"servers"`
}

// VPNServer is a P2C VPN server: users are managed only on an ACTIVE LOCAL_PASSWORD one.
type VPNServer struct {
	ID       string  `json:"id"`
	AuthType string  `json:"authType"`
	State    string  `json:"state"`
	Groups   []Group `json:"groups"`
}

// Group is a user group of a VPN server.
type Group struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// DefaultOptions gives the demo cloud: one project, one ACTIVE LOCAL_PASSWORD server
// with two groups, all with the fixed ids of the Default* constants.
func DefaultOptions() Options {
	return Options{Projects: []Project{{
		ID:        DefaultProjectID,
		AccessKey: DefaultAccessKey,
		SecretKey: DefaultSecretKey,
		Servers: []VPNServer{{
			ID:       DefaultServerID,
			AuthType: AuthLocalPassword,
			State:    StateActive,
			Groups: []Group{
				{ID: DefaultGroupID, Name: DefaultGroupName},
				{ID: SecondGroupID, Name: SecondGroupName},
			},
		}},
	}}}
}

// Validate checks the options: well-formed ids, unique projects, access keys, servers
// and groups, and a secret key for every access key.
func (o Options) Validate() error {
	if o.QPS < 0 {
		return errors.New("qps must not be negative")
	}
	projects := map[string]bool{}
	keys := map[string]bool{}
	for _, p := range o.Projects {
		if err := vpnapi.ValidateProjectID(p.ID); err != nil {
			return err
		}
		if projects[p.ID] {
			return fmt.Errorf("project %s appears twice", p.ID)
		}
		projects[p.ID] = true
		if p.AccessKey == "" || p.SecretKey == "" {
			return fmt.Errorf("project %s needs an access key and a secret key", p.ID)
		}
		if keys[p.AccessKey] {
			return fmt.Errorf("access key %s is used by two projects", p.AccessKey)
		}
		keys[p.AccessKey] = true
		if err := validateServers(p); err != nil {
			return err
		}
	}
	return o.Keyless.validate(projects)
}

func validateServers(p Project) error {
	checkServer := uuidChecker("project "+p.ID, "server")
	for _, s := range p.Servers {
		if err := checkServer(s.ID); err != nil {
			return err
		}
		checkGroup := uuidChecker("server "+s.ID, "group")
		for _, g := range s.Groups {
			if err := checkGroup(g.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// uuidChecker gives a check that refuses an id that is not a UUID or that it has seen
// before; owner and what name the id in the errors, e.g. "project x" and "server".
func uuidChecker(owner, what string) func(id string) error {
	seen := map[string]bool{}
	return func(id string) error {
		if err := vpnapi.ValidateUUID(id); err != nil {
			return fmt.Errorf("%s: %s: %w", owner, what, err)
		}
		if seen[id] {
			return fmt.Errorf("%s: %s %s appears twice", owner, what, id)
		}
		seen[id] = true
		return nil
	}
}
