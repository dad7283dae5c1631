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

package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// CloudUsers is the part of the cloud API that the reconciler consumes: the users of VPN
// servers, through one set of credentials.
type CloudUsers interface {
	CreateUser(ctx context.Context, serverID string, req vpnapi.CreateUserRequest, clientToken string) (string, error)
	GetUser(ctx context.Context, serverID, userID string) (*vpnapi.User, error)
	ListUsers(ctx context.Context, serverID string) ([]vpnapi.User, error)
	UpdateUser(ctx context.Context, serverID, userID string, req vpnapi.UpdateUserRequest) (*vpnapi.User, error)
	DeleteUser(ctx context.Context, serverID, userID string) error
	ResetPassword(ctx context.Context, serverID, userID string, newPassword vpnapi.Secret) error
	// ProbeServer tells whether a VPN server exists for these credentials (nil) or not (a
	// 404): a user's 404 means the user is gone only when the server exists.
	ProbeServer(ctx context.Context, serverID string) error
	// ProjectID is the project of the credentials.
	ProjectID(ctx context.Context) (string, error)
	// Admit takes the project's rate-limiter token for the next call, or says when the
	// project's turn comes (vpnapi.Deferred): a reconcile learns it before it prepares
	// anything.
	Admit(ctx context.Context, turn bool) (context.Context, error)
}

var _ CloudUsers = (*vpnapi.Client)(nil)

// CloudClients gives the cloud client that serves a VpnUser. An error that is a
// *CredentialsNotFoundError means the VpnUser has no usable credentials (no cloud call is
// made); any other error is transient.
type CloudClients interface {
	ClientFor(ctx context.Context, vu *vpnv1alpha1.VpnUser) (CloudUsers, error)
}

// CredentialsNotFoundError says why a VpnUser has no cloud credentials. Its message names
// the Secret and the key, never a value.
type CredentialsNotFoundError struct {
	// Secret is the credentials Secret, "" for the operator's default credentials.
	Secret  string
	Message string
}

// Error implements error.
func (e *CredentialsNotFoundError) Error() string { return e.Message }

// credentialsCacheTTL is how long the client of a credentials Secret is kept without
// being used: a Secret that no VpnUser uses any more does not keep its client.
const credentialsCacheTTL = 30 * time.Minute

// SecretClients gives each VpnUser the client of its credentials: the one of the Secret
// named by spec.credentialsSecretRef, else Default. Clients are cached per Secret version
// (UID and resourceVersion), so a changed Secret is used from the next call, and every
// client of one project shares one rate limiter.
type SecretClients struct {
	// Reader reads the credentials Secrets straight from the API server (the manager's
	// API reader), so that no Secret data is cached by an informer.
	Reader client.Reader
	// Default serves VpnUsers without credentialsSecretRef; nil means there are no
	// default credentials (--default-credentials=none).
	Default CloudUsers
	// Config is the template of the clients made for Secrets: endpoint, region, timeouts,
	// metrics. Its Credentials and Limiter are replaced; QPS and Burst set the limiter of
	// each project.
	Config vpnapi.Config
	// Now is the clock of the cache; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	clients  map[types.NamespacedName]*secretClient
	limiters map[string]*vpnapi.Limiter
}

type secretClient struct {
	uid, resourceVersion string
	projectID            string
	client               CloudUsers
	lastUsed             time.Time
}

var _ CloudClients = (*SecretClients)(nil)

// Limiter returns the rate limiter of one set of credentials (nil when Config.QPS is not
// set), for the default client to share it with the clients of Secrets that hold the same
// credentials. Limiters are keyed by the access key and the project, not by the project
// alone: a namespace that declares another's project with keys of its own (or bogus ones)
// gets a limiter of its own, and cannot spend the other's budget.
func (c *SecretClients) Limiter(accessKey, projectID string) *vpnapi.Limiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limiterLocked(accessKey, projectID)
}

// limiterLocked returns the limiter of the credentials, made and bound to the metrics of
// the project (so that its waits are counted before its first answer) the first time.
func (c *SecretClients) limiterLocked(accessKey, projectID string) *vpnapi.Limiter {
	identity := accessKey + "/" + projectID
	if c.Config.QPS <= 0 {
		return nil
	}
	if c.limiters == nil {
		c.limiters = map[string]*vpnapi.Limiter{}
	}
	l := c.limiters[identity]
	if l == nil {
		l = vpnapi.NewLimiter(c.Config.QPS, cmp.Or(c.Config.Burst, vpnapi.DefaultBurst), 0)
		l.Instrument(c.Config.Metrics, projectID)
		c.limiters[identity] = l
	}
	return l
}

// ClientFor implements CloudClients.
func (c *SecretClients) ClientFor(ctx context.Context, vu *vpnv1alpha1.VpnUser) (CloudUsers, error) {
	ref := vu.Spec.CredentialsSecretRef
	if ref == nil {
		if c.Default == nil {
			return nil, &CredentialsNotFoundError{Message: "The operator runs without default cloud credentials (--default-credentials=none): " +
				"set spec.credentialsSecretRef to a Secret of this namespace with the keys " + requiredCredentialKeys()}
		}
		return c.Default, nil
	}
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: vu.Namespace, Name: ref.Name}
	if err := c.Reader.Get(quiet(ctx), key, secret); err != nil {
		if apierrors.IsNotFound(err) && !vu.DeletionTimestamp.IsZero() {
			// A namespace being deleted takes the credentials Secret and the VpnUsers in any
			// order: a VpnUser being deleted uses the last credentials read for it.
			if last := c.last(key); last != nil {
				return last, nil
			}
		}
		if apierrors.IsNotFound(err) {
			return nil, &CredentialsNotFoundError{Secret: ref.Name, Message: fmt.Sprintf(
				"Credentials Secret %q not found in namespace %q: create it with the keys %s", ref.Name, vu.Namespace, requiredCredentialKeys())}
		}
		return nil, fmt.Errorf("reading the credentials Secret %s: %w", key, err)
	}

	return c.clientOf(key, secret)
}

