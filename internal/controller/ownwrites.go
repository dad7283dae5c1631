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
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
)

// staleCacheRecheck is how soon a VpnUser whose cached copy is older than the operator's
// own last write is looked at again; staleCacheMaxWait is how long the cache is waited
// for at most before the reconcile goes ahead anyway (the write conflicts then, or is
// repeated harmlessly).
const (
	staleCacheRecheck = 100 * time.Millisecond
	staleCacheMaxWait = 30 * time.Second
)

// ownWrites remembers, for each VpnUser, the resourceVersion of the operator's last write
// to it, so that a reconcile does not act on a cached copy older than that write. Under
// load the informer can lag by seconds, and a second event for the same object (its
// Secret's, typically: Helm, Argo CD and the bench create both at once) would otherwise
// reconcile a copy without the finalizer or the cloud user id just written: the
// finalizer patch then conflicts, or a create is sent again (harmless, with the same
// token, but a wasted call and write).
type ownWrites struct {
	m   keyed[ownWrite]
	now func() time.Time
}

type ownWrite struct {
	uid types.UID
	rv  string
	at  time.Time
}

func newOwnWrites(now func() time.Time) *ownWrites { return &ownWrites{now: now} }

// record notes a write whose answer is vu.
func (w *ownWrites) record(vu *vpnv1alpha1.VpnUser) {
	w.m.store(types.NamespacedName{Namespace: vu.Namespace, Name: vu.Name},
		ownWrite{uid: vu.UID, rv: vu.ResourceVersion, at: w.now()})
}

// behind reports whether vu, read from the cache, is older than the last write to it;
// once the cache has caught up (or after staleCacheMaxWait) the record is dropped.
func (w *ownWrites) behind(vu *vpnv1alpha1.VpnUser) bool {
	key := types.NamespacedName{Namespace: vu.Namespace, Name: vu.Name}
	last, ok := w.m.load(key)
	if !ok {
		return false
	}
	if last.uid == vu.UID && w.now().Sub(last.at) < staleCacheMaxWait {
		if cmp, err := resourceversion.CompareResourceVersion(vu.ResourceVersion, last.rv); err == nil && cmp < 0 {
			return true
		}
	}
	w.m.deleteIf(key, func(w ownWrite) bool { return w == last })
	return false
}

func (w *ownWrites) forget(key types.NamespacedName) { w.m.delete(key) }
