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
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
)

// ManagerOptions returns opts with the client and the cache of the operator for the API
// server of cfg (see ClientOptions and CacheOptions); the cache keeps the namespaces opts
// names. The operator (main) and the envtest suite both build their manager with it.
func ManagerOptions(cfg *rest.Config, opts ctrl.Options) (ctrl.Options, error) {
	clientOpts, err := ClientOptions(cfg)
	if err != nil {
		return opts, err
	}
	cacheOpts, err := CacheOptions(cfg)
	if err != nil {
		return opts, err
	}
	cacheOpts.DefaultNamespaces = opts.Cache.DefaultNamespaces
	opts.Client, opts.Cache = clientOpts, cacheOpts
	return opts, nil
}

// SetupWithManager registers the reconciler with mgr: it watches VpnUsers (their spec,
// annotations and deletion, not their status) and the metadata of Secrets, indexed back
// to the VpnUsers that use them for their password or their credentials.
func (r *VpnUserReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.SyncPeriod <= 0 {
		r.SyncPeriod = DefaultSyncPeriod
	}
	r.metadata = mgr.GetCache()
	mem, err := newMemory(time.Now)
	if err != nil {
		return err
	}
	r.mem = mem
	r.metrics = newReconcilerMetrics()
	if r.MetricsRegistry != nil {
		if err := r.registerMetrics(r.MetricsRegistry, mgr.GetCache()); err != nil {
			return fmt.Errorf("registering the VpnUser metrics: %w", err)
		}
		// The fleet's metrics read VpnUsers from the cache on every replica, the leader's
		// controller or not.
		if _, err := mgr.GetCache().GetInformer(ctx, &vpnv1alpha1.VpnUser{}); err != nil {
			return fmt.Errorf("informer of VpnUsers: %w", err)
		}
	}
	retry := r.Retry.withDefaults()

	if err := indexVpnUsers(ctx, mgr.GetCache(), passwordSecretField, inNamespace, indexPasswordSecret); err != nil {
		return fmt.Errorf("indexing VpnUsers by password Secret: %w", err)
	}
	if err := indexVpnUsers(ctx, mgr.GetCache(), credentialsSecretField, inNamespace, indexCredentialsSecret); err != nil {
		return fmt.Errorf("indexing VpnUsers by credentials Secret: %w", err)
	}
	if err := indexVpnUsers(ctx, mgr.GetCache(), claimField, inCluster, indexClaim); err != nil {
		return fmt.Errorf("indexing VpnUsers by the cloud user they name: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&vpnv1alpha1.VpnUser{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{},
			predicate.AnnotationChangedPredicate{},
			deletionStarted))).
		// The Secrets of the initial list (a restart) come with a low priority, after new work.
		WatchesMetadata(&corev1.Secret{}, handler.WithLowPriorityWhenUnchanged(r.secretHandler()),
			builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1),
			RateLimiter: workqueue.NewTypedMaxOfRateLimiter(
				workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](retry.BaseDelay, retry.MaxDelay),
				&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
			),
		}).
		Named("vpnuser").
		Complete(r)
}

// deletionStarted passes the update that sets a VpnUser's deletionTimestamp.
var deletionStarted = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero()
	},
}

// indexScope is where the lookups of an index look: within a namespace, or across the
// cluster.
type indexScope bool

const (
	inNamespace indexScope = false
	inCluster   indexScope = true
)

// indexVpnUsers indexes the cached VpnUsers by field, for List with MatchingFields, as the
// cache's IndexField does but with one key per value, for the one scope the operator
// looks up: IndexField stores two (within the object's namespace and across the
// cluster), and each key is a set of its own in the informer's index, about 300 bytes a
// VpnUser (6 MiB of the heap at N = 10,000, hack/bench/README.md). The keys are the
// ones the cache's reader looks up: the index "field:<field>", the value prefixed with
// the namespace, or with "__all_namespaces" across the cluster (controller-runtime's
// FieldIndexName and KeyToNamespacedKey). The claim and Secret specs break if they change.
func indexVpnUsers(ctx context.Context, c cache.Cache, field string, scope indexScope, extract client.IndexerFunc) error {
	informer, err := c.GetInformer(ctx, &vpnv1alpha1.VpnUser{})
	if err != nil {
		return err
	}
	return informer.AddIndexers(toolscache.Indexers{"field:" + field: func(obj any) ([]string, error) {
		o, ok := obj.(client.Object)
		if !ok {
			return nil, fmt.Errorf("indexing %s: %T is not an object", field, obj)
		}
		prefix := o.GetNamespace()
		if scope == inCluster {
			prefix = "__all_namespaces"
		}
		values := extract(o)
		for i, v := range values {
			values[i] = prefix + "/" + v
		}
		return values, nil
	}})
}
