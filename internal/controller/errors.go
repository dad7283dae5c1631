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
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
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
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy
	return RetryPolicy{
		Throttled:      orDefault(p.Throttled, d.Throttled),
		AuthFailed:     orDefault(p.AuthFailed, d.AuthFailed),
		ServerNotFound: orDefault(p.ServerNotFound, d.ServerNotFound),
		BaseDelay:      orDefault(p.BaseDelay, d.BaseDelay),
		MaxDelay:       orDefault(p.MaxDelay, d.MaxDelay),
		NewUserPoll:    orDefault(p.NewUserPoll, d.NewUserPoll),
		NewUserGrace:   orDefault(p.NewUserGrace, d.NewUserGrace),
	}
}

func orDefault(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

// state is what the conditions of a VpnUser say at the end of a reconcile.
type state int

const (
	// stateReady: the cloud user follows the manifest (kstatus Current).
	stateReady state = iota
	// stateWaiting: something will come by itself: a Secret, the cloud back (InProgress).
	stateWaiting
	// stateStalled: nothing changes until a person changes the spec, the Secret, the
	// credentials or the cloud (Failed).
	stateStalled
)

// outcome ends a reconcile: the conditions it leaves, when to come back, and the error
// to hand to controller-runtime (whose rate limiter then backs off).
type outcome struct {
	state   state
	reason  string
	message string
	result  ctrl.Result
	err     error
}

// operation names the cloud call that failed, for the message and the reason.
type operation string

const (
	opCreate        operation = "create the cloud user"
	opGet           operation = "read the cloud user"
	opList          operation = "list the users of the VPN server"
	opUpdate        operation = "update the cloud user"
	opDelete        operation = "delete the cloud user"
	opResetPassword operation = "reset the password of the cloud user"
)

// cloudFailure maps a failed cloud call of a VpnUser that uses the operator's own
// credentials to an outcome; see classify.
func (r *VpnUserReconciler) cloudFailure(op operation, err error) *outcome {
	return r.classify(op, err, "")
}

// failure maps a failed cloud call of the VpnUser of s to an outcome; see classify.
func (r *VpnUserReconciler) failure(s *scope, op operation, err error) *outcome {
	return r.classify(op, err, s.credentialsSecret())
}

// classify maps a failed cloud call to an outcome. It is the one place that decides what
// each kind of cloud error means for a VpnUser: terminal or not, which reason, when to
// try again. Its message carries the cloud's status, code and request id (the text of
// vpnapi's errors, which never holds a password or a key), and names where the
// credentials come from: credentialsSecret, or the operator's own when "".
func (r *VpnUserReconciler) classify(op operation, err error, credentialsSecret string) *outcome {
	retry := r.Retry.withDefaults()
	credentials := fmt.Sprintf("the operator's cloud credentials (%s, %s, %s)", vpnapi.EnvAccessKey, vpnapi.EnvSecretKey, vpnapi.EnvProjectID)
	if credentialsSecret != "" {
		credentials = fmt.Sprintf("the keys %s, %s and %s of the credentials Secret %q", vpnv1alpha1.CredentialsKeyAccessKey,
			vpnv1alpha1.CredentialsKeySecretKey, vpnv1alpha1.CredentialsKeyProjectID, credentialsSecret)
	}
	msg := fmt.Sprintf("Could not %s: %v", op, err)
	switch {
	case vpnapi.IsThrottled(err):
		wait := max(vpnapi.RetryAfter(err), retry.Throttled)
		return &outcome{state: stateWaiting, reason: vpnv1alpha1.ReasonRateLimited,
			message: fmt.Sprintf("%s; trying again in %s", msg, wait), result: ctrl.Result{RequeueAfter: wait}}
	case vpnapi.IsAuth(err):
		return &outcome{state: stateStalled, reason: vpnv1alpha1.ReasonCloudAuthFailed,
			message: fmt.Sprintf("%s; check %s and their permissions; trying again in %s", msg, credentials, retry.AuthFailed),
			result:  ctrl.Result{RequeueAfter: retry.AuthFailed}}
	case vpnapi.IsNotFound(err) && (op == opCreate || op == opList):
		return &outcome{state: stateStalled, reason: vpnv1alpha1.ReasonServerNotFound,
			message: fmt.Sprintf("%s; check that spec.vpnServerId names a P2C VPN server of the credentials' project; trying again in %s",
				msg, retry.ServerNotFound),
			result: ctrl.Result{RequeueAfter: retry.ServerNotFound}}
	case vpnapi.IsNotFound(err):
		// The user vanished between two calls: the next reconcile reads it and creates it again.
		return &outcome{state: stateWaiting, reason: vpnv1alpha1.ReasonProgressing,
			message: msg + "; looking again", err: fmt.Errorf("%s: %w", op, err)}
	case vpnapi.IsInvalid(err):
		reason, hint := vpnv1alpha1.ReasonInvalidSpec, "correct the spec"
		if op == opResetPassword {
			reason, hint = vpnv1alpha1.ReasonPasswordRejected,
				"put another password in the Secret (the cloud refuses the user's last 5 passwords)"
		}
		return &outcome{state: stateStalled, reason: reason, message: fmt.Sprintf("%s; %s", msg, hint)}
	default:
		// 5xx, busy, repeated operation, network: back off through the controller's queue.
		return &outcome{state: stateWaiting, reason: vpnv1alpha1.ReasonCloudUnavailable,
			message: msg + "; retrying with back-off", err: fmt.Errorf("%s: %w", op, err)}
	}
}

// isGone reports whether a cloud call failed because the user does not exist.
func isGone(err error) bool { return vpnapi.IsNotFound(err) }

// mayBeNameConflict reports whether a failed create may be a duplicate name; only a list
// of the server's users can tell (the message of the cloud is not to be relied upon).
func mayBeNameConflict(err error) bool { return vpnapi.IsInvalid(err) }
