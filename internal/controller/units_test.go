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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
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
	// Without naming the deprecated Requeue field: the result is RequeueAfter alone.
	if o := r.cloudFailure(opGet, apiErr(http.StatusInternalServerError, vpnapi.CodeInternal, 0)); o.result != (ctrl.Result{RequeueAfter: o.result.RequeueAfter}) {
		t.Errorf("result = %+v; want RequeueAfter alone", o.result)
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

func TestObjectSyncPeriod(t *testing.T) {
	const global = 10 * time.Minute
	for _, c := range []struct {
		value   string
		want    time.Duration
		problem bool
	}{
		{"", global, false},
		{"0", 0, false},
		{"30s", 30 * time.Second, false},
		{"90s", 90 * time.Second, false},
		{"5m", 5 * time.Minute, false},
		{"24h", 24 * time.Hour, false},
		{"29s", global, true},
		{"25h", global, true},
		{"-1m", global, true},
		{"5 minutes", global, true},
		{"0s", global, true},
	} {
		got, problem := objectSyncPeriod(c.value, global, MinObjectSyncPeriod)
		if got != c.want || (problem != "") != c.problem {
			t.Errorf("%q: period %s, problem %q; want %s, a problem: %v", c.value, got, problem, c.want, c.problem)
		}
		if problem != "" {
			for _, want := range []string{vpnv1alpha1.AnnotationSyncPeriod, "30s", "24h", c.value} {
				if !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(problem) {
					t.Errorf("%q: problem %q does not name %q", c.value, problem, want)
				}
			}
		}
	}
}

func TestObservationSchedulesKeepOneSlotPerObject(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newObservationSchedules(func() time.Time { return now })
	key := types.NamespacedName{Namespace: "ns", Name: "alice"}
	if wait := s.next(key, 30*time.Second); wait < 3*time.Second || wait > 33*time.Second {
		t.Errorf("wait = %s for a period of 30s", wait)
	}
	if wait := s.next(key, time.Hour); wait < 6*time.Minute || wait > 66*time.Minute {
		t.Errorf("wait = %s for a period of 1h", wait)
	}
	if sum(s.periods[30*time.Second].load) != 0 || sum(s.periods[time.Hour].load) != 1 {
		t.Error("a VpnUser that changed period holds two slots")
	}
	s.forget(key)
	if sum(s.periods[time.Hour].load) != 0 || len(s.of) != 0 {
		t.Error("forget kept the slot")
	}
}

func TestWaitForNewUser(t *testing.T) {
	r := &VpnUserReconciler{Retry: RetryPolicy{NewUserPoll: time.Second, NewUserGrace: time.Minute}}
	recorded := func(ago time.Duration) *metav1.Time { return ptr.To(metav1.NewTime(time.Now().Add(-ago))) }
	vu := &vpnv1alpha1.VpnUser{}
	vu.Status.ID = "41ad472e-d3e4-482b-8f00-7b2c1bfc4b7d"
	if o := r.waitForNewUser(vu); o != nil {
		t.Error("a user whose id has no record time is waited for")
	}
	vu.Status.IDRecordedAt = recorded(10 * time.Second)
	o := r.waitForNewUser(vu)
	if o == nil || o.reason != vpnv1alpha1.ReasonProgressing || o.result.RequeueAfter != time.Second || o.err != nil {
		t.Fatalf("outcome = %+v; want Progressing, back in 1s", o)
	}
	if !regexp.MustCompile("Waiting for the cloud to show the new user").MatchString(o.message) {
		t.Errorf("message = %q", o.message)
	}
	vu.Status.IDRecordedAt = recorded(2 * time.Minute)
	if o := r.waitForNewUser(vu); o != nil {
		t.Error("a user missing after the grace is still waited for")
	}
	vu.Status.IDRecordedAt = recorded(time.Second)
	vu.Status.CreatedAt = recorded(time.Second)
	if o := r.waitForNewUser(vu); o != nil {
		t.Error("a user seen once is waited for")
	}
}

func TestPasswordMemory(t *testing.T) {
	m, err := newPasswordMemory()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newPasswordMemory()
	uid := types.UID("u1")
	a, b := vpnapi.NewSecret("Password-A1"), vpnapi.NewSecret("Password-B2")
	if m.isApplied(uid, a) {
		t.Fatal("an empty memory knows a password")
	}
	if string(m.digest(a)) == string(other.digest(a)) {
		t.Error("two processes make the same digest: the key is not random")
	}
	m.applied(uid, a)
	if !m.isApplied(uid, a) || m.isApplied(uid, b) {
		t.Error("the applied password is mixed up with another")
	}
	m.forget(uid)
	if m.isApplied(uid, a) {
		t.Error("forget kept the password")
	}
	for _, e := range []error{&vpnapi.TransportError{Err: errors.New("EOF")}, &vpnapi.APIError{StatusCode: 502}} {
		if !isAmbiguous(e) {
			t.Errorf("%v is not ambiguous", e)
		}
	}
	for _, e := range []error{&vpnapi.APIError{StatusCode: 400, Code: vpnapi.CodeInvalidParameter}, &vpnapi.APIError{StatusCode: 429}} {
		if isAmbiguous(e) {
			t.Errorf("%v is ambiguous", e)
		}
	}
}

func TestTrimForCache(t *testing.T) {
	managed := []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
	lastApplied := `{"apiVersion":"v1","kind":"Secret","stringData":{"password":"Plain-Passw0rd"}}`

	t.Run("Secret metadata keeps only its identity", func(t *testing.T) {
		deleted := metav1.Now()
		in := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
			Name: "alice-password", Namespace: "team", UID: "uid-1", ResourceVersion: "42", Generation: 1,
			DeletionTimestamp: &deleted,
			Labels:            map[string]string{"app": "vpn"},
			Annotations:       map[string]string{lastAppliedAnnotation: lastApplied, "other": "x"},
			ManagedFields:     managed,
			OwnerReferences:   []metav1.OwnerReference{{Name: "owner"}},
		}}
		out, err := TrimForCache(in)
		if err != nil {
			t.Fatal(err)
		}
		got := out.(*metav1.PartialObjectMetadata)
		want := metav1.ObjectMeta{Name: "alice-password", Namespace: "team", UID: "uid-1", ResourceVersion: "42",
			Generation: 1, DeletionTimestamp: &deleted}
		if fmt.Sprint(got.ObjectMeta) != fmt.Sprint(want) {
			t.Errorf("trimmed metadata = %+v, want %+v", got.ObjectMeta, want)
		}
		if again, _ := TrimForCache(got); fmt.Sprint(again.(*metav1.PartialObjectMetadata).ObjectMeta) != fmt.Sprint(want) {
			t.Error("TrimForCache is not idempotent")
		}
	})

	t.Run("VpnUser keeps its annotations and spec, without managedFields and kubectl's copy", func(t *testing.T) {
		in := &vpnv1alpha1.VpnUser{ObjectMeta: metav1.ObjectMeta{
			Name: "alice", Namespace: "team",
			Annotations:   map[string]string{lastAppliedAnnotation: "{}", vpnv1alpha1.AnnotationSyncPeriod: "1h"},
			ManagedFields: managed,
			Finalizers:    []string{vpnv1alpha1.Finalizer},
		}, Spec: vpnv1alpha1.VpnUserSpec{Description: "kept"}}
		out, err := TrimForCache(in)
		if err != nil {
			t.Fatal(err)
		}
		got := out.(*vpnv1alpha1.VpnUser)
		if got.ManagedFields != nil {
			t.Errorf("managedFields kept: %v", got.ManagedFields)
		}
		if len(got.Annotations) != 1 || got.Annotations[vpnv1alpha1.AnnotationSyncPeriod] != "1h" {
			t.Errorf("annotations = %v, want only the sync period", got.Annotations)
		}
		if got.Spec.Description != "kept" || len(got.Finalizers) != 1 {
			t.Errorf("trimmed too much: %+v", got)
		}
	})

	t.Run("anything else passes through", func(t *testing.T) {
		if out, err := TrimForCache("not an object"); err != nil || out != "not an object" {
			t.Errorf("TrimForCache(string) = %v, %v", out, err)
		}
	})
}

