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
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
)

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
