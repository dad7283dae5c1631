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
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// passwordState is what is known of the password of one VpnUser's cloud user: three
// versions of its password Secret in the status (applied: the user has its password;
// pending: a reset to it was sent and its answer never came; rejected: the cloud refused
// it), and the digest of the password this process last applied (passwordMemory). Its
// methods are the only transitions of those four.
type passwordState struct {
	status *vpnv1alpha1.VpnUserStatus
	user   userRef
	memory *passwordMemory
}

func (r *VpnUserReconciler) passwordOf(vu *vpnv1alpha1.VpnUser) passwordState {
	return passwordState{status: &vu.Status, user: userRef{key: keyOf(vu), uid: vu.UID}, memory: r.mem.passwords}
}

// applied: the cloud user has the password of secret (a create or a reset succeeded).
func (p passwordState) applied(secret vpnv1alpha1.AppliedSecret, password vpnapi.Secret) {
	p.status.AppliedPasswordSecret = ptr.To(secret)
	p.status.PendingPasswordSecret = nil
	p.status.RejectedPasswordSecret = nil
	p.memory.applied(p.user, password)
}

// confirmed: secret, a new version of the Secret, holds the password the user already
// has (only its metadata changed, or it went back): nothing is sent.
func (p passwordState) confirmed(secret vpnv1alpha1.AppliedSecret) {
	p.status.AppliedPasswordSecret = ptr.To(secret)
	p.status.RejectedPasswordSecret = nil
}

// pending: a reset to the password of secret is about to be sent. It is recorded (and
// written) first, so that a reset whose answer is lost is known after a crash.
func (p passwordState) pending(secret vpnv1alpha1.AppliedSecret) {
	p.status.PendingPasswordSecret = ptr.To(secret)
}

// refused: the cloud refused the reset for good, for a reason other than the password.
func (p passwordState) refused() {
	p.status.PendingPasswordSecret = nil
}

// rejected: the cloud refused the password of secret; that version is not tried again.
func (p passwordState) rejected(secret vpnv1alpha1.AppliedSecret) {
	p.status.PendingPasswordSecret = nil
	p.status.RejectedPasswordSecret = ptr.To(secret)
}

// forget: the password of the cloud user is not known (it is gone, adopted, made by a
// create whose answer was lost, or only observed).
func (p passwordState) forget() {
	p.status.AppliedPasswordSecret = nil
	p.status.PendingPasswordSecret = nil
	p.status.RejectedPasswordSecret = nil
	p.memory.forget(p.user.key)
}

// passwordAction is what syncPassword does for the current version of the Secret.
type passwordAction int

const (
	// passwordUpToDate: the cloud user has the password of this version.
	passwordUpToDate passwordAction = iota
	// passwordUnchanged: a new version with the password the user already has.
	passwordUnchanged
	// passwordRefusedBefore: the cloud refused this version; it is not tried again.
	passwordRefusedBefore
	// passwordReset: the password of this version is sent for the first time.
	passwordReset
	// passwordResetAgain: a reset of this version was sent and its answer never came; it
	// is sent again, and a refusal as a reused password then means it was applied.
	passwordResetAgain
)

// decidePassword decides what to do for the version secret of the password Secret, given
// the status and whether its password is the one this process last applied.
func decidePassword(status *vpnv1alpha1.VpnUserStatus, secret vpnv1alpha1.AppliedSecret, sameAsApplied bool) passwordAction {
	switch {
	case sameSecret(status.AppliedPasswordSecret, secret):
		return passwordUpToDate
	case sameAsApplied:
		return passwordUnchanged
	case sameSecret(status.RejectedPasswordSecret, secret):
		return passwordRefusedBefore
	case sameSecret(status.PendingPasswordSecret, secret):
		return passwordResetAgain
	default:
		return passwordReset
	}
}

// resetResult is what the answer to a password reset means.
type resetResult int

const (
	resetApplied    resetResult = iota // the user has the new password
	resetUnanswered                    // the cloud may have applied it: it stays pending
	resetRefused                       // refused for good: nothing changed
	resetNotSent                       // deferred by the client's own limiter: nothing was sent
)

// resetAnswer reads the answer err to a reset; again tells that an earlier reset of the
// same version got no answer.
func resetAnswer(err error, again bool) resetResult {
	switch {
	case err == nil:
		return resetApplied
	case deferredCall(err):
		return resetNotSent
	case maybePerformed(err):
		return resetUnanswered
	case vpnapi.IsPasswordReused(err) && again:
		// Refused as one of the user's last passwords: the earlier reset was applied. Any
		// other refusal (a weak password, a busy server) says nothing of it.
		return resetApplied
	default:
		return resetRefused
	}
}

func sameSecret(a *vpnv1alpha1.AppliedSecret, b vpnv1alpha1.AppliedSecret) bool {
	return a != nil && *a == b
}

// passwordMemory remembers, per VpnUser, which password this process last applied to
// the cloud user. (A reset whose answer was lost is remembered in the status instead, as
// status.pendingPasswordSecret, so that it survives a crash.)
//
// The status records the Secret's resourceVersion, never a hash of the password: a hash
// in the status could be read by anyone who can read VpnUsers, and a fast hash of a short
// password is easy to reverse. But a resourceVersion also changes when only the Secret's
// metadata does (a label, Helm or Argo CD applying it again), and a reset with the same
// password is refused by the cloud (it must differ from the last 5). So this process
// keeps, in memory only, an HMAC-SHA256 of each password it applied or tried, keyed with
// 32 random bytes drawn at start and never written anywhere: the digest is worthless
// outside this process, is never logged, put in the status, an event or a metric, and is
// gone on restart (then a metadata-only change is reported as PasswordRejected, with a
// message that says it is harmless).
//
// It is keyed by the VpnUser's name, so that it is freed with the rest of the memory of
// an object that is gone (whose UID is then unknown), and holds the UID, so that an object
// deleted and made again under the same name does not inherit it.
type passwordMemory struct {
	key []byte

	mu    sync.Mutex
	users map[types.NamespacedName]appliedPassword
}

// userRef names one VpnUser object.
type userRef struct {
	key types.NamespacedName
	uid types.UID
}

// appliedPassword is the digest of the password the user has, as far as this process knows.
type appliedPassword struct {
	uid    types.UID
	digest []byte
}

func newPasswordMemory() (*passwordMemory, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, errors.New("drawing the key of the password memory: " + err.Error())
	}
	return &passwordMemory{key: key, users: map[types.NamespacedName]appliedPassword{}}, nil
}

// digest is the keyed HMAC-SHA256 of a password.
func (m *passwordMemory) digest(password vpnapi.Secret) []byte {
	h := hmac.New(sha256.New, m.key)
	h.Write([]byte(password.Reveal()))
	return h.Sum(nil)
}

// isApplied reports whether password is the one this process last applied to user's.
func (m *passwordMemory) isApplied(user userRef, password vpnapi.Secret) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	applied, ok := m.users[user.key]
	return ok && applied.uid == user.uid && hmac.Equal(applied.digest, m.digest(password))
}

// applied records that user's cloud user has password.
func (m *passwordMemory) applied(user userRef, password vpnapi.Secret) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[user.key] = appliedPassword{uid: user.uid, digest: m.digest(password)}
}

// forget drops what is known of the VpnUser key.
func (m *passwordMemory) forget(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.users, key)
}

// len is the number of users remembered.
func (m *passwordMemory) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.users)
}
