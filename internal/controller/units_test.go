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

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// These are plain unit tests of the pure parts of the reconciler; the envtest suite
// (TestControllers) covers its behaviour against a real API server.

func TestCloudFailureClassifiesEachKindOfError(t *testing.T) {
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
		{"client throttled", opGet, apiErr(0, vpnapi.CodeClientThrottled, 0), stateWaiting, vpnv1alpha1.ReasonRateLimited, testRetry.Throttled, false},
		{"bad signature", opCreate, apiErr(401, vpnapi.CodeBadSignature, 0), stateStalled, vpnv1alpha1.ReasonCloudAuthFailed, testRetry.AuthFailed, false},
		{"forbidden", opUpdate, apiErr(403, vpnapi.CodeForbidden, 0), stateStalled, vpnv1alpha1.ReasonCloudAuthFailed, testRetry.AuthFailed, false},
		{"missing credentials", opGet, &vpnapi.CredentialsError{Reason: "missing secret key"}, stateStalled, vpnv1alpha1.ReasonCloudAuthFailed, testRetry.AuthFailed, false},
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
			o := r.cloudFailure(c.op, c.err)
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
	if o := r.cloudFailure(opGet, apiErr(http.StatusInternalServerError, vpnapi.CodeInternal, 0)); o.result.Requeue { //nolint:staticcheck
		t.Error("Requeue: true")
	}
}

func TestClientTokens(t *testing.T) {
	uid := types.UID("6f1c2a4e-3b5d-4e7f-8a9b-0c1d2e3f4a5b")
	if got := clientToken(uid, 0); got != string(uid) {
		t.Errorf("first token = %s; want the UID", got)
	}
	seen := map[string]bool{string(uid): true}
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	for n := int32(1); n <= 100; n++ {
		tok := clientToken(uid, n)
		if !uuidRE.MatchString(tok) {
			t.Fatalf("token %d = %q; want a 36-character UUID", n, tok)
		}
		if seen[tok] {
			t.Fatalf("token %d = %s is not new", n, tok)
		}
		seen[tok] = true
		if again := clientToken(uid, n); again != tok {
			t.Fatalf("token %d is not deterministic: %s, then %s", n, tok, again)
		}
	}
	if clientToken("other-uid", 1) == clientToken(uid, 1) {
		t.Error("two VpnUsers share a re-creation token")
	}
}

func TestObservationScheduleSpreadsTheLoad(t *testing.T) {
	const period = 10 * time.Minute
	for _, users := range []int{600, 1000, 1800, 5000} {
		t.Run(fmt.Sprint(users, " users"), func(t *testing.T) {
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			s := newObservationSchedule(period, func() time.Time { return now })
			perSecond := map[int64]int{}
			for i := range users {
				wait := s.next(types.NamespacedName{Namespace: fmt.Sprintf("team-%d", i%7), Name: fmt.Sprintf("user-%d", i)})
				if wait < period/10 || wait > period+period/10 {
					t.Fatalf("wait %s is not within [%s, %s]", wait, period/10, period+period/10)
				}
				perSecond[int64(now.Add(wait).Sub(now)/time.Second)%int64(period/time.Second)]++
			}
			mean := float64(users) / period.Seconds()
			busiest := 0
			for _, n := range perSecond {
				busiest = max(busiest, n)
			}
			if float64(busiest) > 2*mean {
				t.Errorf("busiest second has %d GETs; mean is %.2f", busiest, mean)
			}
		})
	}
}

func TestObservationScheduleOncePerPeriod(t *testing.T) {
	const period = 10 * time.Minute
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newObservationSchedule(period, func() time.Time { return now })
	key := types.NamespacedName{Namespace: "ns", Name: "alice"}
	// Reconciles at the scheduled times come back one period later, to the slot.
	now = now.Add(s.next(key))
	slot := now
	for range 5 {
		wait := s.next(key)
		if wait > period || wait < period-time.Second {
			t.Fatalf("wait = %s; want the rest of the period", wait)
		}
		now = now.Add(wait + 20*time.Millisecond) // a little queue latency
	}
	// A reconcile caused by an event just before the slot does not add a GET right after.
	now = slot.Add(10*period - time.Second)
	if wait := s.next(key); wait < period/10 {
		t.Errorf("wait = %s right before the slot", wait)
	}
	s.forget(key)
	if len(s.slots) != 0 || sum(s.load) != 0 {
		t.Errorf("forget kept the slot")
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}
