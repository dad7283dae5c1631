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
	"regexp"
	"runtime"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
)

func TestObservationScheduleSpreadsTheLoad(t *testing.T) {
	const period = 10 * time.Minute
	for _, users := range []int{600, 1000, 1800, 5000} {
		t.Run(fmt.Sprint(users, " users"), func(t *testing.T) {
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			s := newObservationSchedule(period, func() time.Time { return now })
			perSecond := map[int64]int{}
			for i := range users {
				wait := s.next(types.NamespacedName{Namespace: fmt.Sprintf("team-%d", i%7), Name: fmt.Sprintf("user-%d", i)})
				if wait < period/10 || wait > period+period/10 {
					t.Fatalf("wait %s is not within [%s, %s]", wait, period/10, period+period/10)
				}
				perSecond[int64(now.Add(wait).Sub(now)/time.Second)%int64(period/time.Second)]++
			}
			mean := float64(users) / period.Seconds()
			busiest := 0
			for _, n := range perSecond {
				busiest = max(busiest, n)
			}
			if float64(busiest) > 2*mean {
				t.Errorf("busiest second has %d GETs; mean is %.2f", busiest, mean)
			}
		})
	}
}

func TestObservationScheduleOncePerPeriod(t *testing.T) {
	const period = 10 * time.Minute
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newObservationSchedule(period, func() time.Time { return now })
	key := types.NamespacedName{Namespace: "ns", Name: "alice"}
	// Reconciles at the scheduled times come back one period later, to the slot.
	now = now.Add(s.next(key))
	slot := now
	for range 5 {
		wait := s.next(key)
		if wait > period || wait < period-time.Second {
			t.Fatalf("wait = %s; want the rest of the period", wait)
		}
		now = now.Add(wait + 20*time.Millisecond) // a little queue latency
	}
	// A reconcile caused by an event just before the slot does not add a GET right after.
	now = slot.Add(10*period - time.Second)
	if wait := s.next(key); wait < period/10 {
		t.Errorf("wait = %s right before the slot", wait)
	}
	s.forget(key)
	if len(s.slots) != 0 || sum(s.load) != 0 {
		t.Errorf("forget kept the slot")
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func TestObjectSyncPeriod(t *testing.T) {
	const global = 10 * time.Minute
	for _, c := range []struct {
		value   string
		want    time.Duration
		problem bool
	}{
		{"", global, false},
		{"0", 0, false},
		{"30s", 30 * time.Second, false},
		{"90s", 90 * time.Second, false},
		{"5m", 5 * time.Minute, false},
		{"24h", 24 * time.Hour, false},
		{"29s", global, true},
		{"25h", global, true},
		{"-1m", global, true},
		{"5 minutes", global, true},
		{"0s", global, true},
	} {
		got, problem := objectSyncPeriod(c.value, global, MinObjectSyncPeriod)
		if got != c.want || (problem != "") != c.problem {
			t.Errorf("%q: period %s, problem %q; want %s, a problem: %v", c.value, got, problem, c.want, c.problem)
		}
		if problem != "" {
			for _, want := range []string{vpnv1alpha1.AnnotationSyncPeriod, "30s", "24h", c.value} {
				if !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(problem) {
					t.Errorf("%q: problem %q does not name %q", c.value, problem, want)
				}
			}
		}
	}
}

func TestObservationSchedulesKeepOneSlotPerObject(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newObservationSchedules(func() time.Time { return now })
	key := types.NamespacedName{Namespace: "ns", Name: "alice"}
	other := types.NamespacedName{Namespace: "ns", Name: "bob"}
	s.next(other, 30*time.Second)
	if wait := s.next(key, 30*time.Second); wait < 3*time.Second || wait > 33*time.Second {
		t.Errorf("wait = %s for a period of 30s", wait)
	}
	if wait := s.next(key, time.Hour); wait < 6*time.Minute || wait > 66*time.Minute {
		t.Errorf("wait = %s for a period of 1h", wait)
	}
	if sum(s.periods[30*time.Second].load) != 1 || sum(s.periods[time.Hour].load) != 1 {
		t.Error("a VpnUser that changed period holds two slots")
	}
	s.forget(key)
	if s.periods[time.Hour] != nil || len(s.of) != 1 {
		t.Error("forget kept the slot, or the schedule left empty")
	}
	s.next(other, time.Hour)
	if s.periods[30*time.Second] != nil || len(s.periods) != 1 {
		t.Error("the schedule its last VpnUser left is kept")
	}
	s.forget(other)
	if len(s.periods) != 0 || len(s.of) != 0 {
		t.Error("forget kept a schedule")
	}
}

func TestObjectSyncPeriodRounds(t *testing.T) {
	const global = 10 * time.Minute
	for value, want := range map[string]time.Duration{
		"30.4s":     30 * time.Second,
		"90.4s":     90 * time.Second,
		"90.5s":     91 * time.Second,
		"599.6s":    10 * time.Minute,
		"10m20s":    10 * time.Minute,
		"10m30s":    11 * time.Minute,
		"1h0m29s":   time.Hour,
		"23h59m31":  0, // not a duration
		"23h59m31s": 24 * time.Hour,
	} {
		got, problem := objectSyncPeriod(value, global, MinObjectSyncPeriod)
		if want == 0 {
			if problem == "" {
				t.Errorf("%q: no problem", value)
			}
			continue
		}
		if got != want || problem != "" {
			t.Errorf("%q: period %s, problem %q; want %s", value, got, problem, want)
		}
	}
	// Periods below the least of the annotation, allowed by tests, are kept as they are.
	if got, _ := objectSyncPeriod("1500ms", global, 500*time.Millisecond); got != 1500*time.Millisecond {
		t.Errorf("1500ms gives %s", got)
	}
}

// annotationValues gives n distinct values of the annotation sync-period, from 30s to 24h
// (as objectSyncPeriod rounds them), each step at least a second.
func annotationValues(t *testing.T, n int) []time.Duration {
	t.Helper()
	var periods []time.Duration
	seen := map[time.Duration]bool{}
	step := (MaxObjectSyncPeriod - MinObjectSyncPeriod) / time.Duration(n-1)
	for i := range n {
		p, problem := objectSyncPeriod((MinObjectSyncPeriod + time.Duration(i)*step).String(), time.Hour, MinObjectSyncPeriod)
		if problem != "" {
			t.Fatal(problem)
		}
		if !seen[p] {
			seen[p] = true
			periods = append(periods, p)
		}
	}
	if len(periods) < n*9/10 {
		t.Fatalf("only %d distinct periods", len(periods))
	}
	return periods
}

// slotsHeld is the number of schedules and the total length of their slot arrays.
func slotsHeld(s *observationSchedules) (schedules, slots int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sched := range s.periods {
		slots += len(sched.load)
	}
	return len(s.periods), slots
}

func checkWait(t *testing.T, wait, period time.Duration) {
	t.Helper()
	if wait < period/10 || wait > period+period/10 {
		t.Fatalf("wait %s for a period of %s", wait, period)
	}
}

// TestObservationSchedulesOneObjectManyPeriods: a loop of kubectl annotate with distinct
// values on one object keeps at most two schedules (the global one and the object's).
func TestObservationSchedulesOneObjectManyPeriods(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newObservationSchedules(func() time.Time { return now })
	key := types.NamespacedName{Namespace: "tenant", Name: "loop"}
	bystander := types.NamespacedName{Namespace: "ns", Name: "alice"}
	s.next(bystander, DefaultSyncPeriod)
	seconds := make([]time.Duration, 1000)
	for i := range seconds {
		seconds[i] = MinObjectSyncPeriod + time.Duration(i)*time.Second
	}
	for _, periods := range [][]time.Duration{seconds, annotationValues(t, 1000)} {
		for _, p := range periods {
			checkWait(t, s.next(key, p), p)
			if n, slots := slotsHeld(s); n > 2 || slots > 2*maxScheduleSlots {
				t.Fatalf("period %s: %d schedules of %d slots in all", p, n, slots)
			}
		}
	}
	s.forget(key)
	if n, _ := slotsHeld(s); n != 1 || s.len() != 1 || s.periods[DefaultSyncPeriod].users() != 1 {
		t.Errorf("after forget: %d schedules, %d objects; want the bystander's alone", n, s.len())
	}
	s.forget(bystander)
	if n, slots := slotsHeld(s); n != 0 || slots != 0 || s.len() != 0 {
		t.Errorf("after forgetting everything: %d schedules of %d slots, %d objects", n, slots, s.len())
	}
}

// TestObservationSchedulesMemory: the same loop does not grow the heap.
func TestObservationSchedulesMemory(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newObservationSchedules(func() time.Time { return now })
	key := types.NamespacedName{Namespace: "tenant", Name: "loop"}
	periods := annotationValues(t, 1000)
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for _, p := range periods {
		s.next(key, p)
	}
	after := heap()
	runtime.KeepAlive(s)
	delta := int64(after) - int64(before)
	t.Logf("heap before %d KiB, after %d KiB: %+d KiB for %d periods on one object",
		before>>10, after>>10, delta>>10, len(periods))
	if delta > 4<<20 {
		t.Errorf("heap grew by %d KiB", delta>>10)
	}
}

// TestObservationSchedulesManyObjectsManyPeriods: 1,000 objects of 1,000 distinct periods
// hold at most maxSchedules schedules; those beyond keep their period.
func TestObservationSchedulesManyObjectsManyPeriods(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newObservationSchedules(func() time.Time { return now })
	periods := annotationValues(t, 1000)
	key := func(i int) types.NamespacedName {
		return types.NamespacedName{Namespace: "tenant", Name: fmt.Sprintf("user-%d", i)}
	}
	for round := range 2 {
		for i, p := range periods {
			checkWait(t, s.next(key(i), p), p)
		}
		n, slots := slotsHeld(s)
		t.Logf("round %d: %d objects, %d schedules, %d slots", round, s.len(), n, slots)
		if n > maxSchedules || slots > maxSchedules*maxScheduleSlots || s.len() != len(periods) {
			t.Fatalf("%d schedules of %d slots in all for %d objects", n, slots, s.len())
		}
	}
	// Freed schedules are taken by the objects without one at their next reconcile.
	for i := range maxSchedules {
		s.forget(key(i))
	}
	for i := maxSchedules; i < len(periods); i++ {
		s.next(key(i), periods[i])
	}
	if sched := s.periods[periods[maxSchedules]]; sched == nil || sched.users() != 1 {
		t.Error("a freed schedule was not reused")
	}
	for i := range periods {
		s.forget(key(i))
	}
	if n, slots := slotsHeld(s); n != 0 || slots != 0 || s.len() != 0 {
		t.Errorf("after forget: %d schedules of %d slots, %d objects", n, slots, s.len())
	}
}

func TestObservationScheduleLongPeriods(t *testing.T) {
	// A day has maxScheduleSlots slots of 24s; the users of a slot are spread within it.
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newObservationSchedule(24*time.Hour, func() time.Time { return now })
	if len(s.load) != maxScheduleSlots || s.width != 24*time.Second {
		t.Fatalf("%d slots of %s", len(s.load), s.width)
	}
	perSecond := map[time.Duration]int{}
	for i := range 3 * maxScheduleSlots {
		wait := s.next(types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("user-%d", i)})
		checkWait(t, wait, 24*time.Hour)
		perSecond[wait.Truncate(time.Second)]++
	}
	busiest := 0
	for _, n := range perSecond {
		busiest = max(busiest, n)
	}
	if busiest > 3 {
		t.Errorf("busiest second has %d GETs for 3 users per slot", busiest)
	}
	if s := newObservationSchedule(time.Hour, nil); len(s.load) != 3600 || s.width != time.Second {
		t.Errorf("an hour has %d slots of %s", len(s.load), s.width)
	}
}
