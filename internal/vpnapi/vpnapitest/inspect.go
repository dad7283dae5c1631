package vpnapitest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// StoredUser is a user as the fake holds it, password included (tests only).
type StoredUser struct {
	vpnapi.User
	Password string
	// ClientToken is the X-Client-Token of the create, "" if none.
	ClientToken string
	// PasswordHistory counts the passwords the user has had: 1 after the create, one
	// more per successful reset.
	PasswordHistory int
}

// Call is an API call the fake saw. It never holds a password or a body.
type Call struct {
	Method      string    `json:"method"`
	Path        string    `json:"path"`
	Operation   string    `json:"operation"`
	Status      int       `json:"status"`         // 0 when the connection was dropped before the call was performed
	Code        string    `json:"code,omitempty"` // the error code, or "dropped" when no answer was sent
	ClientToken string    `json:"clientToken,omitempty"`
	AccessKey   string    `json:"accessKey,omitempty"`
	ProjectID   string    `json:"projectId,omitempty"`
	ServerID    string    `json:"serverId,omitempty"`
	UserID      string    `json:"userId,omitempty"`
	Time        time.Time `json:"time"`
}

// Users returns the users of a server, oldest first.
func (s *Server) Users(projectID, serverID string) []StoredUser {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.lookupServer(projectID, serverID)
	if srv == nil {
		return nil
	}
	out := make([]StoredUser, 0, len(srv.users))
	for _, u := range srv.users {
		out = append(out, u.stored())
	}
	return out
}

// User returns one user of a server.
func (s *Server) User(projectID, serverID, userID string) (StoredUser, bool) {
	var out StoredUser
	found := s.withUser(projectID, serverID, userID, func(_ *vpnServer, u *storedUser) { out = u.stored() })
	return out, found
}

func (u *storedUser) stored() StoredUser {
	return StoredUser{User: u.User, Password: u.password, ClientToken: u.clientToken, PasswordHistory: u.passwords}
}

// lookupServer finds a server; s.mu is held.
func (s *Server) lookupServer(projectID, serverID string) *vpnServer {
	p := s.projects[projectID]
	if p == nil {
		return nil
	}
	return p.servers[strings.ToLower(serverID)]
}

// withUser runs f on a user of a server with s.mu held; false if there is no such user.
func (s *Server) withUser(projectID, serverID, userID string, f func(*vpnServer, *storedUser)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.lookupServer(projectID, serverID)
	if srv == nil {
		return false
	}
	u := srv.byID[strings.ToLower(userID)]
	if u == nil {
		return false
	}
	f(srv, u)
	return true
}

// Calls returns the API calls seen, oldest first (the admin API's calls are not logged).
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// ResetCalls forgets the calls seen and their statistics.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
	s.stats = map[string]map[int]int{}
	s.resetKeylessStatsLocked()
}

// CountCalls counts the calls seen of an operation ("" counts all).
func (s *Server) CountCalls(operation string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if operation == "" || c.Operation == operation {
			n++
		}
	}
	return n
}

// Stats counts the calls seen by operation and HTTP status (0: dropped connection).
func (s *Server) Stats() map[string]map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[int]int, len(s.stats))
	for op, byStatus := range s.stats {
		out[op] = make(map[int]int, len(byStatus))
		for st, n := range byStatus {
			out[op][st] = n
		}
	}
	return out
}

// DeleteUserOutOfBand deletes a user as someone in the console would; false if there
// is no such user.
func (s *Server) DeleteUserOutOfBand(projectID, serverID, userID string) bool {
	return s.withUser(projectID, serverID, userID, func(srv *vpnServer, u *storedUser) { srv.remove(u) })
}

// UpdateUserOutOfBand changes a user's description and/or group (nil: unchanged) as
// someone in the console would, without checking the rules; false if there is no such
// user.
func (s *Server) UpdateUserOutOfBand(projectID, serverID, userID string, description, groupID *string) bool {
	return s.withUser(projectID, serverID, userID, func(srv *vpnServer, u *storedUser) {
		s.modify(srv, u, description, groupID)
	})
}

// CreateUserOutOfBand creates a user as someone in the console would, under the rules
// of the API, and returns its id.
func (s *Server) CreateUserOutOfBand(projectID, serverID, name, password string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.lookupServer(projectID, serverID)
	if srv == nil {
		return "", fmt.Errorf("no vpn server %s in project %s", serverID, projectID)
	}
	nu := newUser{name: name, password: password}
	if res := srv.validate(nu); res != nil {
		return "", errors.New(res.msg)
	}
	if res := srv.admits(name); res != nil {
		return "", errors.New(res.msg)
	}
	return s.insert(srv, nu, "").ID, nil
}

// SetPasswordOutOfBand resets a user's password as someone in the console would,
// without checking the rules; false if there is no such user.
func (s *Server) SetPasswordOutOfBand(projectID, serverID, userID, password string) bool {
	return s.withUser(projectID, serverID, userID, func(_ *vpnServer, u *storedUser) { s.setPassword(u, password) })
}

// SetCredentials rotates a project's key pair (and security token, "" for none): the
// old access key stops working at once.
func (s *Server) SetCredentials(projectID, ak, sk, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projects[projectID]
	if p == nil {
		return
	}
	delete(s.byAccessKey, p.accessKey)
	p.accessKey, p.secretKey, p.securityToken = ak, sk, token
	s.byAccessKey[ak] = p
}

// SetServerState changes a server's state (e.g. StatePendingUpdate, StateFrozen) and
// client authentication type ("" keeps it).
func (s *Server) SetServerState(projectID, serverID, state, authType string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.lookupServer(projectID, serverID)
	if srv == nil {
		return false
	}
	srv.state = orDefault(state, srv.state)
	srv.authType = orDefault(authType, srv.authType)
	return true
}

// CheckPassword reports whether a user's current password is password.
func (s *Server) CheckPassword(projectID, serverID, userID, password string) bool {
	u, found := s.User(projectID, serverID, userID)
	return found && u.Password == password
}
