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
	"time"
)

// RetryPolicy sets how long the reconciler waits before it tries again after a failure.
// A zero field takes its value from DefaultRetryPolicy.
type RetryPolicy struct {
	// Throttled is the least wait after the cloud throttled the operator; a longer
	// Retry-After of the cloud wins.
	Throttled time.Duration
	// AuthFailed is the wait after the cloud refused the operator's credentials.
	AuthFailed time.Duration
	// ServerNotFound is the wait after the VPN server (or project) was not found.
	ServerNotFound time.Duration
	// BaseDelay and MaxDelay bound the exponential back-off of the controller's queue
	// after other failures (cloud unavailable, API server errors).
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// NewUserPoll is the wait between looks at a user just created that the cloud does
	// not show yet (it is eventually consistent); NewUserGrace is how long such a user is
	// waited for before it is taken for deleted and created again.
	NewUserPoll  time.Duration
	NewUserGrace time.Duration

	// CredentialsUnavailable is the wait after the operator's keyless credentials source
	// gave no valid credentials (its refresher retries it every 30 s at most).
	CredentialsUnavailable time.Duration
}

// DefaultRetryPolicy is the policy of the operator.
var DefaultRetryPolicy = RetryPolicy{
	Throttled:      5 * time.Second,
	AuthFailed:     2 * time.Minute,
	ServerNotFound: 5 * time.Minute,
	BaseDelay:      time.Second,
	MaxDelay:       5 * time.Minute,
	NewUserPoll:    5 * time.Second,
	NewUserGrace:   2 * time.Minute,

	CredentialsUnavailable: 15 * time.Second,
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy
	return RetryPolicy{
		Throttled:      cmp.Or(p.Throttled, d.Throttled),
		AuthFailed:     cmp.Or(p.AuthFailed, d.AuthFailed),
		ServerNotFound: cmp.Or(p.ServerNotFound, d.ServerNotFound),
		BaseDelay:      cmp.Or(p.BaseDelay, d.BaseDelay),
		MaxDelay:       cmp.Or(p.MaxDelay, d.MaxDelay),
		NewUserPoll:    cmp.Or(p.NewUserPoll, d.NewUserPoll),
		NewUserGrace:   cmp.Or(p.NewUserGrace, d.NewUserGrace),

		CredentialsUnavailable: cmp.Or(p.CredentialsUnavailable, d.CredentialsUnavailable),
	}
}