func TestOwnWritesKeepStaleCopiesFromBeingActedOn(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	w := newOwnWrites(func() time.Time { return now })
	copyAt := func(uid types.UID, rv string) *vpnv1alpha1.VpnUser {
		return &vpnv1alpha1.VpnUser{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "alice", UID: uid, ResourceVersion: rv}}
	}
	if w.behind(copyAt("u1", "10")) {
		t.Fatal("behind with no write recorded")
	}
	w.record(copyAt("u1", "12"))
	for rv, want := range map[string]bool{"10": true, "11": true, "9": true} {
		if got := w.behind(copyAt("u1", rv)); got != want {
			t.Errorf("behind(rv %s) = %v, want %v", rv, got, want)
		}
	}
	if w.behind(copyAt("u2", "3")) {
		t.Error("a new object of the same name is not behind the old one's write")
	}
	w.record(copyAt("u1", "12"))
	if w.behind(copyAt("u1", "12")) || w.behind(copyAt("u1", "11")) {
		t.Error("once the cache has caught up, the record is dropped")
	}
	w.record(copyAt("u1", "20"))
	now = now.Add(staleCacheMaxWait)
	if w.behind(copyAt("u1", "15")) {
		t.Errorf("a cache behind for %s is not waited for any longer", staleCacheMaxWait)
	}
	w.record(copyAt("u1", "not-a-number"))
	if w.behind(copyAt("u1", "15")) {
		t.Error("resourceVersions that do not compare are not waited for")
	}
}

func TestSecretReadsLeaveOutVersionsAlreadyRead(t *testing.T) {
	var reads secretReads
	alice := types.NamespacedName{Namespace: "team", Name: "alice"}
	secret := func(name string, uid types.UID, rv string) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name, UID: uid, ResourceVersion: rv}}
	}
	if reads.has(alice, secret("pw", "s1", "10")) {
		t.Fatal("a Secret never read is not left out")
	}
	reads.read(alice, secret("pw", "s1", "10"))
	if !reads.has(alice, secret("pw", "s1", "10")) {
		t.Error("the version read is left out")
	}
	for _, changed := range []*metav1.PartialObjectMetadata{
		secret("pw", "s1", "11"),    // rotated
		secret("pw", "s2", "10"),    // deleted and created again
		secret("other", "s1", "10"), // another Secret
	} {
		if reads.has(alice, changed) {
			t.Errorf("%s (uid %s, rv %s) is not the version read", changed.Name, changed.UID, changed.ResourceVersion)
		}
	}
	if reads.has(types.NamespacedName{Namespace: "team", Name: "bob"}, secret("pw", "s1", "10")) {
		t.Error("another VpnUser's read does not count")
	}
	reads.forget(alice)
	if reads.has(alice, secret("pw", "s1", "10")) {
		t.Error("a forgotten VpnUser has read nothing")
	}
}
