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

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// passwordMemory remembers, per VpnUser UID, which password this process last applied to
// the cloud user. (A reset whose answer was lost is remembered in the status instead, as
// status.pendingPasswordSecret, so that it survives a crash.)
//
// The status records the Secret's resourceVersion, never a hash of the password (STYLE):
// a hash in the status could be read by anyone who can read VpnUsers, and a fast hash of
// a short password is easy to reverse. But a resourceVersion also changes when only the
// Secret's metadata does (a label, Helm or Argo CD applying it again), and a reset with
// the same password is refused by the cloud (it must differ from the last 5). So this
// process keeps, in memory only, an HMAC-SHA256 of each password it applied or tried,
// keyed with 32 random bytes drawn at start and never written anywhere: the digest is
// worthless outside this process, is never logged, put in the status, an event or a
// metric, and is gone on restart (then a metadata-only change is reported as
// PasswordRejected, with a message that says it is harmless).
type passwordMemory struct {
	key []byte

	mu    sync.Mutex
	users map[types.UID]passwordRecord
}

// passwordRecord is what one VpnUser's cloud user was last sent.
type passwordRecord struct {
	// applied is the digest of the password the cloud user has, as far as this process
	// knows; nil when unknown.
	applied []byte
}

func newPasswordMemory() (*passwordMemory, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, errors.New("drawing the key of the password memory: " + err.Error())
	}
	return &passwordMemory{key: key, users: map[types.UID]passwordRecord{}}, nil
}

// digest is the keyed HMAC-SHA256 of a password.
func (m *passwordMemory) digest(password vpnapi.Secret) []byte {
	h := hmac.New(sha256.New, m.key)
	h.Write([]byte(password.Reveal()))
	return h.Sum(nil)
}

// isApplied reports whether password is the one this process last applied to uid's user.
func (m *passwordMemory) isApplied(uid types.UID, password vpnapi.Secret) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.users[uid]
	return r.applied != nil && hmac.Equal(r.applied, m.digest(password))
}

// applied records that uid's user has password.
func (m *passwordMemory) applied(uid types.UID, password vpnapi.Secret) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[uid] = passwordRecord{applied: m.digest(password)}
}

// forget drops what is known of uid's user: it is gone, adopted or re-created.
func (m *passwordMemory) forget(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.users, uid)
}

// isAmbiguous reports whether a failed call may have been performed by the cloud: the
// answer was lost, or the cloud failed on its side.
func isAmbiguous(err error) bool {
	var te *vpnapi.TransportError
	if errors.As(err, &te) {
		return true
	}
	var ae *vpnapi.APIError
	return errors.As(err, &ae) && ae.StatusCode >= 500
}
