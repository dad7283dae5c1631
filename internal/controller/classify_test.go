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
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// TestClassifyEachKindOfError checks the one mapping from cloud errors to outcomes.
func TestClassifyEachKindOfError(t *testing.T) {
	r := &VpnUserReconciler{Retry: testRetry}
	apiErr := func(status int, code string, retryAfter time.Duration) error {
		return &vpnapi.APIError{StatusCode: status, Code: code, Message: "m", RequestID: "req-1", RetryAfter: retryAfter}
	}
	for _, c := range []struct {
		name      string
		op        operation
		err       error
		state     state
		reason    string
		requeue   time.Duration
		returnErr bool
	}{
		{"throttled, short Retry-After", opCreate, apiErr(429, vpnapi.CodeThrottled, 10*time.Millisecond), stateWaiting, vpnv1alpha1.ReasonRateLimited, testRetry.Throttled, false},
		{"throttled, long Retry-After", opGet, apiErr(429, vpnapi.CodeThrottled, 7*time.Second), stateWaiting, vpnv1alpha1.ReasonRateLimited, 7 * time.Second, false},
		{"client throttled, no turn", opGet, apiErr(0, vpnapi.CodeClientThrottled, 0), stateWaiting, vpnv1alpha1.ReasonRateLimited, testRetry.Throttled, false},
		{"client deferred to its turn", opGet, apiErr(0, vpnapi.CodeClientThrottled, 1500*time.Millisecond), stateDeferred, vpnv1alpha1.ReasonRateLimited, 1500 * time.Millisecond, false},
		{"bad signature", opCreate, apiErr(401, vpnapi.CodeBadSignature, 0), stateStalled, vpnv1alpha1.ReasonCloudAuthFailed, testRetry.AuthFailed, false},
		{"forbidden", opUpdate, apiErr(403, vpnapi.CodeForbidden, 0), stateStalled, vpnv1alpha1.ReasonCloudAuthFailed, testRetry.AuthFailed, false},
		{"missing credentials", opGet, &vpnapi.CredentialsError{Reason: "missing secret key"}, stateStalled, vpnv1alpha1.ReasonCloudAuthFailed, testRetry.AuthFailed, false},
		{"expired temporary credentials", opGet, apiErr(401, vpnapi.CodeTokenExpired, 0), stateStalled, vpnv1alpha1.ReasonCloudAuthFailed, testRetry.AuthFailed, false},
		{"keyless source failing", opGet, &vpnapi.CredentialsUnavailableError{Source: vpnapi.SourceOIDC, Reason: "IAM answered 503"},
			stateWaiting, vpnv1alpha1.ReasonCredentialsUnavailable, DefaultRetryPolicy.CredentialsUnavailable, false},
		{"server not found on create", opCreate, apiErr(404, vpnapi.CodeNotFound, 0), stateStalled, vpnv1alpha1.ReasonServerNotFound, testRetry.ServerNotFound, false},
		{"server not found on list", opList, apiErr(404, vpnapi.CodeNotFound, 0), stateStalled, vpnv1alpha1.ReasonServerNotFound, testRetry.ServerNotFound, false},
		{"user vanished during an update", opUpdate, apiErr(404, vpnapi.CodeNotFound, 0), stateWaiting, vpnv1alpha1.ReasonProgressing, 0, true},
		{"invalid spec", opUpdate, apiErr(400, vpnapi.CodeInvalidParameter, 0), stateStalled, vpnv1alpha1.ReasonInvalidSpec, 0, false},
		{"password refused", opResetPassword, apiErr(400, vpnapi.CodeInvalidParameter, 0), stateStalled, vpnv1alpha1.ReasonPasswordRejected, 0, false},
		{"busy", opUpdate, apiErr(400, vpnapi.CodeBusy, 0), stateWaiting, vpnv1alpha1.ReasonCloudUnavailable, 0, true},
		{"repeated operation", opResetPassword, apiErr(400, vpnapi.CodeRepeated, 0), stateWaiting, vpnv1alpha1.ReasonCloudUnavailable, 0, true},
		{"server error", opDelete, apiErr(503, vpnapi.CodeInternal, 0), stateWaiting, vpnv1alpha1.ReasonCloudUnavailable, 0, true},
		{"network", opGet, &vpnapi.TransportError{Operation: vpnapi.OpShow, Err: errors.New("connection reset")}, stateWaiting, vpnv1alpha1.ReasonCloudUnavailable, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := r.classify(c.op, c.err, "")
			if o.state != c.state || o.reason != c.reason {
				t.Errorf("state, reason = %v, %s; want %v, %s", o.state, o.reason, c.state, c.reason)
			}
			if o.result != (ctrl.Result{RequeueAfter: c.requeue}) {
				t.Errorf("result = %+v; want RequeueAfter %s", o.result, c.requeue)
			}
			if (o.err != nil) != c.returnErr {
				t.Errorf("err = %v; want an error: %v", o.err, c.returnErr)
			}
			if o.err != nil && !o.result.IsZero() {
				t.Errorf("both an error and a result: controller-runtime would ignore the result")
			}
			if c.returnErr && !errors.Is(o.err, c.err) {
				t.Errorf("the returned error does not wrap the cloud's")
			}
			var ae *vpnapi.APIError
			if errors.As(c.err, &ae) && ae.StatusCode != 0 {
				for _, want := range []string{fmt.Sprint(ae.StatusCode), ae.Code, "req-1"} {
					if !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(o.message) {
						t.Errorf("message %q does not carry %q", o.message, want)
					}
				}
			}
		})
	}
	// Nothing maps to an immediate requeue without a reason.
	// Without naming the deprecated Requeue field: the result is RequeueAfter alone.
	if o := r.classify(opGet, apiErr(http.StatusInternalServerError, vpnapi.CodeInternal, 0), ""); o.result != (ctrl.Result{RequeueAfter: o.result.RequeueAfter}) {
		t.Errorf("result = %+v; want RequeueAfter alone", o.result)
	}
}

func TestMaybePerformed(t *testing.T) {
	for _, e := range []error{&vpnapi.TransportError{Err: errors.New("EOF")}, &vpnapi.APIError{StatusCode: 502}} {
		if !maybePerformed(e) {
			t.Errorf("%v may not have been performed", e)
		}
	}
	for _, e := range []error{&vpnapi.APIError{StatusCode: 400, Code: vpnapi.CodeInvalidParameter}, &vpnapi.APIError{StatusCode: 429}} {
		if maybePerformed(e) {
			t.Errorf("%v may have been performed", e)
		}
	}
}

func TestCredentialsSourceNamesKeysNotValues(t *testing.T) {
	for _, c := range []struct{ secret, want string }{
		{"", vpnapi.EnvSecretKey},
		{"team-a-cloud", `credentials Secret "team-a-cloud"`},
	} {
		if got := credentialsSource(c.secret); !regexp.MustCompile(regexp.QuoteMeta(c.want)).MatchString(got) {
			t.Errorf("credentialsSource(%q) = %q; want it to name %q", c.secret, got, c.want)
		}
	}
}
