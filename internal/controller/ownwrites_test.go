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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
)

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
