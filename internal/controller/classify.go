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
	"errors"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// This file is the one place that decides what a failed cloud call means for a VpnUser:
// whether the cloud may have performed it (maybePerformed), and which outcome it leads to
// (classify): terminal or not, which reason, when to try again.

// maybePerformed reports whether a failed call may have been performed by the cloud: the
// answer was lost, or the cloud failed on its side. A call that may have been performed
// is not taken for refused (a reset stays pending, a create outstanding).
func maybePerformed(err error) bool {
	var te *vpnapi.TransportError
	if errors.As(err, &te) {
		return true
	}
	var ae *vpnapi.APIError
	return errors.As(err, &ae) && ae.StatusCode >= 500
}

// deferredCall reports whether a call was not sent because the operator's own rate
// limiter gave it a later turn.
func deferredCall(err error) bool {
	wait, ok := vpnapi.Deferred(err)
	return ok && wait > 0
}

// failure maps a failed cloud call of the VpnUser of s to an outcome; see classify.
func (r *VpnUserReconciler) failure(s *scope, op operation, err error) *outcome {
	return r.classify(op, err, s.credentialsSecret())
}

// classify maps a failed cloud call to an outcome. Its message carries the cloud's
// status, code and request id (the text of vpnapi's errors, which never holds a password
// or a key), and names where the credentials come from: credentialsSecret, or the
// operator's own when "".
func (r *VpnUserReconciler) classify(op operation, err error, credentialsSecret string) *outcome {
	retry := r.Retry.withDefaults()
	msg := fmt.Sprintf("Could not %s: %v", op, err)
	if wait, _ := vpnapi.Deferred(err); deferredCall(err) {
		// Nothing was sent: the call comes back at its turn, and is served then.
		return &outcome{state: stateDeferred, reason: vpnv1alpha1.ReasonRateLimited, message: msg,
			result: ctrl.Result{RequeueAfter: wait}}
	}
	switch {
	case vpnapi.IsThrottled(err):
		wait := max(vpnapi.RetryAfter(err), retry.Throttled)
		return &outcome{state: stateWaiting, reason: vpnv1alpha1.ReasonRateLimited,
			message: fmt.Sprintf("%s; trying again in %s", msg, wait), result: ctrl.Result{RequeueAfter: wait}}
	case vpnapi.IsCredentialsUnavailable(err):
		// The operator's keyless source failed: it is tried again in the background, and
		// this VpnUser comes back soon to find the credentials it gives again.
		return &outcome{state: stateWaiting, reason: vpnv1alpha1.ReasonCredentialsUnavailable,
			message: fmt.Sprintf("%s; the operator tries the source again with back-off; trying again in %s",
				msg, retry.CredentialsUnavailable),
			result: ctrl.Result{RequeueAfter: retry.CredentialsUnavailable}}
	case vpnapi.IsAuth(err):
		return &outcome{state: stateStalled, reason: vpnv1alpha1.ReasonCloudAuthFailed,
			message: fmt.Sprintf("%s; check %s and their permissions; trying again in %s",
				msg, r.credentialsSourceOf(credentialsSecret), retry.AuthFailed),
			result: ctrl.Result{RequeueAfter: retry.AuthFailed}}
	case vpnapi.IsNotFound(err) && (op == opCreate || op == opList):
		return &outcome{state: stateStalled, reason: vpnv1alpha1.ReasonServerNotFound,
			message: fmt.Sprintf("%s; check that spec.vpnServerId names a P2C VPN server of the credentials' project; trying again in %s",
				msg, retry.ServerNotFound),
			result: ctrl.Result{RequeueAfter: retry.ServerNotFound}}
	case vpnapi.IsNotFound(err):
		// The user vanished between two calls: the next reconcile reads it and creates it again.
		return waiting(vpnv1alpha1.ReasonProgressing, msg+"; looking again", fmt.Errorf("%s: %w", op, err))
	case vpnapi.IsInvalid(err):
		if op == opResetPassword {
			return stalled(vpnv1alpha1.ReasonPasswordRejected,
				msg+"; put another password in the Secret (the cloud refuses the user's last 5 passwords)")
		}
		return stalled(vpnv1alpha1.ReasonInvalidSpec, msg+"; correct the spec")
	default:
		// 5xx, busy, repeated operation, network: back off through the controller's queue.
		return waiting(vpnv1alpha1.ReasonCloudUnavailable, msg+"; retrying with back-off", fmt.Errorf("%s: %w", op, err))
	}
}

// credentialsSourceOf is credentialsSource, with the operator's keyless source named
// when it has one (DefaultCredentialsSource).
func (r *VpnUserReconciler) credentialsSourceOf(credentialsSecret string) string {
	if credentialsSecret == "" && r.DefaultCredentialsSource != "" {
		return "the operator's cloud credentials from " + r.DefaultCredentialsSource
	}
	return credentialsSource(credentialsSecret)
}

// credentialsSource names where a VpnUser's cloud credentials come from: the keys of its
// credentials Secret, or the operator's own when credentialsSecret is "". Names only,
// never a value.
func credentialsSource(credentialsSecret string) string {
	if credentialsSecret == "" {
		return fmt.Sprintf("the operator's cloud credentials (%s, %s, %s)", vpnapi.EnvAccessKey, vpnapi.EnvSecretKey, vpnapi.EnvProjectID)
	}
	return fmt.Sprintf("the keys %s, %s and %s of the credentials Secret %q", vpnv1alpha1.CredentialsKeyAccessKey,
		vpnv1alpha1.CredentialsKeySecretKey, vpnv1alpha1.CredentialsKeyProjectID, credentialsSecret)
}
