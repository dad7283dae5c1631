package vpnapitest

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// maxClockSkew is how far X-Sdk-Date may be from the fake's clock.
const maxClockSkew = 15 * time.Minute

// keyPair is a snapshot of a project's credentials, to verify outside the lock.
type keyPair struct {
	projectID, secretKey, securityToken string
	// expires is the expiry of a temporary credential a keyless source issued; zero
	// for the projects' own keys.
	expires time.Time
}

// authenticate checks the signature of r (rebuilt with the client's own canonicalisation
// from what arrived), the date, the security token and that the key belongs to the
// project of the path. It returns the access key used.
func (s *Server) authenticate(r *http.Request, body []byte, projectID string) (string, *result) {
	auth, err := vpnapi.ParseAuthorization(r.Header.Get(vpnapi.HeaderAuthorization))
	if err != nil {
		return "", unauthorized("missing or malformed Authorization: %s", err.Error())
	}
	if res := s.checkDate(r, auth); res != nil {
		return auth.AccessKey, res
	}
	keys, found := s.keyPair(auth.AccessKey)
	if !found {
		return auth.AccessKey, unauthorized("the access key does not exist")
	}
	if res := checkSecurityToken(r, auth, keys.securityToken); res != nil {
		return auth.AccessKey, res
	}
	if !keys.expires.IsZero() && !s.now().Before(keys.expires) {
		return auth.AccessKey, s.tokenExpired()
	}
	canonical, err := vpnapi.CanonicalRequest(r, body, auth.SignedHeaders)
	if err != nil {
		return auth.AccessKey, unauthorized("cannot canonicalise the request: %s", err.Error())
	}
	date := r.Header.Get(vpnapi.HeaderSdkDate)
	want := vpnapi.Signature(vpnapi.NewSecret(keys.secretKey), vpnapi.StringToSign(date, canonical))
	if subtle.ConstantTimeCompare([]byte(want), []byte(auth.Signature)) != 1 {
		return auth.AccessKey, unauthorized("the signature does not match")
	}
	return auth.AccessKey, s.checkProject(r, keys.projectID, projectID)
}

func (s *Server) checkDate(r *http.Request, auth vpnapi.Authorization) *result {
	if !slices.Contains(auth.SignedHeaders, "x-sdk-date") {
		return unauthorized("X-Sdk-Date must be signed")
	}
	v := r.Header.Get(vpnapi.HeaderSdkDate)
	if v == "" {
		return unauthorized("missing X-Sdk-Date")
	}
	t, err := time.Parse(vpnapi.SdkDateFormat, v)
	if err != nil {
		return unauthorized("X-Sdk-Date is not YYYYMMDDTHHMMSSZ")
	}
	if skew := s.now().Sub(t); skew > maxClockSkew || skew < -maxClockSkew {
		return unauthorized("the request expired: X-Sdk-Date is more than 15 minutes from the server's clock")
	}
	return nil
}

func checkSecurityToken(r *http.Request, auth vpnapi.Authorization, want string) *result {
	got := r.Header.Get(vpnapi.HeaderSecurityToken)
	switch {
	case want == "" && got != "":
		return unauthorized("a security token was sent for a permanent access key")
	case want == "":
		return nil
	case got == "":
		return unauthorized("the access key is temporary: X-Security-Token is required")
	case !slices.Contains(auth.SignedHeaders, "x-security-token"):
		return unauthorized("X-Security-Token must be signed")
	case subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1:
		return unauthorized("the security token is invalid")
	}
	return nil
}

// checkProject refuses a key used on another project than its own.
func (s *Server) checkProject(r *http.Request, keyProject, pathProject string) *result {
	if keyProject == pathProject {
		if h := r.Header.Get(vpnapi.HeaderProjectID); h != "" && h != pathProject {
			res := apiError(http.StatusForbidden, vpnapi.CodeForbidden, "X-Project-Id does not match the project of the path")
			return &res
		}
		return nil
	}
	if err := vpnapi.ValidateProjectID(pathProject); err != nil {
		return invalid("project_id %s is not 32 hexadecimal digits", quoteID(pathProject))
	}
	s.mu.Lock()
	_, exists := s.projects[pathProject]
	s.mu.Unlock()
	if !exists {
		res := notFound("project %s not found", pathProject)
		return &res
	}
	res := apiError(http.StatusForbidden, vpnapi.CodeForbidden, "the access key has no permission on project %s", pathProject)
	return &res
}

func (s *Server) keyPair(accessKey string) (keyPair, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byAccessKey[accessKey]
	if p == nil {
		return s.tempKeyPairLocked(accessKey)
	}
	return keyPair{projectID: p.id, secretKey: p.secretKey, securityToken: p.securityToken}, true
}
