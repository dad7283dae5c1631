package vpnapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
)

// ProjectID is the project of the credentials the client signs with now (they may be
// rotated, even to another project, while it runs).
func (c *Client) ProjectID(ctx context.Context) (string, error) {
	creds, err := c.credentials(ctx, OpList)
	if err != nil {
		return "", err
	}
	return creds.ProjectID, nil
}

// ProbeServer asks for one user of a VPN server: nil when the server exists and these
// credentials reach it. A 404 means the server is not found in the credentials' project
// (it is gone, or the credentials are of another project); a user's 404 means something
// only when ProbeServer then answers nil.
func (c *Client) ProbeServer(ctx context.Context, serverID string) error {
	_, err := c.do(ctx, request{op: OpList, method: http.MethodGet, serverID: serverID,
		query: url.Values{"limit": {"1"}}, retry: true})
	return err
}

// passwordReused matches the cloud's message for a new password that is one of the
// user's last passwords (API.md, Passwords), as the fake answers it too.
var passwordReused = regexp.MustCompile(`(?i)(last \d+ passwords|used recently|password history|recently used)`)

// IsPasswordReused reports whether err is the cloud's refusal of a new password because
// the user had it recently: an invalid parameter whose message says so. Any other
// refusal (a weak password, a busy server) is not.
func IsPasswordReused(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == CodeInvalidParameter && passwordReused.MatchString(ae.Message)
}
