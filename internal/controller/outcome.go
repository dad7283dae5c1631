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
	ctrl "sigs.k8s.io/controller-runtime"
)

// state is what the conditions of a VpnUser say at the end of a reconcile.
type state int

const (
	// stateReady: the cloud user follows the manifest (kstatus Current).
	stateReady state = iota
	// stateWaiting: something will come by itself: a Secret, the cloud back (InProgress).
	stateWaiting
	// stateStalled: nothing changes until a person changes the spec, the Secret, the
	// credentials or the cloud (Failed).
	stateStalled
	// stateDeferred: the operator's own rate limiter gave the call a later turn in its
	// project's queue; nothing was sent, and the conditions stay as they are.
	stateDeferred
)

// outcome ends a reconcile: the conditions it leaves, when to come back, and the error
// to hand to controller-runtime (whose rate limiter then backs off).
type outcome struct {
	state   state
	reason  string
	message string
	result  ctrl.Result
	err     error
	// keepMessage: when the Ready condition already has this reason, its message stays
	// (it carries the cloud's answer of the call that led there, which a later reconcile
	// that makes no call does not have), so that nothing is written.
	keepMessage bool
}

// waiting is an outcome that comes back by itself: the reconcile is tried again.
func waiting(reason, message string, err error) *outcome {
	return &outcome{state: stateWaiting, reason: reason, message: message, err: err}
}

// stalled is an outcome that waits for a person to change something.
func stalled(reason, message string) *outcome {
	return &outcome{state: stateStalled, reason: reason, message: message}
}

// ready is the outcome of a reconcile that leaves the cloud user as the manifest says.
func ready(reason, message string, result ctrl.Result) *outcome {
	return &outcome{state: stateReady, reason: reason, message: message, result: result}
}

// operation names the cloud call that failed, for the message and the reason.
type operation string

const (
	opCreate        operation = "create the cloud user"
	opGet           operation = "read the cloud user"
	opList          operation = "list the users of the VPN server"
	opUpdate        operation = "update the cloud user"
	opDelete        operation = "delete the cloud user"
	opResetPassword operation = "reset the password of the cloud user"
	opCredentials   operation = "read the cloud credentials"
	opAdmit         operation = "call the cloud"
)
