package main

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
)

func TestBusiest(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s ...float64) []time.Time {
		var out []time.Time
		for _, x := range s {
			out = append(out, t0.Add(time.Duration(x*float64(time.Second))))
		}
		return out
	}
	for _, c := range []struct {
		times []time.Time
		want  int
	}{
		{nil, 0},
		{at(0), 1},
		{at(0, 4.9, 5), 2},           // 5 s apart fall in different windows
		{at(9, 1, 2, 3, 20, 21), 3},  // any order
		{at(0, 1, 2, 3, 4, 4.99), 6}, // all within 5 s
	} {
		if got := busiest(c.times, 5*time.Second); got != c.want {
			t.Errorf("busiest(%v) = %d, want %d", c.times, got, c.want)
		}
	}
}

func TestRestartPeriod(t *testing.T) {
	for _, c := range []struct {
		n    int
		qps  float64
		want time.Duration
	}{
		{5000, 10, 10 * time.Minute},
		{10000, 10, 20 * time.Minute},
		{300, 10, 2 * time.Minute},
	} {
		if got := restartPeriod(options{restartN: c.n, restartQPS: c.qps}); got != c.want {
			t.Errorf("N=%d at %v/s: %s, want %s", c.n, c.qps, got, c.want)
		}
	}
	if got := restartPeriod(options{restartN: 5000, restartQPS: 10, restartSyncPeriod: 3 * time.Minute}); got != 3*time.Minute {
		t.Errorf("-restart-sync-period ignored: %s", got)
	}
}

func TestChangedFields(t *testing.T) {
	before := &vpnv1alpha1.VpnUser{ObjectMeta: metav1.ObjectMeta{Name: "u", ResourceVersion: "1"}}
	before.Status.ID = "a"
	after := before.DeepCopy()
	after.ResourceVersion = "2"
	after.Status.ID = "b"
	after.Annotations = map[string]string{"x": "y"}
	now := metav1.Now()
	after.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "old", Time: &metav1.Time{Time: now.Add(-time.Hour)}},
		{Manager: "manager", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", Time: &now}}
	got := changedFields(before, after)
	if !strings.HasPrefix(got, "metadata.annotations, status.id (latest managedFields entry: manager Update status at ") {
		t.Errorf("changedFields = %q", got)
	}
}
