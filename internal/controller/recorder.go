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
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/reference"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// EventRecorder writes the events.k8s.io/v1 Events of VpnUsers, as client-go's events
// broadcaster (tools/events, behind the manager's GetEventRecorder) does, but without its
// cache: the broadcaster keeps a copy of every Event it sent for 6 to 12 minutes, to find
// series of identical Events, and starts a goroutine per Event. The operator announces
// each change once (one Event per user created), so it has no series to find, and a burst
// of 10,000 creates left 10 MiB of Events in that cache (hack/bench/README.md). Here an
// Event waits, as the little it is made of, in a queue that a few writers drain at the
// client's rate; it takes no memory once written. The queue is bounded: an Event that
// finds it full is dropped and counted (the broadcaster drops one that finds its own
// queue of 1000 full).
type EventRecorder struct {
	client     eventsv1client.EventsGetter
	scheme     *runtime.Scheme
	controller string
	instance   string

	mu      sync.Mutex
	queue   []pendingEvent
	wake    chan struct{} // a value when the queue may have gained an Event
	dropped atomic.Int64
	// retryAfter is the pause before writing an Event again after a failure that may pass
	// (the API server unreachable); tries is how many writes an Event gets.
	retryAfter time.Duration
	tries      int
}

// pendingEvent is an Event waiting to be written.
type pendingEvent struct {
	at                              time.Time
	regarding                       corev1.ObjectReference
	related                         *corev1.ObjectReference
	eventType, reason, action, note string
}

var (
	_ events.EventRecorder = (*EventRecorder)(nil)
	_ manager.Runnable     = (*EventRecorder)(nil)
)

const (
	// eventQueueLength is how many Events may wait to be written: a creation burst of
	// this many VpnUsers, each announced, loses none while the API server is slow (a
	// waiting Event takes a few hundred bytes).
	eventQueueLength = 20000
	// eventWriters is how many Events are written at once: enough for the API server's
	// latency not to hold up the client's rate limit.
	eventWriters = 16
)

// NewEventRecorder returns a recorder of the Events reported by controller, added to mgr:
// it writes them while mgr runs, over the connection of mgr's own client (the one of the
// uncached Secret reads and the leader election, see connections.go).
func NewEventRecorder(mgr manager.Manager, controller string) (*EventRecorder, error) {
	client, err := eventsv1client.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return nil, fmt.Errorf("creating the events client: %w", err)
	}
	r := newEventRecorder(client, mgr.GetScheme(), controller)
	if err := mgr.Add(r); err != nil {
		return nil, fmt.Errorf("adding the event recorder: %w", err)
	}
	return r, nil
}

func newEventRecorder(client eventsv1client.EventsGetter, scheme *runtime.Scheme, controller string) *EventRecorder {
	hostname, _ := os.Hostname()
	return &EventRecorder{
		client:     client,
		scheme:     scheme,
		controller: controller,
		// As client-go's: the reporting instance is the controller and the host.
		instance:   controller + "-" + hostname,
		wake:       make(chan struct{}, 1),
		retryAfter: 10 * time.Second,
		tries:      12,
	}
}

// Eventf queues an Event regarding an object; it never blocks.
func (r *EventRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	log := logf.Log.WithName("events")
	ref, err := reference.GetReference(r.scheme, regarding)
	if err != nil {
		log.Error(err, "Cannot refer to the object of an event", "reason", reason)
		return
	}
	if eventtype != corev1.EventTypeNormal && eventtype != corev1.EventTypeWarning {
		log.Error(nil, "Unsupported event type", "eventType", eventtype, "reason", reason)
		return
	}
	e := pendingEvent{at: time.Now(), regarding: *ref, eventType: eventtype, reason: reason, action: action,
		note: fmt.Sprintf(note, args...)}
	if related != nil {
		e.related, _ = reference.GetReference(r.scheme, related)
	}
	r.mu.Lock()
	full := len(r.queue) >= eventQueueLength
	if !full {
		r.queue = append(r.queue, e)
	}
	r.mu.Unlock()
	if full {
		if r.dropped.Add(1)%100 == 1 {
			log.Info("Dropping events: too many waiting to be written", "dropped", r.dropped.Load())
		}
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// next takes the oldest waiting Event.
func (r *EventRecorder) next() (pendingEvent, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) == 0 {
		return pendingEvent{}, false
	}
	e := r.queue[0]
	r.queue[0] = pendingEvent{}
	r.queue = r.queue[1:]
	if len(r.queue) == 0 {
		r.queue = nil // the backing array of a burst goes with it
	}
	return e, true
}

// waiting is how many Events wait to be written.
func (r *EventRecorder) waiting() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)
}

// Start writes the queued Events until ctx ends; those still queued then are dropped.
func (r *EventRecorder) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for range eventWriters {
		wg.Go(func() {
			for {
				if e, ok := r.next(); ok {
					r.write(ctx, r.event(e))
					// Pass the wake-up on: the queue may hold more than this writer takes.
					select {
					case r.wake <- struct{}{}:
					default:
					}
					continue
				}
				select {
				case <-ctx.Done():
					return
				case <-r.wake:
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// NeedLeaderElection is false: the recorder writes what the reconcilers report, and they
// run only on the leader.
func (r *EventRecorder) NeedLeaderElection() bool { return false }

// event is the Event of e, as client-go's recorder makes it.
func (r *EventRecorder) event(e pendingEvent) *eventsv1.Event {
	namespace := cmp.Or(e.regarding.Namespace, metav1.NamespaceDefault)
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{
			// As client-go names them (util.GenerateEventName).
			Name:      fmt.Sprintf("%v.%x", e.regarding.Name, e.at.UnixNano()),
			Namespace: namespace,
		},
		EventTime:           metav1.MicroTime{Time: e.at},
		ReportingController: r.controller,
		ReportingInstance:   r.instance,
		Action:              e.action,
		Reason:              e.reason,
		Regarding:           e.regarding,
		Related:             e.related,
		Note:                e.note,
		Type:                e.eventType,
	}
}

// write creates event, trying again after a failure that may pass, as client-go does: an
// Event the API server refuses (invalid, already there) is dropped at once.
func (r *EventRecorder) write(ctx context.Context, event *eventsv1.Event) {
	log := logf.FromContext(ctx).WithName("events")
	for try := 1; ctx.Err() == nil; try++ {
		_, err := r.client.Events(event.Namespace).Create(ctx, event, metav1.CreateOptions{})
		var construction *rest.RequestConstructionError
		var status apierrors.APIStatus
		switch {
		case err == nil:
			return
		case errors.As(err, &construction), errors.As(err, &status) && !apierrors.IsTimeout(err) && !apierrors.IsServerTimeout(err) && !apierrors.IsTooManyRequests(err):
			if !apierrors.IsAlreadyExists(err) {
				log.Error(err, "The API server refused an event", "reason", event.Reason, "regarding", event.Regarding.Name)
			}
			return
		case try >= r.tries:
			log.Error(err, "Cannot write an event; giving up", "reason", event.Reason, "regarding", event.Regarding.Name)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.retryAfter/2 + rand.N(r.retryAfter/2)): // jittered, as client-go's
		}
	}
}