// clientOf is the client of the credentials in secret (the Secret key): the one made for
// this version of it, or a new one.
func (c *SecretClients) clientOf(key types.NamespacedName, secret *corev1.Secret) (CloudUsers, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(now)
	if cached := c.clients[key]; cached != nil && cached.uid == string(secret.UID) && cached.resourceVersion == secret.ResourceVersion {
		cached.lastUsed = now
		return cached.client, nil
	}
	creds, region, err := credentialsFromSecret(secret)
	if err != nil {
		return nil, err
	}
	cfg := c.Config
	cfg.Credentials = vpnapi.StaticCredentials(creds)
	cfg.Limiter = c.limiterLocked(creds.AccessKey, creds.ProjectID)
	if region != "" && cfg.Endpoint == "" {
		cfg.Region = region
	}
	if cfg.Region == "" && cfg.Endpoint == "" {
		return nil, &CredentialsNotFoundError{Secret: secret.Name, Message: fmt.Sprintf(
			"Credentials Secret %q has no key %s and the operator has no region: add the key to the Secret",
			secret.Name, vpnv1alpha1.CredentialsKeyRegion)}
	}
	api, err := vpnapi.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("making the cloud client of the credentials Secret %s: %w", key, err)
	}
	if c.clients == nil {
		c.clients = map[types.NamespacedName]*secretClient{}
	}
	c.clients[key] = &secretClient{uid: string(secret.UID), resourceVersion: secret.ResourceVersion,
		projectID: creds.ProjectID, client: api, lastUsed: now}
	return api, nil
}

// last is the client last made for the credentials Secret key, nil when none is kept.
func (c *SecretClients) last(key types.NamespacedName) CloudUsers {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sc := c.clients[key]; sc != nil {
		sc.lastUsed = c.now()
		return sc.client
	}
	return nil
}

// sweepLocked drops the clients not used for credentialsCacheTTL. The limiters stay, one
// per project ever seen (a few bytes each), so that a project keeps one limiter shared
// with the default client whatever comes and goes.
func (c *SecretClients) sweepLocked(now time.Time) {
	for key, sc := range c.clients {
		if now.Sub(sc.lastUsed) > credentialsCacheTTL {
			delete(c.clients, key)
		}
	}
}

func (c *SecretClients) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// credentialsFromSecret reads and checks the keys of a credentials Secret. Its error names
// the Secret and the keys, never a value.
func credentialsFromSecret(secret *corev1.Secret) (vpnapi.Credentials, string, error) {
	value := func(k string) string { return strings.TrimSpace(string(secret.Data[k])) }
	var missing []string
	for _, k := range []string{vpnv1alpha1.CredentialsKeyAccessKey, vpnv1alpha1.CredentialsKeySecretKey, vpnv1alpha1.CredentialsKeyProjectID} {
		if value(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		noun := "key"
		if len(missing) > 1 {
			noun = "keys"
		}
		return vpnapi.Credentials{}, "", &CredentialsNotFoundError{Secret: secret.Name, Message: fmt.Sprintf(
			"Credentials Secret %q has no %s %s (or an empty one): add it to the Secret", secret.Name, noun, strings.Join(missing, ", "))}
	}
	if err := vpnapi.ValidateProjectID(value(vpnv1alpha1.CredentialsKeyProjectID)); err != nil {
		return vpnapi.Credentials{}, "", &CredentialsNotFoundError{Secret: secret.Name, Message: fmt.Sprintf(
			"Credentials Secret %q: key %s is not a project id (%v): correct it in the Secret",
			secret.Name, vpnv1alpha1.CredentialsKeyProjectID, err)}
	}
	return vpnapi.Credentials{
		AccessKey:     value(vpnv1alpha1.CredentialsKeyAccessKey),
		SecretKey:     vpnapi.NewSecret(value(vpnv1alpha1.CredentialsKeySecretKey)),
		SecurityToken: vpnapi.NewSecret(value(vpnv1alpha1.CredentialsKeySecurityToken)),
		ProjectID:     value(vpnv1alpha1.CredentialsKeyProjectID),
	}, value(vpnv1alpha1.CredentialsKeyRegion), nil
}

func requiredCredentialKeys() string {
	return strings.Join([]string{vpnv1alpha1.CredentialsKeyAccessKey, vpnv1alpha1.CredentialsKeySecretKey,
		vpnv1alpha1.CredentialsKeyProjectID}, ", ")
}

// asCredentialsNotFound reports whether err says the credentials are missing.
func asCredentialsNotFound(err error) (*CredentialsNotFoundError, bool) {
	var e *CredentialsNotFoundError
	return e, errors.As(err, &e)
}
