package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/hack/rig"
)

// readyWatcher follows the bench namespace's VpnUsers from before the first create and
// records when each one is first seen Ready. It is started before the clock, so the
// measurement costs the API server one watch and no list of thousands of objects, and
// each user's time to Ready is known, not only the last one's.
type readyWatcher struct {
	c      client.WithWatch
	mu     sync.Mutex
	ready  map[string]bool
	first  map[string]time.Time // when each user was first seen Ready
	change chan struct{}        // signalled when the count of Ready users changes
	done   chan error
}

func watchReady(ctx context.Context, c client.WithWatch) (*readyWatcher, error) {
	w := &readyWatcher{
		c:      c,
		ready:  map[string]bool{},
		first:  map[string]time.Time{},
		change: make(chan struct{}, 1),
		done:   make(chan error, 1),
	}
	rv, err := w.list(ctx)
	if err != nil {
		return nil, err
	}
	go func() { w.done <- w.follow(ctx, rv) }()
	return w, nil
}

// follow applies watch events until ctx ends, listing again when a watch expires.
func (w *readyWatcher) follow(ctx context.Context, rv string) error {
	for {
		wi, err := w.c.Watch(ctx, &vpnv1alpha1.VpnUserList{}, client.InNamespace(namespace),
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
		if err != nil {
			return err
		}
		w.apply(wi)
		wi.Stop()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if rv, err = w.list(ctx); err != nil {
			return err
		}
	}
}

func (w *readyWatcher) apply(wi watch.Interface) {
	for ev := range wi.ResultChan() {
		switch ev.Type {
		case watch.Added, watch.Modified, watch.Deleted:
			if vu, ok := ev.Object.(*vpnv1alpha1.VpnUser); ok {
				w.set(vu.Name, ev.Type != watch.Deleted && isReady(vu))
			}
		case watch.Error:
			return // expired: list again
		}
	}
}

func (w *readyWatcher) set(name string, ready bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ready[name] == ready {
		return
	}
	w.ready[name] = ready
	if _, seen := w.first[name]; ready && !seen {
		w.first[name] = time.Now()
	}
	select {
	case w.change <- struct{}{}:
	default:
	}
}

// list records which VpnUsers are Ready now and returns the resourceVersion to watch from.
func (w *readyWatcher) list(ctx context.Context) (string, error) {
	cont := ""
	for {
		var list vpnv1alpha1.VpnUserList
		if err := w.c.List(ctx, &list, client.InNamespace(namespace), client.Limit(1000), client.Continue(cont)); err != nil {
			return "", err
		}
		for i := range list.Items {
			w.set(list.Items[i].Name, isReady(&list.Items[i]))
		}
		if cont = list.Continue; cont == "" {
			return list.ResourceVersion, nil
		}
	}
}

// count is how many VpnUsers are Ready now.
func (w *readyWatcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := 0
	for _, r := range w.ready {
		if r {
			k++
		}
	}
	return k
}

// wait blocks until n VpnUsers are Ready at once, and returns when that happened.
func (w *readyWatcher) wait(ctx context.Context, n int, timeout time.Duration) (time.Time, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if w.count() >= n {
			return time.Now(), nil
		}
		select {
		case <-w.change:
		case err := <-w.done:
			return time.Time{}, fmt.Errorf("watching VpnUsers (%d of %d Ready): %w", w.count(), n, err)
		case <-deadline.C:
			return time.Time{}, fmt.Errorf("%d of %d VpnUsers Ready after %s: %w", w.count(), n, timeout, rig.ErrTimeout)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// latencies returns, for each VpnUser created at created[name], how long it took to be
// first seen Ready, sorted.
func (w *readyWatcher) latencies(created map[string]time.Time) []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []time.Duration
	for name, at := range created {
		if ready, ok := w.first[name]; ok {
			out = append(out, ready.Sub(at))
		}
	}
	slices.Sort(out)
	return out
}

// percentile of sorted durations, in milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(int(p*float64(len(sorted))), len(sorted)-1)
	return float64(sorted[i].Microseconds()) / 1000
}
