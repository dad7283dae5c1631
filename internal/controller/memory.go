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
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// memory is what the reconciler keeps in memory about each VpnUser. None of it is needed
// for correctness: after a restart it is rebuilt as the VpnUsers are reconciled (at worst
// at the cost of a call or a write the memory would have saved, see each part).
type memory struct {
	// schedule holds each VpnUser's slot in its sync period.
	schedule *observationSchedules
	// passwords holds the digest of the password last applied to each cloud user.
	passwords *passwordMemory
	// written holds the resourceVersion of the operator's last write to each VpnUser.
	written *ownWrites
	// secretReads holds the version of each VpnUser's password Secret last read.
	secretReads secretReads
	// badAnnotations holds, per VpnUser, the unusable sync-period value last reported, so
	// that each bad value gets one event rather than one per reconcile.
	badAnnotations keyed[string]
	// turns holds the time of the turn the rate limiter gave a VpnUser's deferred call:
	// the reconcile at that time is served, not deferred again.
	turns keyed[time.Time]
	// settled holds, for a VpnUser whose last reconcile left it Ready, when its next
	// periodic observation is due (see quiet.go).
	settled keyed[settledUntil]
	// readyFrom holds, for a VpnUser on its way to Ready, what started it and when (see
	// metrics.go: vpnuser_time_to_ready_seconds).
	readyFrom keyed[readyTrigger]
}

func newMemory(now func() time.Time) (*memory, error) {
	passwords, err := newPasswordMemory()
	if err != nil {
		return nil, err
	}
	return &memory{
		schedule:  newObservationSchedules(now),
		passwords: passwords,
		written:   newOwnWrites(now),
	}, nil
}

// forget drops everything kept about the VpnUser key.
func (m *memory) forget(key types.NamespacedName) {
	m.schedule.forget(key)
	m.written.forget(key)
	m.secretReads.forget(key)
	m.badAnnotations.delete(key)
	m.turns.delete(key)
	m.settled.delete(key)
	m.readyFrom.delete(key)
	m.passwords.forget(key)
}

// turnOf tells whether the VpnUser key comes back at (or after) the turn it was given,
// and forgets the turn then.
func (m *memory) turnOf(key types.NamespacedName, now time.Time) bool {
	v, ok := m.turns.load(key)
	if !ok || now.Before(v.Add(-turnEarly)) {
		return false
	}
	m.turns.deleteIf(key, func(t time.Time) bool { return t.Equal(v) })
	return true
}

// turnEarly is how early a reconcile may come and still take its turn (the queue's
// timers are not exact).
const turnEarly = 50 * time.Millisecond

// entries counts what is kept, over all VpnUsers.
func (m *memory) entries() int {
	n := m.schedule.len() + m.passwords.len() + m.written.m.len() + m.secretReads.m.len()
	return n + m.badAnnotations.len() + m.turns.len() + m.settled.len() + m.readyFrom.len()
}

// keyed maps VpnUsers to a small value each; safe for concurrent use; the zero value is
// empty. A map under a mutex, not a sync.Map: a sync.Map puts each key and each value in
// an allocation of its own, behind a node of its own (about 150 bytes an entry, where
// this takes the key, the value and the map's slack), and 10,000 VpnUsers have several.
type keyed[V any] struct {
	mu sync.Mutex
	m  map[types.NamespacedName]V
}

func (k *keyed[V]) load(key types.NamespacedName) (V, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	return v, ok
}

func (k *keyed[V]) store(key types.NamespacedName, v V) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[types.NamespacedName]V{}
	}
	k.m[key] = v
}

// swap stores v and returns the value it replaces, if any.
func (k *keyed[V]) swap(key types.NamespacedName, v V) (previous V, loaded bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[types.NamespacedName]V{}
	}
	previous, loaded = k.m[key]
	k.m[key] = v
	return previous, loaded
}

// loadAndDelete deletes the value of key and returns it, if any.
func (k *keyed[V]) loadAndDelete(key types.NamespacedName) (V, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	delete(k.m, key)
	return v, ok
}

func (k *keyed[V]) delete(key types.NamespacedName) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
}

// deleteIf deletes the value of key if it is still one that same says is the same.
func (k *keyed[V]) deleteIf(key types.NamespacedName, same func(V) bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if v, ok := k.m[key]; ok && same(v) {
		delete(k.m, key)
	}
}

func (k *keyed[V]) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.m)
}
