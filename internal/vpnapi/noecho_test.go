package vpnapi

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestErrorsNeverEchoValues feeds secret-looking values to every validator and every
// credentials loader, and checks that no error holds the value or any 4-character part
// of it: a key pasted in the wrong place must be named, never shown.
func TestErrorsNeverEchoValues(t *testing.T) {
	secrets := []string{
		"S3cr3tK3yValue+/=xyzQw8Jm2Vb7Nq4Rt8Kp0Lf5",
		"S3cr3tK3yValue+/=xyz",
		"AKIAS3CRETACCESSKEYX",
		"0b8c1e6f3f5d4c2a9e7b6a5d4c3b2a1",    // 31 hexadecimal digits
		"0b8c1e6f3f5d4c2a9e7b6a5d4c3b2a19zz", // 34 characters
		"7625fd92_2e20-4e4d-8c56-66f110fbfaa8",
		"S3cr\u00e9tK\u00ebyV\u00e4lue\t\u20ac",
	}
	type check struct {
		name string
		err  error
	}
	var dirs []string // the test's directories, whose names are not the errors' business
	tempDir := func() string {
		d := t.TempDir()
		dirs = append(dirs, d)
		return d
	}
	for _, secret := range secrets {
		var checks []check
		add := func(name string, err error) { checks = append(checks, check{name, err}) }

		add("ValidateProjectID", ValidateProjectID(secret))
		add("ValidateUUID", ValidateUUID(secret))
		add("ValidateUserName", ValidateUserName(secret))
		add("ValidateDescription", ValidateDescription(secret))
		add("ValidatePassword", ValidatePassword("user001", NewSecret(secret)))
		add("ValidatePassword as user name", ValidatePassword(secret, NewSecret(secret)))
		add("Credentials.validate", Credentials{AccessKey: secret}.validate())
		add("Credentials.validate secret", Credentials{SecretKey: NewSecret(secret)}.validate())
		for _, missing := range []string{EnvAccessKey, EnvSecretKey, EnvProjectID} {
			_, err := EnvCredentials(func(k string) string {
				if k == missing {
					return ""
				}
				return secret
			})
			add("EnvCredentials without "+missing, err)
			dir := tempDir()
			for _, k := range []string{EnvAccessKey, EnvSecretKey, EnvProjectID, EnvSecurityToken} {
				if k != missing {
					writeCredentialFiles(t, dir, map[string]string{k: secret})
				}
			}
			_, err = NewFileCredentials(dir).Credentials(context.Background())
			add("NewFileCredentials without "+missing, err)
			vol := newSecretVolume(t, "..2026_01_01_old", map[string]string{EnvAccessKey: secret, EnvSecretKey: secret})
			dirs = append(dirs, vol.dir)
			_, err = NewFileCredentials(vol.dir).Credentials(context.Background())
			add("NewFileCredentials of a Secret volume", err)
		}
		big := tempDir()
		writeCredentialFiles(t, big, map[string]string{
			EnvAccessKey: secret, EnvSecretKey: strings.Repeat(secret, maxCredentialFileSize/len(secret)+1), EnvProjectID: secret,
		})
		_, err := NewFileCredentials(big).Credentials(context.Background())
		add("NewFileCredentials of a file too large", err)
		unreadable := tempDir()
		if err := os.Mkdir(filepath.Join(unreadable, EnvSecretKey), 0o700); err != nil {
			t.Fatal(err)
		}
		writeCredentialFiles(t, unreadable, map[string]string{EnvAccessKey: secret, EnvProjectID: secret})
		_, err = NewFileCredentials(unreadable).Credentials(context.Background())
		add("NewFileCredentials of an unreadable file", err)

		_, err = New(Config{Region: secret, Credentials: testCreds})
		add("New with the region", err)
		for _, endpoint := range []string{
			secret, "https://" + secret, "http://" + secret, "ftp://" + secret, secret + "://h", "https://h?" + secret,
			"https://h#" + secret, "https://ak:" + secret + "@h", "https://" + secret + "@h", "http://%zz" + secret,
			"https://h/" + secret + "%zz", "http://" + secret + ":99999",
		} {
			_, err := New(Config{Endpoint: endpoint, Credentials: testCreds})
			add("New with the endpoint "+endpoint, err)
			_, err = CheckEndpoint(endpoint, false)
			add("CheckEndpoint "+endpoint, err)
			warning, _ := CheckEndpoint(endpoint, true)
			if warning != "" {
				add("CheckEndpoint warning "+endpoint, &CredentialsError{Reason: warning})
			}
		}

		failed := 0
		for _, c := range checks {
			if c.err == nil {
				continue
			}
			failed++
			text := c.err.Error()
			for _, d := range dirs {
				text = strings.ReplaceAll(text, d, "DIR")
			}
			if part := echoedPart(text, secret); part != "" {
				t.Errorf("%s(%q): the error %q shows %q", c.name, secret, text, part)
			}
		}
		if failed < len(checks)/2 {
			t.Errorf("%q: only %d of %d checks failed", secret, failed, len(checks))
		}
	}
	// The validators still say what is wrong.
	for _, tt := range []struct {
		err  error
		want string
	}{
		{ValidateProjectID("S3cr3tK3yValue+/=xyz"), "invalid project id: must be 32 hexadecimal digits: it has 20 characters, " +
			"some not hexadecimal digits: upper-case letters, lower-case letters, punctuation or symbols"},
		{ValidateProjectID(""), "invalid project id: must be 32 hexadecimal digits: it is empty"},
		{ValidateProjectID("0b8c1e6f3f5d4c2a9e7b6a5d4c3b2a1"), "invalid project id: must be 32 hexadecimal digits: it has 31 characters"},
		{ValidateProjectID("0b8c1e6f3f5d4c2a9e7b6a5d4c3b2a1\u00e9"), "it has 32 characters (33 bytes), some not hexadecimal digits: non-ASCII characters"},
		{ValidateUUID("7625fd92_2e20-4e4d-8c56-66f110fbfaa8"), "invalid id: is not a UUID (8-4-4-4-12 hexadecimal digits): " +
			"it has 36 characters, some not hexadecimal digits or '-': punctuation or symbols"},
		{ValidateUUID("7625fd922-e20-4e4d-8c56-66f110fbfaa8"), "with '-' elsewhere than at positions 9, 14, 19 and 24"},
		{ValidateUserName("L3SW_S3cr3tK3y"), "invalid name: is reserved"},
		func() struct {
			err  error
			want string
		} {
			_, err := New(Config{Region: "ap southeast/1", Credentials: testCreds})
			return struct {
				err  error
				want string
			}{err, "region may contain only letters, digits and '-': it has 14 characters, some not letters, digits or '-': spaces, punctuation or symbols"}
		}(),
	} {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("error %v, want %q", tt.err, tt.want)
		}
	}
	if err := ValidateUserName("L3SW_S3cr3tK3y"); err == nil || strings.Contains(err.Error(), "S3cr3tK3y") {
		t.Errorf("reserved name: %v", err)
	}
}

// echoedPart returns a part of value of 4 characters or more found in text, or "".
func echoedPart(text, value string) string {
	r := []rune(value)
	if len(r) < 4 {
		if strings.Contains(text, value) {
			return value
		}
		return ""
	}
	for i := 0; i+4 <= len(r); i++ {
		if part := string(r[i : i+4]); strings.Contains(text, part) {
			return part
		}
	}
	return ""
}
