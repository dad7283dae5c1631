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
	"regexp"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
)

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
