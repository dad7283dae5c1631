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
//
// A period has at most maxScheduleSlots slots: up to an hour a slot is a second; a longer
// period has wider slots (24 s for 24 h), within which the users of a slot are spread by
// a hash of their names.
type observationSchedule struct {
	period time.Duration
	width  time.Duration
	now    func() time.Time

	mu    sync.Mutex
	load  []int
	slots map[types.NamespacedName]int
}

// maxScheduleSlots bounds the slot array of one schedule (8 bytes a slot: 28 KiB).
const maxScheduleSlots = 3600

func newObservationSchedule(period time.Duration, now func() time.Time) *observationSchedule {
	width := time.Second
	switch {
	case period < time.Minute:
		// Short periods (tests) still get enough slots to spread over.
		width = max(period/60, time.Millisecond)
	case period > maxScheduleSlots*time.Second:
		width = (period + maxScheduleSlots - 1) / maxScheduleSlots
	}
	n := min(max(int(period/width), 1), maxScheduleSlots)
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
	if s.width > time.Second {
		// Wide slots: spread the users of a slot over it, to the second.
		offset += time.Duration(hashOf(key)%uint64(s.width/time.Second)) * time.Second
	}
	return waitForOffset(offset, s.period, s.now())
}

// waitForOffset gives the wait until the wall clock is at offset within period, at least
// a tenth of the period.
func waitForOffset(offset, period time.Duration, now time.Time) time.Duration {
	phase := time.Duration(now.UnixNano() % int64(period))
	wait := (offset%period - phase + period) % period
	if wait < period/10 {
		wait += period
	}
	return wait
}

func hashOf(key types.NamespacedName) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key.String()))
	return h.Sum64()
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

// users is the number of VpnUsers that hold a slot.
func (s *observationSchedule) users() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.slots)
}

func (s *observationSchedule) slotOf(key types.NamespacedName) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slot, ok := s.slots[key]; ok {
		return slot
	}
	n := len(s.load)
	start := int(hashOf(key) % uint64(n))
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

// maxSchedules bounds the number of periods that get an observationSchedule (and its
// slot array) at a time, whatever values the annotation sync-period is given: with
// maxScheduleSlots, at most 64 × 3600 slots (1.8 MiB). Rounded (see objectSyncPeriod),
// the annotation can take about 2,000 distinct values; real clusters use a handful.
const maxSchedules = 64

// observationSchedules keeps one observationSchedule per sync period in use, so that the
// objects that share a period (the global one, or one set by annotation) are spread over
// it. A VpnUser holds a slot in one of them at a time; a schedule is dropped when its last
// VpnUser leaves it.
//
// When maxSchedules periods are in use, a VpnUser with yet another period gets no slot: it
// is observed at its own period, at an offset given by a hash of its name (spread, but
// not balanced), until a schedule of its period exists or can be made again (checked at
// each of its reconciles).
type observationSchedules struct {
	now func() time.Time

	mu      sync.Mutex
	periods map[time.Duration]*observationSchedule
	// of holds the period of every VpnUser observed periodically, with a slot or not.
	of map[types.NamespacedName]periodic
}

// periodic is the period of a VpnUser observed periodically, and when it was last
// observed (see observed).
type periodic struct {
	period time.Duration
	// since is the time (Unix nanoseconds) of the last successful observation, or of the
	// first schedule in this process when there was none yet (a restart settles the
	// VpnUsers whose status is complete without reading them back); 0 when the VpnUser
	// observes no cloud user (see observed).
	since int64
}

func newObservationSchedules(now func() time.Time) *observationSchedules {
	return &observationSchedules{now: now, periods: map[time.Duration]*observationSchedule{},
		of: map[types.NamespacedName]periodic{}}
}

// next returns how long to wait before the next observation of key with period.
func (s *observationSchedules) next(key types.NamespacedName, period time.Duration) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.of[key]
	if ok && p.period != period {
		s.releaseLocked(key, p.period)
	}
	if !ok {
		p.since = s.now().UnixNano()
	}
	p.period = period
	s.of[key] = p
	sched := s.periods[period]
	if sched == nil && len(s.periods) < maxSchedules {
		sched = newObservationSchedule(period, s.now)
		s.periods[period] = sched
	}
	if sched == nil {
		return waitForOffset(time.Duration(hashOf(key)%uint64(period)), period, s.now())
	}
	return sched.next(key)
}

// forget releases the slot of a VpnUser that is gone or observes nothing any more.
func (s *observationSchedules) forget(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.of[key]; ok {
		s.releaseLocked(key, p.period)
		delete(s.of, key)
	}
}

// observed records, for a VpnUser scheduled by next, that the cloud just answered about
// its cloud user (answered), or that it observes none (a VpnUser that leaves the cloud
// user to another): it then counts in no age (see oldest).
func (s *observationSchedules) observed(key types.NamespacedName, answered bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.of[key]
	if !ok {
		return
	}
	p.since = 0
	if answered {
		p.since = s.now().UnixNano()
	}
	s.of[key] = p
}

// oldest gives, for each period in use, the time of the oldest last observation of the
// VpnUsers of that period.
func (s *observationSchedules) oldest() map[time.Duration]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	oldest := map[time.Duration]int64{}
	for _, p := range s.of {
		if p.since == 0 {
			continue
		}
		if t, ok := oldest[p.period]; !ok || p.since < t {
			oldest[p.period] = p.since
		}
	}
	times := make(map[time.Duration]time.Time, len(oldest))
	for period, t := range oldest {
		times[period] = time.Unix(0, t)
	}
	return times
}

// releaseLocked frees the slot key may hold in the schedule of period, and the schedule
// when it was the last.
func (s *observationSchedules) releaseLocked(key types.NamespacedName, period time.Duration) {
	sched := s.periods[period]
	if sched == nil {
		return
	}
	sched.forget(key)
	if sched.users() == 0 {
		delete(s.periods, period)
	}
}

// objectSyncPeriod reads the annotation sync-period: the period to use (0: no periodic
// observation), and a problem to report when the value cannot be used (then the global
// period is used). A usable value is rounded (see roundSyncPeriod).
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
	return roundSyncPeriod(d), ""
}

// roundSyncPeriod rounds a period of the annotation to the nearest second, and above 10
// minutes to the nearest minute (1.7% at most: no one needs 10m31s rather than 11m), so
// that the annotation has about 2,000 distinct values: 90.4s is 90s, 10m20s is 10m. A
// period shorter than MinObjectSyncPeriod (allowed by tests only) is kept as it is. The
// result stays within [MinObjectSyncPeriod, MaxObjectSyncPeriod] when d is.
func roundSyncPeriod(d time.Duration) time.Duration {
	switch {
	case d > 10*time.Minute:
		return d.Round(time.Minute)
	case d >= MinObjectSyncPeriod:
		return d.Round(time.Second)
	}
	return d
}

// len is the number of VpnUsers observed periodically.
func (s *observationSchedules) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.of)
}
