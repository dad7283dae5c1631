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
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

func TestPasswordMemory(t *testing.T) {
	m, err := newPasswordMemory()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newPasswordMemory()
	uid := userRef{key: types.NamespacedName{Namespace: "a", Name: "one"}, uid: "u1"}
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
	m.applied(uid, a)
	if again := (userRef{key: uid.key, uid: "u2"}); m.isApplied(again, a) {
		t.Error("an object made again under the same name inherits the password of the old one")
	}
	m.forget(uid.key)
	if m.isApplied(uid, a) {
		t.Error("forget kept the password")
	}
}

func TestDecidePassword(t *testing.T) {
	v := func(rv string) vpnv1alpha1.AppliedSecret {
		return vpnv1alpha1.AppliedSecret{Name: "pw", Key: "password", UID: "s1", ResourceVersion: rv}
	}
	for _, c := range []struct {
		name          string
		status        vpnv1alpha1.VpnUserStatus
		sameAsApplied bool
		want          passwordAction
	}{
		{"this version applied", vpnv1alpha1.VpnUserStatus{AppliedPasswordSecret: ptr.To(v("1"))}, false, passwordUpToDate},
		{"applied wins over the memory", vpnv1alpha1.VpnUserStatus{AppliedPasswordSecret: ptr.To(v("1"))}, true, passwordUpToDate},
		{"new version, same password", vpnv1alpha1.VpnUserStatus{AppliedPasswordSecret: ptr.To(v("1"))}, true, passwordUnchanged},
		{"same password wins over a refusal", vpnv1alpha1.VpnUserStatus{RejectedPasswordSecret: ptr.To(v("2"))}, true, passwordUnchanged},
		{"refused before", vpnv1alpha1.VpnUserStatus{RejectedPasswordSecret: ptr.To(v("2"))}, false, passwordRefusedBefore},
		{"refusal wins over pending", vpnv1alpha1.VpnUserStatus{RejectedPasswordSecret: ptr.To(v("2")), PendingPasswordSecret: ptr.To(v("2"))}, false, passwordRefusedBefore},
		{"sent, no answer", vpnv1alpha1.VpnUserStatus{PendingPasswordSecret: ptr.To(v("2"))}, false, passwordResetAgain},
		{"pending of another version", vpnv1alpha1.VpnUserStatus{PendingPasswordSecret: ptr.To(v("9"))}, false, passwordReset},
		{"new version", vpnv1alpha1.VpnUserStatus{AppliedPasswordSecret: ptr.To(v("1"))}, false, passwordReset},
		{"nothing known", vpnv1alpha1.VpnUserStatus{}, false, passwordReset},
	} {
		current := v("2")
		if c.name == "this version applied" || c.name == "applied wins over the memory" {
			current = v("1")
		}
		if got := decidePassword(&c.status, current, c.sameAsApplied); got != c.want {
			t.Errorf("%s: decidePassword = %d; want %d", c.name, got, c.want)
		}
	}
}

func TestResetAnswer(t *testing.T) {
	invalid := &vpnapi.APIError{StatusCode: 400, Code: vpnapi.CodeInvalidParameter, Message: "invalid password: too short"}
	reused := &vpnapi.APIError{StatusCode: 400, Code: vpnapi.CodeInvalidParameter, Message: "the new password must differ from the last 5 passwords"}
	lost := &vpnapi.TransportError{Err: errors.New("EOF")}
	for _, c := range []struct {
		name  string
		err   error
		again bool
		want  resetResult
	}{
		{"answered", nil, false, resetApplied},
		{"answer lost", lost, false, resetUnanswered},
		{"answer lost again", lost, true, resetUnanswered},
		{"server error", &vpnapi.APIError{StatusCode: 500}, true, resetUnanswered},
		{"refused", invalid, false, resetRefused},
		{"refused as reused after a lost answer: it was applied", reused, true, resetApplied},
		{"refused as reused, first try", reused, false, resetRefused},
		{"refused for another reason after a lost answer", invalid, true, resetRefused},
		{"throttled after a lost answer", &vpnapi.APIError{StatusCode: 429, Code: vpnapi.CodeThrottled}, true, resetRefused},
		{"forbidden", &vpnapi.APIError{StatusCode: 403, Code: vpnapi.CodeForbidden}, false, resetRefused},
	} {
		if got := resetAnswer(c.err, c.again); got != c.want {
			t.Errorf("%s: resetAnswer = %d; want %d", c.name, got, c.want)
		}
	}
}

func TestPasswordStateTransitions(t *testing.T) {
	m, err := newPasswordMemory()
	if err != nil {
		t.Fatal(err)
	}
	vu := &vpnv1alpha1.VpnUser{}
	vu.UID = "u1"
	ref := userRef{key: types.NamespacedName{Namespace: "a", Name: "one"}, uid: vu.UID}
	p := passwordState{status: &vu.Status, user: ref, memory: m}
	v1 := vpnv1alpha1.AppliedSecret{Name: "pw", Key: "password", UID: "s1", ResourceVersion: "1"}
	v2 := v1
	v2.ResourceVersion = "2"
	pw := vpnapi.NewSecret("Password-A1")

	p.pending(v1)
	p.applied(v1, pw)
	if st := vu.Status; st.AppliedPasswordSecret == nil || *st.AppliedPasswordSecret != v1 || st.PendingPasswordSecret != nil || !m.isApplied(ref, pw) {
		t.Fatalf("after applied: %+v", st)
	}
	p.pending(v2)
	p.rejected(v2)
	if st := vu.Status; st.PendingPasswordSecret != nil || st.RejectedPasswordSecret == nil || *st.AppliedPasswordSecret != v1 {
		t.Fatalf("after rejected: %+v", st)
	}
	p.confirmed(v2)
	if st := vu.Status; *st.AppliedPasswordSecret != v2 || st.RejectedPasswordSecret != nil {
		t.Fatalf("after confirmed: %+v", st)
	}
	p.pending(v1)
	p.refused()
	if vu.Status.PendingPasswordSecret != nil {
		t.Fatal("refused kept the reset pending")
	}
	p.forget()
	if st := vu.Status; st.AppliedPasswordSecret != nil || st.PendingPasswordSecret != nil || st.RejectedPasswordSecret != nil || m.len() != 0 {
		t.Fatalf("after forget: %+v, %d passwords remembered", st, m.len())
	}
}
