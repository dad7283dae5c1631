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
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// The timing of a Refresher. The SDK refreshes synchronously, on the request that finds
// less than 40 minutes left (core/auth/base_credentials.go); with its 6-hour OIDC
// credentials that is 5h20m after they were issued. A Refresher refreshes in the
// background instead, so that no request waits: at refreshLeadMax before the expiry, or
// a third of the lifetime for credentials that live less than two hours, plus a jitter of
// up to a quarter of that lead so that replicas do not refresh together.
const (
	refreshLeadMax = 40 * time.Minute
	// safetyMarginMax bounds the margin before the expiry within which credentials are
	// no longer signed with: a tenth of the lifetime, at most one minute.
	safetyMarginMax = time.Minute
	// refreshBackoffMin and refreshBackoffMax bound the back-off between failed
	// refreshes (the upper bound is at most a sixth of the lifetime).
	refreshBackoffMin = time.Second
	refreshBackoffMax = 30 * time.Second
)

// Refresher is the CredentialsProvider of a keyless source: it keeps temporary
// credentials fresh for every worker of the operator. Start refreshes them in the
// background ahead of their expiry, with jitter; Credentials never gives credentials
// within a safety margin of their expiry, and fetches new ones (one fetch for all the
// callers) when it has none valid. A failed refresh keeps the current credentials while
// they are valid and is tried again with back-off; once they lapse, Credentials gives a
// CredentialsUnavailableError naming the source and what failed, until the source
// answers again.
type Refresher struct {
	source   CredentialsSource
	discover func(context.Context, Credentials) (string, error)
	metrics  *Metrics
	log      logr.Logger
	now      func() time.Time
	wake     chan struct{}

	mu sync.Mutex
	// projectID is the project of the credentials, given or discovered.
	projectID string
	cur       TemporaryCredentials
	fetched   time.Time // when cur was fetched
	refresh   time.Time // when cur is to be refreshed (jittered)
	inflight  chan struct{}
	// failures counts the refreshes failed since the last success; lastErr is the last
	// one's error and retryAt the end of its back-off.
	failures int
	lastErr  error
	retryAt  time.Time
}

// RefresherConfig configures a Refresher.
type RefresherConfig struct {
	// Source fetches the credentials.
	Source CredentialsSource
	// ProjectID is the project of the credentials (the sources give keys, not projects).
	ProjectID string
	// DiscoverProject, when ProjectID is "", finds it with the first credentials
	// (ProjectDiscovery.Discover); once found, it is kept.
	DiscoverProject func(context.Context, Credentials) (string, error)
	// Metrics, when set, records the expiry and the refreshes.
	Metrics *Metrics
	// Log, when set, tells of failed refreshes and recoveries (never a value).
	Log logr.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewRefresher makes the Refresher of a source. It fetches nothing until Start or the
// first call of Credentials.
func NewRefresher(cfg RefresherConfig) *Refresher {
	r := &Refresher{source: cfg.Source, projectID: cfg.ProjectID, discover: cfg.DiscoverProject, metrics: cfg.Metrics,
		log: cfg.Log, now: cfg.Now, wake: make(chan struct{}, 1)}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log.GetSink() == nil {
		r.log = logr.Discard()
	}
	return r
}

// Source is the name of the source.
func (r *Refresher) Source() string { return r.source.Name() }

// ProjectID is the project of the credentials, "" while it is to be discovered.
func (r *Refresher) ProjectID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.projectID
}

// Credentials implements CredentialsProvider.
func (r *Refresher) Credentials(ctx context.Context) (Credentials, error) {
	for {
		r.mu.Lock()
		now := r.now()
		if r.validLocked(now) {
			c := r.cur.Credentials
			r.mu.Unlock()
			return c, nil
		}
		if r.inflight == nil && r.failures > 0 && now.Before(r.retryAt) {
			// The source failed a moment ago: do not hammer it from every worker.
			err := r.lastErr
			r.mu.Unlock()
			return Credentials{}, err
		}
		done := r.startLocked()
		r.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return Credentials{}, &CredentialsUnavailableError{Source: r.source.Name(),
				Reason: "no valid credentials yet, and the request could not wait for them: " + ctx.Err().Error()}
		}
		r.mu.Lock()
		if r.validLocked(r.now()) {
			c := r.cur.Credentials
			r.mu.Unlock()
			return c, nil
		}
		err := r.lastErr
		r.mu.Unlock()
		if err != nil {
			return Credentials{}, err
		}
	}
}

