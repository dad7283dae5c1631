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
	"hash/fnv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
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

// Bounds of the annotation vpn.huaweicloud.io/sync-period.
const (
	MinObjectSyncPeriod = 30 * time.Second
	MaxObjectSyncPeriod = 24 * time.Hour
)

// observationSchedules keeps one observationSchedule per sync period in use, so that the
// objects that share a period (the global one, or one set by annotation) are spread over
// it. A VpnUser holds a slot in one of them at a time.
type observationSchedules struct {
	now func() time.Time

	mu      sync.Mutex
	periods map[time.Duration]*observationSchedule
	of      map[types.NamespacedName]time.Duration
}

func newObservationSchedules(now func() time.Time) *observationSchedules {
	return &observationSchedules{now: now, periods: map[time.Duration]*observationSchedule{},
		of: map[types.NamespacedName]time.Duration{}}
}

// next returns how long to wait before the next observation of key with period.
func (s *observationSchedules) next(key types.NamespacedName, period time.Duration) time.Duration {
	s.mu.Lock()
	if old, ok := s.of[key]; ok && old != period {
		s.periods[old].forget(key)
	}
	s.of[key] = period
	sched := s.periods[period]
	if sched == nil {
		sched = newObservationSchedule(period, s.now)
		s.periods[period] = sched
	}
	s.mu.Unlock()
	return sched.next(key)
}

// forget releases the slot of a VpnUser that is gone or observes nothing any more.
func (s *observationSchedules) forget(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if period, ok := s.of[key]; ok {
		s.periods[period].forget(key)
		delete(s.of, key)
	}
}

// objectSyncPeriod reads the annotation sync-period: the period to use (0: no periodic
// observation), and a problem to report when the value cannot be used (then the global
// period is used).
func objectSyncPeriod(value string, global, minimum time.Duration) (time.Duration, string) {
	if value == "" {
		return global, ""
	}
	if value == "0" {
		return 0, ""
	}
	d, err := time.ParseDuration(value)
	if err != nil || d < minimum || d > MaxObjectSyncPeriod {
		return global, fmt.Sprintf("Annotation %s: %q is not a duration from %s to %s (such as 90s, 5m, 2h) nor \"0\" (no periodic observation); using the operator's period %s",
			vpnv1alpha1.AnnotationSyncPeriod, value, "30s", "24h", global)
	}
	return d, ""
}

// len is the number of VpnUsers that hold a slot.
func (s *observationSchedules) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.of)
}
