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
	if wait := s.next(key, 30*time.Second); wait < 3*time.Second || wait > 33*time.Second {
		t.Errorf("wait = %s for a period of 30s", wait)
	}
	if wait := s.next(key, time.Hour); wait < 6*time.Minute || wait > 66*time.Minute {
		t.Errorf("wait = %s for a period of 1h", wait)
	}
	if sum(s.periods[30*time.Second].load) != 0 || sum(s.periods[time.Hour].load) != 1 {
		t.Error("a VpnUser that changed period holds two slots")
	}
	s.forget(key)
	if sum(s.periods[time.Hour].load) != 0 || len(s.of) != 0 {
		t.Error("forget kept the slot")
	}
}
