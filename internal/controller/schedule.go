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
	"hash/fnv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// observationSchedule spreads the periodic GETs of all VpnUsers evenly over the sync
// period. Each VpnUser gets a slot of the period (the least loaded one, searched from a
// position given by a hash of its name so that ties spread too) and is observed when the
// wall clock passes that slot, once per period. With N users and S slots no slot holds
// more than ceil(N/S) users, so the busiest second carries at most twice the mean load
// as soon as there is at least one user per second of the period; a random jitter would
// leave bursts of several times the mean.
type observationSchedule struct {
	period time.Duration
	width  time.Duration
	now    func() time.Time

	mu    sync.Mutex
	load  []int
	slots map[types.NamespacedName]int
}

func newObservationSchedule(period time.Duration, now func() time.Time) *observationSchedule {
	width := time.Second
	if period < time.Minute {
		// Short periods (tests) still get enough slots to spread over.
		width = max(period/60, time.Millisecond)
	}
	n := max(int(period/width), 1)
	return &observationSchedule{
		period: period,
		width:  width,
		now:    now,
		load:   make([]int, n),
		slots:  map[types.NamespacedName]int{},
	}
}

// next returns how long to wait before the next observation of key: the time until its
// slot comes round again, but at least a tenth of the period, so that a reconcile just
// before the slot does not trigger a second GET right after it.
func (s *observationSchedule) next(key types.NamespacedName) time.Duration {
	offset := time.Duration(s.slotOf(key)) * s.width
	phase := time.Duration(s.now().UnixNano() % int64(s.period))
	wait := (offset - phase + s.period) % s.period
	if wait < s.period/10 {
		wait += s.period
	}
	return wait
}

// forget releases the slot of a VpnUser that is gone.
func (s *observationSchedule) forget(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slot, ok := s.slots[key]; ok {
		s.load[slot]--
		delete(s.slots, key)
	}
}

func (s *observationSchedule) slotOf(key types.NamespacedName) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slot, ok := s.slots[key]; ok {
		return slot
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(key.String()))
	n := len(s.load)
	start := int(h.Sum64() % uint64(n))
	best := start
	for i := 1; i < n && s.load[best] > 0; i++ {
		if j := (start + i) % n; s.load[j] < s.load[best] {
			best = j
		}
	}
	s.load[best]++
	s.slots[key] = best
	return best
}
