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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

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
