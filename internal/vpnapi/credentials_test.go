package vpnapi

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnvCredentials(t *testing.T) {
	env := map[string]string{
		EnvAccessKey: "AK1", EnvSecretKey: " SK-value-1\n", EnvProjectID: "0b8c1e6f3f5d4c2a9e7b6a5d4c3b2a19",
	}
	c, err := EnvCredentials(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKey != "AK1" || c.SecretKey.Reveal() != "SK-value-1" || c.ProjectID != env[EnvProjectID] || !c.SecurityToken.IsEmpty() {
		t.Fatalf("credentials %+v", c)
	}
	env[EnvSecurityToken] = "tok"
	if c, _ = EnvCredentials(func(k string) string { return env[k] }); c.SecurityToken.Reveal() != "tok" {
		t.Fatal("security token not read")
	}

	_, err = EnvCredentials(func(k string) string {
		if k == EnvSecretKey {
			return "SK-value-1"
		}
		return ""
	})
	if err == nil || !IsAuth(err) {
		t.Fatalf("missing variables: %v", err)
	}
	msg := err.Error()
	for _, name := range []string{EnvAccessKey, EnvProjectID} {
		if !strings.Contains(msg, name) {
			t.Errorf("error %q does not name %s", msg, name)
		}
	}
	if strings.Contains(msg, "SK-value-1") || strings.Contains(msg, EnvSecretKey+",") || strings.Contains(msg, EnvSecurityToken) {
		t.Errorf("error %q names a present or optional variable, or a value", msg)
	}
}

func writeCredentialFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFileCredentialsRotation(t *testing.T) {
	dir := t.TempDir()
	writeCredentialFiles(t, dir, map[string]string{
		EnvAccessKey: "AK1\n", EnvSecretKey: "SK1\n", EnvProjectID: testProject,
	})
	now := time.Unix(1000, 0)
	p := NewFileCredentials(dir).(*fileCredentials)
	p.now = func() time.Time { return now }

	c, err := p.Credentials(context.Background())
	if err != nil || c.AccessKey != "AK1" || c.SecretKey.Reveal() != "SK1" || c.ProjectID != testProject {
		t.Fatalf("first read: %+v, %v", c, err)
	}
	writeCredentialFiles(t, dir, map[string]string{EnvAccessKey: "AK2", EnvSecretKey: "SK2", EnvSecurityToken: "T2"})
	if c, _ = p.Credentials(context.Background()); c.AccessKey != "AK1" {
		t.Fatal("read again before the refresh interval")
	}
	now = now.Add(fileCredentialsRefresh)
	c, err = p.Credentials(context.Background())
	if err != nil || c.AccessKey != "AK2" || c.SecretKey.Reveal() != "SK2" || c.SecurityToken.Reveal() != "T2" {
		t.Fatalf("rotated keys not used: %+v, %v", c, err)
	}

	if err := os.Remove(filepath.Join(dir, EnvSecretKey)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(fileCredentialsRefresh)
	_, err = p.Credentials(context.Background())
	if err == nil || !IsAuth(err) || !strings.Contains(err.Error(), EnvSecretKey) || strings.Contains(err.Error(), "AK2") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestStaticCredentials(t *testing.T) {
	want := Credentials{AccessKey: "AK", SecretKey: NewSecret("SK"), ProjectID: "p"}
	var p CredentialsProvider = StaticCredentials(want)
	got, err := p.Credentials(context.Background())
	if err != nil || got != want {
		t.Fatalf("%+v, %v", got, err)
	}
	if err := (Credentials{}).validate(); err == nil || !strings.Contains(err.Error(), "access key, secret key, project id") {
		t.Fatalf("validate: %v", err)
	}
}

// secretVolume builds the layout the kubelet gives a mounted Secret in dir: a timestamped
// directory per version, "..data" linking to the current one, and one link per key to
// "..data/KEY".
type secretVolume struct {
	t   *testing.T
	dir string
}

func newSecretVolume(t *testing.T, version string, files map[string]string) *secretVolume {
	v := &secretVolume{t: t, dir: t.TempDir()}
	v.writeVersion(version, files)
	if err := os.Symlink(version, filepath.Join(v.dir, secretDataLink)); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		if err := os.Symlink(filepath.Join(secretDataLink, name), filepath.Join(v.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func (v *secretVolume) writeVersion(version string, files map[string]string) {
	v.t.Helper()
	if err := os.Mkdir(filepath.Join(v.dir, version), 0o755); err != nil {
		v.t.Fatal(err)
	}
	writeCredentialFiles(v.t, filepath.Join(v.dir, version), files)
}

// swap publishes a new version as the kubelet does: a new directory, "..data" replaced
// atomically, the old directory removed.
func (v *secretVolume) swap(oldVersion, newVersion string, files map[string]string) {
	v.t.Helper()
	v.writeVersion(newVersion, files)
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(newVersion, tmp); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, secretDataLink)); err != nil {
		v.t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(v.dir, oldVersion)); err != nil {
		v.t.Fatal(err)
	}
}

func TestFileCredentialsSecretVolume(t *testing.T) {
	v1 := map[string]string{EnvAccessKey: "AK1", EnvSecretKey: "SK1", EnvProjectID: testProject}
	v2 := map[string]string{EnvAccessKey: "AK2", EnvSecretKey: "SK2", EnvProjectID: testProject}
	vol := newSecretVolume(t, "..2026_01_01_old", v1)
	p := NewFileCredentials(vol.dir).(*fileCredentials)
	now := time.Unix(1000, 0)
	p.now = func() time.Time { return now }

	c, err := p.Credentials(context.Background())
	if err != nil || c.AccessKey != "AK1" || c.SecretKey.Reveal() != "SK1" {
		t.Fatalf("first read: %+v, %v", c, err)
	}
	vol.swap("..2026_01_01_old", "..2026_01_01_new", v2)
	now = now.Add(fileCredentialsRefresh)
	c, err = p.Credentials(context.Background())
	if err != nil || c.AccessKey != "AK2" || c.SecretKey.Reveal() != "SK2" {
		t.Fatalf("after the swap: %+v, %v", c, err)
	}

	// The Secret is updated between the reads of two files: the pair read is never
	// mixed; the read starts again on the new version.
	for _, keepOld := range []bool{false, true} {
		t.Run(fmt.Sprintf("old directory kept %v", keepOld), func(t *testing.T) {
			vol := newSecretVolume(t, "..2026_01_01_old", v1)
			p := NewFileCredentials(vol.dir).(*fileCredentials)
			swapped := false
			p.readFile = func(path string) (string, error) {
				v, err := readCredentialFile(path)
				if !swapped && filepath.Base(path) == EnvAccessKey {
					swapped = true
					if keepOld {
						vol.writeVersion("..2026_01_01_new", v2)
						tmp := filepath.Join(vol.dir, "..data_tmp")
						if err := os.Symlink("..2026_01_01_new", tmp); err != nil {
							t.Fatal(err)
						}
						if err := os.Rename(tmp, filepath.Join(vol.dir, secretDataLink)); err != nil {
							t.Fatal(err)
						}
					} else {
						vol.swap("..2026_01_01_old", "..2026_01_01_new", v2)
					}
				}
				return v, err
			}
			c, err := p.Credentials(context.Background())
			if err != nil || c.AccessKey != "AK2" || c.SecretKey.Reveal() != "SK2" || !swapped {
				t.Fatalf("read across a swap: %+v, %v", c, err)
			}
		})
	}

	// A Secret that keeps changing is an error, not a mixed pair.
	t.Run("always changing", func(t *testing.T) {
		vol := newSecretVolume(t, "..v0", v1)
		p := NewFileCredentials(vol.dir).(*fileCredentials)
		n := 0
		p.readFile = func(path string) (string, error) {
			v, err := readCredentialFile(path)
			if filepath.Base(path) == EnvAccessKey {
				n++
				vol.swap(fmt.Sprintf("..v%d", n-1), fmt.Sprintf("..v%d", n), map[string]string{
					EnvAccessKey: fmt.Sprintf("AK%d", n), EnvSecretKey: fmt.Sprintf("SK%d", n), EnvProjectID: testProject})
			}
			return v, err
		}
		_, err := p.Credentials(context.Background())
		if err == nil || !IsAuth(err) || !strings.Contains(err.Error(), "kept changing") || n != maxCredentialReads {
			t.Fatalf("%v after %d reads", err, n)
		}
	})

	// A missing key in a Secret volume is reported as in a plain directory.
	t.Run("missing key", func(t *testing.T) {
		vol := newSecretVolume(t, "..v0", map[string]string{EnvAccessKey: "AK1", EnvProjectID: testProject})
		_, err := NewFileCredentials(vol.dir).Credentials(context.Background())
		if err == nil || !IsAuth(err) || !strings.Contains(err.Error(), "missing files "+EnvSecretKey+" in "+vol.dir) {
			t.Fatalf("%v", err)
		}
	})
}
