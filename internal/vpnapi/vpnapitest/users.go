package vpnapitest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// List limits of the fake: the contract gives none, so it picks these.
const (
	defaultListLimit = 100
	maxListLimit     = 500
)

// The request bodies of API.md, as the fake reads them: every field a pointer, so
// that absent and null can be told from empty.
type createBody struct {
	User *struct {
		Name        *string `json:"name"`
		Password    *string `json:"password"`
		Description *string `json:"description"`
		UserGroupID *string `json:"user_group_id"`
	} `json:"user"`
}

type updateBody struct {
	User map[string]json.RawMessage `json:"user"`
}

type resetBody struct {
	NewPassword *string `json:"new_password"`
}

// userJSON is the VpnUser object of API.md: the fields of vpnapi.User, with the
// timestamps written as the API writes them (in encoding/json the shallower CreatedAt
// and UpdatedAt hide those of the embedded User).
type userJSON struct {
	vpnapi.User
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func (v *vpnServer) view(u *storedUser) userJSON {
	j := userJSON{User: u.User, CreatedAt: formatTime(u.CreatedAt), UpdatedAt: formatTime(u.UpdatedAt)}
	j.UserGroupName = v.groups[strings.ToLower(u.UserGroupID)].Name
	return j
}

func formatTime(t time.Time) string { return t.UTC().Format(vpnapi.TimestampFormat) }

// newUser is a create, validated.
type newUser struct {
	name, password, description, groupID string
}

// create handles POST .../users; s.mu is held.
func (s *Server) create(p *project, srv *vpnServer, token string, body []byte) result {
	var b createBody
	if res := decodeStrict(body, &b); res != nil {
		return *res
	}
	if b.User == nil {
		return *invalid("the body must be {\"user\":{...}}")
	}
	nu := newUser{name: deref(b.User.Name), password: deref(b.User.Password),
		description: deref(b.User.Description), groupID: deref(b.User.UserGroupID)}
	if b.User.Name == nil || b.User.Password == nil {
		return *invalid("user.name and user.password are required")
	}
	if res := srv.validate(nu); res != nil {
		return *res
	}
	if token != "" {
		if vpnapi.ValidateUUID(token) != nil {
			return *invalid("X-Client-Token must be a 36-character UUID")
		}
		fp := fingerprint(srv.id, nu)
		if rec, seen := p.tokens[token]; seen {
			if rec.fingerprint != fp {
				return *invalid("X-Client-Token %s was already used with different parameters", token)
			}
			return ok(http.StatusCreated, map[string]any{keyUser: map[string]any{"id": rec.userID}})
		}
	}
	if res := srv.admits(nu.name); res != nil {
		return *res
	}
	u := s.insert(srv, nu, token)
	if token != "" {
		p.tokens[token] = tokenRecord{fingerprint: fingerprint(srv.id, nu), userID: u.ID}
	}
	return ok(http.StatusCreated, map[string]any{keyUser: map[string]any{"id": u.ID}})
}

// validate applies the rules of API.md to a create.
func (v *vpnServer) validate(nu newUser) *result {
	if err := vpnapi.ValidateUserName(nu.name); err != nil {
		return invalid("%s", err.Error())
	}
	if err := vpnapi.ValidatePassword(nu.name, vpnapi.NewSecret(nu.password)); err != nil {
		return invalid("%s", err.Error())
	}
	if err := vpnapi.ValidateDescription(nu.description); err != nil {
		return invalid("%s", err.Error())
	}
	return v.checkGroup(nu.groupID)
}

func (v *vpnServer) checkGroup(id string) *result {
	if id == "" {
		return nil
	}
	if vpnapi.ValidateUUID(id) != nil {
		return invalid("user_group_id %s is not a UUID", quoteID(id))
	}
	if _, found := v.groups[strings.ToLower(id)]; !found {
		return invalid("user group %s does not exist on vpn server %s", id, v.id)
	}
	return nil
}

// admits checks the quota and that the name is free.
func (v *vpnServer) admits(name string) *result {
	if len(v.users) >= vpnapi.MaxUsersPerServer {
		return invalid("vpn server %s already holds %d users, the most it can", v.id, vpnapi.MaxUsersPerServer)
	}
	if v.byName[name] != nil {
		return invalid("user name %s already exists", name)
	}
	return nil
}

// insert stores a new user; s.mu is held.
func (s *Server) insert(srv *vpnServer, nu newUser, token string) *storedUser {
	created := s.nextCreated()
	u := &storedUser{
		User: vpnapi.User{
			ID: newUUID(), Name: nu.name, Description: nu.description, UserGroupID: nu.groupID,
			UserGroupName: srv.groups[strings.ToLower(nu.groupID)].Name,
			CreatedAt:     created, UpdatedAt: created,
		},
		password: nu.password, history: []string{nu.password}, passwords: 1, clientToken: token,
	}
	srv.users = append(srv.users, u)
	srv.byID[u.ID] = u
	srv.byName[u.Name] = u
	return u
}

// nextCreated gives a creation time strictly after every earlier one, so that list
// markers are exact; s.mu is held.
func (s *Server) nextCreated() time.Time {
	t := s.now().UTC().Truncate(time.Millisecond)
	if !t.After(s.lastCreated) {
		t = s.lastCreated.Add(time.Millisecond)
	}
	s.lastCreated = t
	return t
}

// list handles GET .../users?limit=&marker=; s.mu is held.
func (s *Server) list(srv *vpnServer, q url.Values) result {
	limit := defaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			return *invalid("limit must be an integer from 1 to %d", maxListLimit)
		}
		limit = n
	}
	start := 0
	if m := q.Get("marker"); m != "" {
		t, err := time.Parse(time.RFC3339Nano, m)
		if err != nil {
			return *invalid("marker must be the created_at of a user")
		}
		i, found := slices.BinarySearchFunc(srv.users, t, compareCreated)
		if found {
			i++
		}
		start = i
	}
	end := min(start+limit, len(srv.users))
	page := make([]userJSON, 0, end-start)
	for _, u := range srv.users[start:end] {
		page = append(page, srv.view(u))
	}
	info := map[string]any{"current_count": len(page)}
	if end < len(srv.users) && len(page) > 0 {
		info["next_marker"] = page[len(page)-1].CreatedAt
	}
	return ok(http.StatusOK, map[string]any{keyUsers: page, "total_count": len(srv.users), "page_info": info})
}

