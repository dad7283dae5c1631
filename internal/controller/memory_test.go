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
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// TestMemoryForgetEmptiesEverything fills every part of the reconciler's memory for two
// VpnUsers and checks that forgetting them leaves nothing behind.
func TestMemoryForgetEmptiesEverything(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	m, err := newMemory(func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	users := []*vpnv1alpha1.VpnUser{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "one", UID: "uid-1", ResourceVersion: "10"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "two", UID: "uid-2", ResourceVersion: "20"}},
	}
	for _, vu := range users {
		key := keyOf(vu)
		m.schedule.next(key, time.Minute)
		m.passwords.applied(userRef{key: key, uid: vu.UID}, vpnapi.NewSecret("Password-A1"))
		m.written.record(vu)
		m.secretReads.read(key, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pw", UID: "s", ResourceVersion: "1"}})
		m.badAnnotations.store(key, "7x")
		m.turns.store(key, now)
		m.settled.store(key, settledUntil{due: now})
		m.readyFrom.store(key, readyTrigger{kind: triggerCreate, at: now})
	}
	if got, want := m.entries(), 8*len(users); got != want {
		t.Fatalf("entries = %d; want %d: a part of the memory is not counted", got, want)
	}
	for _, vu := range users {
		m.forget(types.NamespacedName{Namespace: vu.Namespace, Name: vu.Name})
	}
	if got := m.entries(); got != 0 {
		t.Errorf("entries after forget = %d; want 0", got)
	}
}
