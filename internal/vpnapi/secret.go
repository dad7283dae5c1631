package vpnapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

const redacted = "[redacted]"

// Secret holds a password, a secret key or a security token. It prints, formats, logs and
// marshals as "[redacted]"; only Reveal gives the value, and only the request encoder and
// the signer call it.
type Secret struct {
	value string
}

// NewSecret wraps a sensitive value.
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the sensitive value. Call it only where the value is sent to the cloud.
func (s Secret) Reveal() string { return s.value }

// IsEmpty reports whether no value is held.
func (s Secret) IsEmpty() bool { return s.value == "" }

// Equal reports whether two secrets hold the same value, without revealing either.
func (s Secret) Equal(o Secret) bool { return s.value == o.value }

// String implements fmt.Stringer.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer, so %#v redacts too.
func (Secret) GoString() string { return redacted }

// Format implements fmt.Formatter, so every verb (%s, %v, %q, %x, ...) redacts.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// MarshalText implements encoding.TextMarshaler (used by YAML and some loggers).
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }
