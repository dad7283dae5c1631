package vpnapi

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The limits of API.md. They are the one source of these rules: the fake cloud
// enforces them and the controller checks a spec against them before calling the cloud.
const (
	MinUserNameLength    = 4
	MaxUserNameLength    = 32
	MinPasswordLength    = 8
	MaxPasswordLength    = 32
	MaxDescriptionLength = 64
	MaxUsersPerServer    = 500
	// PasswordHistoryDepth is how many passwords (the current one included) a new
	// password must differ from on reset.
	PasswordHistoryDepth = 5
	// PasswordSpecials are the characters of the "special" class of a password; a space
	// belongs to it too.
	PasswordSpecials = "~!@#$%^&*()-_=+\\|[{}];:'\",<.>/? "
)

// reservedUserNames are refused in any letter case; so is any name starting with
// reservedUserNamePrefix.
var reservedUserNames = []string{"link", "cascade", "securenat", "localbridge", "administrator"}

const reservedUserNamePrefix = "l3sw_"

// FieldError reports a value that breaks a rule of the API, found without calling the
// cloud. Its text names the field and the rule, never the value of a password.
type FieldError struct {
	Field  string
	Reason string
}

// Error implements error.
func (e *FieldError) Error() string { return "invalid " + e.Field + ": " + e.Reason }

func fieldError(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// IsReservedUserName reports whether name is one the cloud keeps for itself, in any
// letter case.
func IsReservedUserName(name string) bool {
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, reservedUserNamePrefix) {
		return true
	}
	for _, r := range reservedUserNames {
		if lower == r {
			return true
		}
	}
	return false
}

// ValidateUserName checks a user name: 4 to 32 letters, digits, '.', '_' or '-', and not
// reserved.
func ValidateUserName(name string) error {
	if n := len(name); n < MinUserNameLength || n > MaxUserNameLength {
		return fieldError("name", "must be %d to %d characters long, got %d",
			MinUserNameLength, MaxUserNameLength, n)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isLetterOrDigit(c) && c != '.' && c != '_' && c != '-' {
			return fieldError("name", "may contain only letters, digits, '.', '_' and '-', found %q at position %d",
				rune(c), i)
		}
	}
	if IsReservedUserName(name) {
		// Not quoted: only the reserved words are known not to be something else pasted here.
		return fieldError("name", "is reserved (names starting with L3SW_ and link, Cascade, SecureNAT, "+
			"localbridge, administrator in any letter case)")
	}
	return nil
}

// ValidatePassword checks a password for the user userName: 8 to 32 characters, only
// letters, digits, spaces and the specials of PasswordSpecials, characters of at least two
// classes, and neither the user name nor the user name reversed. The error never contains
// the password.
func ValidatePassword(userName string, password Secret) error {
	pw := password.Reveal()
	if n := len(pw); n < MinPasswordLength || n > MaxPasswordLength {
		return fieldError("password", "must be %d to %d characters long", MinPasswordLength, MaxPasswordLength)
	}
	var upper, lower, digit, special bool
	for i := 0; i < len(pw); i++ {
		switch c := pw[i]; {
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= '0' && c <= '9':
			digit = true
		case strings.IndexByte(PasswordSpecials, c) >= 0:
			special = true
		default:
			return fieldError("password", "may contain only letters, digits, spaces and the specials %s",
				strings.TrimSpace(PasswordSpecials))
		}
	}
	if countTrue(upper, lower, digit, special) < 2 {
		return fieldError("password", "must contain characters of at least two classes "+
			"(upper-case letters, lower-case letters, digits, specials)")
	}
	if userName != "" && (pw == userName || pw == reverse(userName)) {
		return fieldError("password", "must not be the user name nor the user name reversed")
	}
	return nil
}

// ValidateDescription checks a description: 0 to 64 letters, digits or '_'.
func ValidateDescription(d string) error {
	if len(d) > MaxDescriptionLength {
		return fieldError("description", "must be at most %d characters long, got %d", MaxDescriptionLength, len(d))
	}
	for i := 0; i < len(d); i++ {
		if c := d[i]; !isLetterOrDigit(c) && c != '_' {
			return fieldError("description", "may contain only letters, digits and '_', found %q at position %d",
				rune(c), i)
		}
	}
	return nil
}

// ValidateUUID checks that s is a UUID in its 36-character textual form
// (8-4-4-4-12 hexadecimal digits). The error describes s, never quotes it.
func ValidateUUID(s string) error {
	if !isUUID(s) {
		allowed := func(c byte) bool { return isHexDigit(c) || c == '-' }
		what := describeValue(s, allowed, "hexadecimal digits or '-'")
		if len(s) == 36 && strings.IndexFunc(s, func(r rune) bool { return r > 0x7f || !allowed(byte(r)) }) < 0 {
			what += ", with '-' elsewhere than at positions 9, 14, 19 and 24 only"
		}
		return fieldError("id", "is not a UUID (8-4-4-4-12 hexadecimal digits): %s", what)
	}
	return nil
}

// ValidateProjectID checks that s is a project id: 32 hexadecimal digits. The error
// gives the length of s and the classes of its wrong characters, never s or a part of
// it: what is found here may be a secret key pasted in the wrong place.
func ValidateProjectID(s string) error {
	if len(s) != 32 || !isHex(s) {
		return fieldError("project id", "must be 32 hexadecimal digits: %s", describeValue(s, isHexDigit, "hexadecimal digits"))
	}
	return nil
}

// describeValue describes s by its length and the classes of the characters that allowed
// refuses (allowedName names those it admits), never by a character of s: e.g. "it has
// 40 characters, some not hexadecimal digits: upper-case letters, symbols".
func describeValue(s string, allowed func(byte) bool, allowedName string) string {
	if s == "" {
		return "it is empty"
	}
	var classes []string
	seen := map[string]bool{}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !allowed(c) {
			if class := charClass(c); !seen[class] {
				seen[class] = true
				classes = append(classes, class)
			}
		}
	}
	what := fmt.Sprintf("it has %d characters", len(s))
	if n := utf8.RuneCountInString(s); n != len(s) {
		what = fmt.Sprintf("it has %d characters (%d bytes)", n, len(s))
	}
	if len(classes) > 0 {
		what += ", some not " + allowedName + ": " + strings.Join(classes, ", ")
	}
	return what
}

// charClass names the class of a byte, for messages that must not show the byte.
func charClass(c byte) string {
	switch {
	case c >= 'A' && c <= 'Z':
		return "upper-case letters"
	case c >= 'a' && c <= 'z':
		return "lower-case letters"
	case c >= '0' && c <= '9':
		return "digits"
	case c == ' ':
		return "spaces"
	case c < ' ' || c == 0x7f:
		return "control characters"
	case c >= utf8.RuneSelf:
		return "non-ASCII characters"
	}
	return "punctuation or symbols"
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHexDigit(s[i]) {
				return false
			}
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isLetterOrDigit(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// reverse reverses s byte by byte; names are ASCII.
func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// truncate bounds s to about n bytes, cutting at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