// Expired tells the Refresher that the cloud refused accessKey as expired or invalid:
// if they are still the current credentials, they are dropped, and the next call of
// Credentials fetches new ones.
func (r *Refresher) Expired(accessKey string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur.AccessKey == accessKey && accessKey != "" {
		r.cur = TemporaryCredentials{}
		r.failures, r.retryAt = 0, time.Time{}
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// Start refreshes the credentials in the background until ctx ends: ahead of their
// expiry, and again with back-off after a failure. It implements controller-runtime's
// manager.Runnable; it is run by every replica, leader or not, so that a new leader has
// fresh credentials at once.
func (r *Refresher) Start(ctx context.Context) error {
	for {
		r.mu.Lock()
		done := r.inflight
		if done == nil && !r.now().Before(r.nextLocked()) {
			done = r.startLocked()
		}
		wait := r.nextLocked().Sub(r.now())
		r.mu.Unlock()
		if done != nil {
			select {
			case <-done:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		t := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-t.C:
		case <-r.wake:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}

// NeedLeaderElection tells controller-runtime that every replica refreshes.
func (r *Refresher) NeedLeaderElection() bool { return false }

// nextLocked is when the background loop is to fetch next.
func (r *Refresher) nextLocked() time.Time {
	if r.failures > 0 {
		return r.retryAt
	}
	if r.cur.AccessKey == "" {
		return time.Time{}
	}
	return r.refresh
}

// validLocked tells whether cur may sign a request at now: it is not within the safety
// margin of its expiry.
func (r *Refresher) validLocked(now time.Time) bool {
	if r.cur.AccessKey == "" {
		return false
	}
	return now.Before(r.cur.Expiry.Add(-safetyMargin(r.cur.Expiry.Sub(r.fetched))))
}

// startLocked starts a fetch unless one is under way, and returns the channel closed
// when it is over. The fetch does not depend on the context of any one caller.
func (r *Refresher) startLocked() chan struct{} {
	if r.inflight != nil {
		return r.inflight
	}
	done := make(chan struct{})
	r.inflight = done
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 2*sourceFetchTimeout)
		defer cancel()
		start := r.now()
		r.mu.Lock()
		project := r.projectID
		r.mu.Unlock()
		c, err := r.source.Fetch(ctx)
		if err == nil && project == "" && r.discover != nil {
			project, err = r.discover(ctx, c.Credentials)
		}
		if err == nil {
			c.ProjectID = project
			if now := r.now(); !now.Before(c.Expiry.Add(-safetyMargin(c.Expiry.Sub(start)))) {
				err = fmt.Errorf("the source gave credentials that expire at %s, too soon to be used (is the clock right?)",
					c.Expiry.UTC().Format(time.RFC3339))
			}
		}
		r.finish(start, c, err)
	}()
	return done
}

// finish records the outcome of a fetch begun at start.
func (r *Refresher) finish(start time.Time, c TemporaryCredentials, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight = nil
	source := r.source.Name()
	now := r.now()
	if err != nil {
		r.failures++
		r.lastErr = &CredentialsUnavailableError{Source: source, Reason: err.Error()}
		r.retryAt = now.Add(r.backoffLocked())
		r.metrics.credentialsRefreshed(source, false)
		if r.cur.AccessKey != "" && r.validLocked(now) {
			r.log.Info("Refreshing the cloud credentials failed; the current ones stay in use until they expire",
				"source", source, "expiry", r.cur.Expiry.UTC().Format(time.RFC3339), "failures", r.failures,
				"retryIn", r.retryAt.Sub(now).Round(time.Millisecond), "error", err.Error())
		} else {
			r.log.Error(err, "No valid cloud credentials: the source failed", "source", source,
				"failures", r.failures, "retryIn", r.retryAt.Sub(now).Round(time.Millisecond))
		}
		return
	}
	if r.failures > 0 {
		r.log.Info("The cloud credentials source answers again", "source", source, "afterFailures", r.failures)
	}
	if r.projectID == "" && c.ProjectID != "" {
		r.projectID = c.ProjectID
		r.log.Info("Found the project of the cloud credentials", "source", source, "project", c.ProjectID)
	}
	lifetime := c.Expiry.Sub(start)
	lead := refreshLead(lifetime)
	r.cur, r.fetched = c, start
	r.refresh = c.Expiry.Add(-lead - rand.N(lead/4+1))
	r.failures, r.lastErr, r.retryAt = 0, nil, time.Time{}
	r.metrics.credentialsRefreshed(source, true)
	r.metrics.credentialsExpiry(source, c.Expiry)
	r.log.V(1).Info("Refreshed the cloud credentials", "source", source,
		"expiry", c.Expiry.UTC().Format(time.RFC3339), "nextRefresh", r.refresh.UTC().Format(time.RFC3339))
}

// backoffLocked is the jittered exponential back-off after r.failures failures, at most
// refreshBackoffMax (or a sixth of the current credentials' lifetime, at least a second).
func (r *Refresher) backoffLocked() time.Duration {
	ceiling := refreshBackoffMax
	if r.cur.AccessKey != "" {
		ceiling = min(ceiling, max(refreshBackoffMin, r.cur.Expiry.Sub(r.fetched)/6))
	}
	d := refreshBackoffMin << min(r.failures-1, 10)
	d = min(d, ceiling)
	return d/2 + rand.N(d/2+1)
}

// refreshLead is how long before the expiry credentials of lifetime are refreshed
// (before jitter): a third of the lifetime, at most the SDK's 40 minutes.
func refreshLead(lifetime time.Duration) time.Duration {
	return max(min(lifetime/3, refreshLeadMax), 0)
}

// safetyMargin is how long before the expiry credentials of lifetime stop being signed
// with: a tenth of the lifetime, at most a minute.
func safetyMargin(lifetime time.Duration) time.Duration {
	return max(min(lifetime/10, safetyMarginMax), 0)
}

// expirer is a CredentialsProvider of temporary credentials that the client tells of a
// refusal of credentials as expired.
type expirer interface {
	Expired(accessKey string)
}

var _ expirer = (*Refresher)(nil)

// Instrument binds the Refresher to metrics and a logger; call it before Start and the
// first Credentials.
func (r *Refresher) Instrument(m *Metrics, log logr.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.metrics = m
	if log.GetSink() != nil {
		r.log = log
	}
}
