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
	"sync"
	"testing"
	"time"
)

// The timing figures of the Refresher.
func TestRefreshTiming(t *testing.T) {
	for _, c := range []struct {
		lifetime, lead, margin time.Duration
	}{
		{6 * time.Hour, 40 * time.Minute, time.Minute}, // the SDK's OIDC and metadata lifetimes
		{time.Hour, 20 * time.Minute, time.Minute},
		{15 * time.Minute, 5 * time.Minute, time.Minute},
		{30 * time.Second, 10 * time.Second, 3 * time.Second},
		{3 * time.Second, time.Second, 300 * time.Millisecond},
	} {
		if got := refreshLead(c.lifetime); got != c.lead {
			t.Errorf("refreshLead(%s) = %s, want %s", c.lifetime, got, c.lead)
		}
		if got := safetyMargin(c.lifetime); got != c.margin {
			t.Errorf("safetyMargin(%s) = %s, want %s", c.lifetime, got, c.margin)
		}
		// The refresh comes before the safety margin, jitter included.
		if c.lead-c.lead/4 <= safetyMargin(c.lifetime) {
			t.Errorf("lifetime %s: the refresh may come after the margin", c.lifetime)
		}
	}
}

// stepSource gives credentials of a fixed lifetime on a fake clock, or an error.
type stepSource struct {
	mu       sync.Mutex
	now      *time.Time
	lifetime time.Duration
	fail     error
	fetches  int
}

func (s *stepSource) Name() string { return SourceOIDC }

func (s *stepSource) Fetch(context.Context) (TemporaryCredentials, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches++
	if s.fail != nil {
		return TemporaryCredentials{}, s.fail
	}
	return TemporaryCredentials{
		Credentials: Credentials{AccessKey: "TMP" + string(rune('A'+s.fetches)), SecretKey: NewSecret("sk"), SecurityToken: NewSecret("st")},
		Expiry:      s.now.Add(s.lifetime),
	}, nil
}

// TestRefresherNeverGivesCredentialsWithinTheMargin walks a fake clock through one
// lifetime: the credentials are given until the margin, then new ones are fetched
// synchronously; a failure past the margin gives the source's error, and none is cached
// as credentials.
func TestRefresherNeverGivesCredentialsWithinTheMargin(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	src := &stepSource{now: &now, lifetime: time.Hour}
	clock := func() time.Time {
		src.mu.Lock()
		defer src.mu.Unlock()
		return now
	}
	r := NewRefresher(RefresherConfig{Source: src, ProjectID: "p", Now: clock})
	ctx := context.Background()
	first, err := r.Credentials(ctx)
	if err != nil || first.ProjectID != "p" {
		t.Fatalf("first = %+v, %v", first, err)
	}
	r.mu.Lock()
	refresh := r.refresh
	r.mu.Unlock()
	if lead := now.Add(time.Hour).Sub(refresh); lead < 20*time.Minute || lead > 25*time.Minute {
		t.Errorf("the refresh is planned %s before the expiry; want 20 to 25 minutes", lead)
	}
	set := func(d time.Duration) {
		src.mu.Lock()
		now = now.Add(d)
		src.mu.Unlock()
	}
	set(time.Hour - time.Minute - time.Second) // just before the margin
	if c, _ := r.Credentials(ctx); c.AccessKey != first.AccessKey {
		t.Errorf("new credentials before the margin (no background refresh runs here)")
	}
	src.mu.Lock()
	src.fail = errors.New("IAM answered 503")
	src.mu.Unlock()
	set(2 * time.Second) // within the margin
	_, err = r.Credentials(ctx)
	var ue *CredentialsUnavailableError
	if !errors.As(err, &ue) || ue.Source != SourceOIDC {
		t.Fatalf("err = %v; want CredentialsUnavailable", err)
	}
	// In back-off: the source is not asked again at once.
	count := func() int {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.fetches
	}
	fetches := count()
	if _, err := r.Credentials(ctx); err == nil || count() != fetches {
		t.Errorf("asked the source again within its back-off (%d -> %d)", fetches, count())
	}
	src.mu.Lock()
	src.fail = nil
	src.mu.Unlock()
	set(time.Minute)
	c, err := r.Credentials(ctx)
	if err != nil || c.AccessKey == first.AccessKey {
		t.Fatalf("after recovery: %+v, %v", c, err)
	}
}
