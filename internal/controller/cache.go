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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// lastAppliedAnnotation is where kubectl apply keeps the whole manifest it applied. On a
// Secret that is the Secret's data, in clear.
const lastAppliedAnnotation = corev1.LastAppliedConfigAnnotation

// ClientOptions are the options of the manager's client for the API server of cfg.
// Secrets are never read through the cache: the only Secret informer is the metadata-only
// one of the Secret watch, so the operator never holds the data of the cluster's Secrets
// in memory. The reconciler reads the one Secret it needs with the manager's API reader.
// The client writes over a connection of its own (see dedicatedHTTPClient).
func ClientOptions(cfg *rest.Config) (client.Options, error) {
	hc, err := dedicatedHTTPClient(cfg)
	if err != nil {
		return client.Options{}, err
	}
	return client.Options{
		HTTPClient: hc,
		Cache:      &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}},
	}, nil
}

// CacheOptions are the options of the manager's cache for the API server of cfg: objects
// are trimmed of what the operator never reads before they are stored (see
// TrimForCache), and the informers list and watch over a connection of their own, so
// that the reconcilers' writes never hold up the events (see dedicatedHTTPClient).
func CacheOptions(cfg *rest.Config) (cache.Options, error) {
	hc, err := dedicatedHTTPClient(cfg)
	if err != nil {
		return cache.Options{}, err
	}
	return cache.Options{HTTPClient: hc, DefaultTransform: TrimForCache}, nil
}

// TrimForCache drops from an object, before the cache stores it, what the operator never
// reads: managedFields and kubectl's last-applied manifest from every object and, from the
// metadata of Secrets (PartialObjectMetadata, watched only to map a change to the
// VpnUsers that use the Secret), everything but the object's identity and version. The
// cache then grows with the number of objects, not with their size, and never holds a
// Secret's data: kubectl apply copies a Secret's data, in clear, into the annotation
// kubectl.kubernetes.io/last-applied-configuration.
//
// The reconciler writes with merge patches computed against the object it read, so a
// field trimmed here is in neither side of the diff and is never written.
func TrimForCache(in any) (any, error) {
	if partial, ok := in.(*metav1.PartialObjectMetadata); ok {
		partial.ObjectMeta = metav1.ObjectMeta{
			Name:              partial.Name,
			Namespace:         partial.Namespace,
			UID:               partial.UID,
			ResourceVersion:   partial.ResourceVersion,
			Generation:        partial.Generation,
			CreationTimestamp: partial.CreationTimestamp,
			DeletionTimestamp: partial.DeletionTimestamp,
		}
		return partial, nil
	}
	obj, ok := in.(metav1.Object)
	if !ok {
		return in, nil
	}
	// A nil check first: setting nil on an object that has none is not free, and
	// kubernetes/kubernetes#124337 (see cache.TransformStripManagedFields).
	if obj.GetManagedFields() != nil {
		obj.SetManagedFields(nil)
	}
	// The map is the freshly decoded object's own.
	delete(obj.GetAnnotations(), lastAppliedAnnotation)
	return in, nil
}
