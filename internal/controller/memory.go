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
	badAnnotations sync.Map // types.NamespacedName -> string
	// turns holds the time of the turn the rate limiter gave a VpnUser's deferred call:
	// the reconcile at that time is served, not deferred again.
	turns sync.Map // types.NamespacedName -> time.Time
	// settled holds, for a VpnUser whose last reconcile left it Ready, when its next
	// periodic observation is due (see quiet.go).
	settled sync.Map // types.NamespacedName -> settledUntil
	// readyFrom holds, for a VpnUser on its way to Ready, what started it and when (see
	// metrics.go: vpnuser_time_to_ready_seconds).
	readyFrom sync.Map // types.NamespacedName -> readyTrigger
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
	m.badAnnotations.Delete(key)
	m.turns.Delete(key)
	m.settled.Delete(key)
	m.readyFrom.Delete(key)
	m.passwords.forget(key)
}

// turnOf tells whether the VpnUser key comes back at (or after) the turn it was given,
// and forgets the turn then.
func (m *memory) turnOf(key types.NamespacedName, now time.Time) bool {
	v, ok := m.turns.Load(key)
	if !ok || now.Before(v.(time.Time).Add(-turnEarly)) {
		return false
	}
	m.turns.CompareAndDelete(key, v)
	return true
}

// turnEarly is how early a reconcile may come and still take its turn (the queue's
// timers are not exact).
const turnEarly = 50 * time.Millisecond

// entries counts what is kept, over all VpnUsers.
func (m *memory) entries() int {
	n := m.schedule.len() + m.passwords.len() + syncMapLen(&m.written.m) + syncMapLen(&m.secretReads.m)
	return n + syncMapLen(&m.badAnnotations) + syncMapLen(&m.turns) + syncMapLen(&m.settled) + syncMapLen(&m.readyFrom)
}

func syncMapLen(m *sync.Map) int {
	n := 0
	m.Range(func(any, any) bool { n++; return true })
	return n
}
