package vpnapi

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateUserName(t *testing.T) {
	valid := []string{"user001", "abcd", strings.Repeat("a", 32), "a.b_c-d", "L3SWuser", "linked", "Administrators"}
	invalid := []string{"", "abc", strings.Repeat("a", 33), "user 01", "user@01", "usér01", "L3SW_abc", "l3sw_x",
		"link", "LINK", "Cascade", "cascade", "SecureNAT", "securenat", "localbridge", "LocalBridge", "administrator", "ADMINISTRATOR"}
	for _, n := range valid {
		if err := ValidateUserName(n); err != nil {
			t.Errorf("ValidateUserName(%q) = %v", n, err)
		}
	}
	for _, n := range invalid {
		err := ValidateUserName(n)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "name" || !IsInvalid(err) {
			t.Errorf("ValidateUserName(%q) = %v, want a name FieldError", n, err)
		}
	}
	if !IsReservedUserName("l3Sw_anything") || IsReservedUserName("user001") {
		t.Error("IsReservedUserName")
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		user, pw string
		ok       bool
		rule     string
	}{
		{"user001", "Passw0rd", true, ""},
		{"user001", "abcdefg1", true, ""},
		{"user001", "abcd efgh", true, ""},
		{"user001", "ABCDEFG!", true, ""},
		{"user001", `~!@#$%^&*()-_=+\|[{}];:'",<.>/?a`, true, ""},
		{"user001", strings.Repeat("aB", 16), true, ""},
		{"user001", "Pa1", false, "8 to 32"},
		{"user001", strings.Repeat("aB", 16) + "c", false, "8 to 32"},
		{"user001", "abcdefgh", false, "two classes"},
		{"user001", "12345678", false, "two classes"},
		{"user001", "Passw0rd\t", false, "may contain only"},
		{"user001", "Pässw0rd", false, "may contain only"},
		{"user001", "Passw0rd`", false, "may contain only"},
		{"user0001", "user0001", false, "user name"},
		{"user0001", "1000resu", false, "user name"},
		{"User0001", "user0001", true, ""},
	}
	for _, tt := range tests {
		err := ValidatePassword(tt.user, NewSecret(tt.pw))
		if (err == nil) != tt.ok {
			t.Errorf("ValidatePassword(%q, %q) = %v, want ok=%v", tt.user, tt.pw, err, tt.ok)
			continue
		}
		if err == nil {
			continue
		}
		if !strings.Contains(err.Error(), tt.rule) {
			t.Errorf("ValidatePassword(%q, %q) = %q, want the rule %q", tt.user, tt.pw, err, tt.rule)
		}
		if strings.Contains(err.Error(), tt.pw) {
			t.Errorf("the error of ValidatePassword quotes the password: %q", err)
		}
	}
}

func TestValidateDescriptionAndUUID(t *testing.T) {
	for _, d := range []string{"", "UserDescription1", "a_b", strings.Repeat("x", 64)} {
		if err := ValidateDescription(d); err != nil {
			t.Errorf("ValidateDescription(%q) = %v", d, err)
		}
	}
	for _, d := range []string{"has space", "dash-no", "dot.no", "é", strings.Repeat("x", 65)} {
		if err := ValidateDescription(d); !IsInvalid(err) {
			t.Errorf("ValidateDescription(%q) = %v", d, err)
		}
	}
	for _, u := range []string{"7625fd92-2e20-4e4d-8c56-66f110fbfaa8", "7625FD92-2E20-4E4D-8C56-66F110FBFAA8"} {
		if err := ValidateUUID(u); err != nil {
			t.Errorf("ValidateUUID(%q) = %v", u, err)
		}
	}
	for _, u := range []string{"", "7625fd92", "7625fd922e204e4d8c5666f110fbfaa8", "7625fd92-2e20-4e4d-8c56-66f110fbfaa", "7625fd92-2e20-4e4d-8c56-66f110fbfaag",
		"7625fd92_2e20-4e4d-8c56-66f110fbfaa8", "{625fd92-2e20-4e4d-8c56-66f110fbfaa8}"} {
		if err := ValidateUUID(u); !IsInvalid(err) {
			t.Errorf("ValidateUUID(%q) = %v", u, err)
		}
	}
	if ValidateProjectID("0b8c1e6f3f5d4c2a9e7b6a5d4c3b2a19") != nil || ValidateProjectID("0b8c") == nil || ValidateProjectID(strings.Repeat("z", 32)) == nil {
		t.Error("ValidateProjectID")
	}
}