// compareCreated orders users by created_at, for binary searches.
func compareCreated(u *storedUser, t time.Time) int { return u.CreatedAt.Compare(t) }

// update handles PUT .../users/{id}; s.mu is held.
func (s *Server) update(srv *vpnServer, u *storedUser, body []byte) result {
	var b updateBody
	if res := decodeStrict(body, &b); res != nil {
		return *res
	}
	if b.User == nil {
		return *invalid("the body must be {\"user\":{...}}")
	}
	desc, group, res := readUpdate(b.User)
	if res != nil {
		return *res
	}
	if desc != nil {
		if err := vpnapi.ValidateDescription(*desc); err != nil {
			return *invalid("%s", err.Error())
		}
	}
	if group != nil {
		if res := srv.checkGroup(*group); res != nil {
			return *res
		}
	}
	s.modify(srv, u, desc, group)
	return ok(http.StatusOK, map[string]any{keyUser: srv.view(u)})
}

// readUpdate reads the fields of an update; null is taken as absent.
func readUpdate(fields map[string]json.RawMessage) (desc, group *string, res *result) {
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		var dst **string
		switch k {
		case "description":
			dst = &desc
		case "user_group_id":
			dst = &group
		case "name":
			return nil, nil, invalid("the name of a user cannot be changed")
		case "password":
			return nil, nil, invalid("a password is changed with reset-password")
		default:
			return nil, nil, invalid("unknown field %q", k)
		}
		if err := json.Unmarshal(fields[k], dst); err != nil {
			return nil, nil, invalid("field %q must be a JSON string", k)
		}
	}
	return desc, group, nil
}

// modify applies an update; s.mu is held.
func (s *Server) modify(srv *vpnServer, u *storedUser, desc, group *string) {
	if desc != nil {
		u.Description = *desc
	}
	if group != nil {
		u.UserGroupID = *group
		u.UserGroupName = srv.groups[strings.ToLower(*group)].Name
	}
	u.UpdatedAt = s.touch(u)
}

// touch gives an updated_at that is never before created_at.
func (s *Server) touch(u *storedUser) time.Time {
	t := s.now().UTC().Truncate(time.Millisecond)
	if t.Before(u.CreatedAt) {
		return u.CreatedAt
	}
	return t
}

// delete handles DELETE .../users/{id}; s.mu is held.
func (s *Server) delete(srv *vpnServer, u *storedUser) result {
	srv.remove(u)
	return ok(http.StatusNoContent, nil)
}

func (v *vpnServer) remove(u *storedUser) {
	if i, found := slices.BinarySearchFunc(v.users, u.CreatedAt, compareCreated); found && v.users[i] == u {
		v.users = slices.Delete(v.users, i, i+1)
	}
	delete(v.byID, u.ID)
	delete(v.byName, u.Name)
}

// resetPassword handles POST .../users/{id}/reset-password; s.mu is held.
func (s *Server) resetPassword(u *storedUser, body []byte) result {
	var b resetBody
	if res := decodeStrict(body, &b); res != nil {
		return *res
	}
	if b.NewPassword == nil {
		return *invalid("new_password is required")
	}
	if err := vpnapi.ValidatePassword(u.Name, vpnapi.NewSecret(*b.NewPassword)); err != nil {
		return *invalid("%s", err.Error())
	}
	if slices.Contains(u.history, *b.NewPassword) {
		return *invalid("the new password must differ from the last %d passwords", vpnapi.PasswordHistoryDepth)
	}
	s.setPassword(u, *b.NewPassword)
	return ok(http.StatusOK, map[string]any{})
}

func (s *Server) setPassword(u *storedUser, pw string) {
	u.password = pw
	u.history = append(u.history, pw)
	if n := len(u.history); n > vpnapi.PasswordHistoryDepth {
		u.history = slices.Clone(u.history[n-vpnapi.PasswordHistoryDepth:])
	}
	u.passwords++
	u.UpdatedAt = s.touch(u)
}

// fingerprint identifies the parameters of a create, for X-Client-Token.
func fingerprint(serverID string, nu newUser) [32]byte {
	return sha256.Sum256([]byte(strings.Join([]string{serverID, nu.name, nu.password, nu.description,
		strings.ToLower(nu.groupID)}, "\x00")))
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
