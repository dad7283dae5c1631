package vpnapi

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The names Huawei's tools read credentials from, as environment variables or as the
// keys of a mounted Secret.
const (
	EnvAccessKey     = "HUAWEICLOUD_SDK_AK"
	EnvSecretKey     = "HUAWEICLOUD_SDK_SK"
	EnvProjectID     = "HUAWEICLOUD_SDK_PROJECT_ID"
	EnvSecurityToken = "HUAWEICLOUD_SDK_SECURITY_TOKEN"
)

// fileCredentialsRefresh is how long a FileCredentials provider trusts what it read.
const fileCredentialsRefresh = 2 * time.Second

// maxCredentialFileSize bounds what is read from a credentials file.
const maxCredentialFileSize = 16 << 10

// secretDataLink is the symbolic link through which the kubelet publishes the files of a
// mounted Secret: it points to a timestamped directory holding one version of all of
// them, and an update swaps it atomically to a new directory.
const secretDataLink = "..data"

// maxCredentialReads bounds the reads of one load while the Secret keeps changing.
const maxCredentialReads = 5

// Credentials are an access key pair of a project, with a security token when the pair is
// temporary. Printing them shows the access key and project, never the secrets.
type Credentials struct {
	AccessKey     string
	SecretKey     Secret
	SecurityToken Secret
	ProjectID     string
}

// validate names every missing field, never a value.
func (c Credentials) validate() error {
	var missing []string
	if c.AccessKey == "" {
		missing = append(missing, "access key")
	}
	if c.SecretKey.IsEmpty() {
		missing = append(missing, "secret key")
	}
	if c.ProjectID == "" {
		missing = append(missing, "project id")
	}
	if len(missing) > 0 {
		return &CredentialsError{Reason: "missing " + strings.Join(missing, ", ")}
	}
	return nil
}

// CredentialsProvider gives the credentials to sign a request with. The client asks
// before every attempt, so a provider can rotate them.
type CredentialsProvider interface {
	Credentials(ctx context.Context) (Credentials, error)
}

// StaticCredentials are credentials that never change.
type StaticCredentials Credentials

// Credentials implements CredentialsProvider.
func (s StaticCredentials) Credentials(context.Context) (Credentials, error) {
	return Credentials(s), nil
}

// EnvCredentials reads HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK, HUAWEICLOUD_SDK_PROJECT_ID
// and the optional HUAWEICLOUD_SDK_SECURITY_TOKEN with getenv (os.Getenv in production).
// Its error names every missing variable, never a value.
func EnvCredentials(getenv func(string) string) (Credentials, error) {
	var missing []string
	get := func(name string, required bool) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" && required {
			missing = append(missing, name)
		}
		return v
	}
	c := Credentials{
		AccessKey:     get(EnvAccessKey, true),
		SecretKey:     NewSecret(get(EnvSecretKey, true)),
		ProjectID:     get(EnvProjectID, true),
		SecurityToken: NewSecret(get(EnvSecurityToken, false)),
	}
	if len(missing) > 0 {
		return Credentials{}, &CredentialsError{Reason: "missing environment variables " + strings.Join(missing, ", ")}
	}
	return c, nil
}

// NewFileCredentials reads the credentials from the files HUAWEICLOUD_SDK_AK,
// HUAWEICLOUD_SDK_SK, HUAWEICLOUD_SDK_PROJECT_ID and the optional
// HUAWEICLOUD_SDK_SECURITY_TOKEN in dir, a mounted Secret. It reads them again at most
// every two seconds, so rotated keys are used without a restart. When dir is a Secret
// volume (it has the kubelet's "..data" link), all four are read from one version of the
// Secret: never an old access key with a new secret key.
func NewFileCredentials(dir string) CredentialsProvider {
	return &fileCredentials{dir: dir, now: time.Now, readFile: readCredentialFile}
}

type fileCredentials struct {
	dir      string
	now      func() time.Time
	readFile func(path string) (string, error)

	mu     sync.Mutex
	read   time.Time
	cached Credentials
}

// Credentials implements CredentialsProvider.
func (f *fileCredentials) Credentials(context.Context) (Credentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if !f.read.IsZero() && now.Sub(f.read) < fileCredentialsRefresh && now.Sub(f.read) >= 0 {
		return f.cached, nil
	}
	c, err := f.load()
	if err != nil {
		// A failed read is not cached: the next call tries again.
		f.read = time.Time{}
		return Credentials{}, err
	}
	f.cached, f.read = c, now
	return c, nil
}

// load reads the credentials. In a Secret volume, it reads them from the directory the
// "..data" link points to, and reads them again if the link has moved meanwhile (the
// kubelet may have removed the old directory half-way through the read).
func (f *fileCredentials) load() (Credentials, error) {
	link := filepath.Join(f.dir, secretDataLink)
	for range maxCredentialReads {
		fi, err := os.Lstat(link)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Mode()&fs.ModeSymlink == 0) {
			// A plain directory (or a "..data" that is no link): its files as they are.
			return f.loadFrom(f.dir)
		}
		var target string
		if err == nil {
			target, err = os.Readlink(link)
		}
		if err != nil {
			return Credentials{}, &CredentialsError{Reason: "read the link " + secretDataLink + " in " + f.dir + ": " + errorKind(err)}
		}
		dir := target
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(f.dir, dir)
		}
		c, err := f.loadFrom(dir)
		if again, lerr := os.Readlink(link); lerr == nil && again == target {
			return c, err
		}
		// The Secret was updated while it was read: what was read may mix two versions.
	}
	return Credentials{}, &CredentialsError{Reason: "the files in " + f.dir + " kept changing while they were read"}
}

// loadFrom reads the credential files in dir; its errors name f.dir, the directory
// configured.
func (f *fileCredentials) loadFrom(dir string) (Credentials, error) {
	var missing []string
	get := func(name string, required bool) (string, error) {
		v, err := f.readFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) || (err == nil && v == "") {
			if required {
				missing = append(missing, name)
			}
			return "", nil
		}
		if err != nil {
			return "", &CredentialsError{Reason: "read " + name + " in " + f.dir + ": " + errorKind(err)}
		}
		return v, nil
	}
	var vals [4]string
	for i, name := range []string{EnvAccessKey, EnvSecretKey, EnvProjectID, EnvSecurityToken} {
		v, err := get(name, name != EnvSecurityToken)
		if err != nil {
			return Credentials{}, err
		}
		vals[i] = v
	}
	if len(missing) > 0 {
		return Credentials{}, &CredentialsError{Reason: "missing files " + strings.Join(missing, ", ") + " in " + f.dir}
	}
	// A rotation may put a value in the wrong file (a secret key as the project): it would
	// travel in request paths and messages. Refuse it by name and shape, never by value.
	if err := ValidateProjectID(vals[2]); err != nil {
		return Credentials{}, &CredentialsError{Reason: "the file " + EnvProjectID + " in " + f.dir + " is malformed (" + err.Error() + ")"}
	}
	return Credentials{
		AccessKey:     vals[0],
		SecretKey:     NewSecret(vals[1]),
		ProjectID:     vals[2],
		SecurityToken: NewSecret(vals[3]),
	}, nil
}

func readCredentialFile(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = fh.Close() }()
	b, err := io.ReadAll(io.LimitReader(fh, maxCredentialFileSize+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxCredentialFileSize {
		return "", errors.New("file too large")
	}
	return strings.TrimSpace(string(b)), nil
}

// errorKind describes a file error without the path's content.
func errorKind(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
