package vpnapitest

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// AdminHelp describes the admin API the fake serves under /_fake/ (not signed), for the
// demo and the end-to-end scripts that drive the fakecloud binary with curl.
const AdminHelp = `Admin API (JSON, not signed; project and server default to the first ones):
  GET    /_fake/health                 "ok"
  GET    /_fake/users[?project=&server=]  every user, never a password
  POST   /_fake/users                  {"project","server","name","password"} -> {"id"}  (as in the console)
  PATCH  /_fake/users/{id}             {"description":"..","user_group_id":".."}        (as in the console)
  DELETE /_fake/users/{id}             delete as in the console
  POST   /_fake/check-password         {"project","server","user_id","password"} -> {"match":true|false}
  GET    /_fake/calls                  the API calls seen (never a password); DELETE /_fake/calls forgets them
  POST   /_fake/faults                 a fault, e.g. {"operation":"create","times":2,"status":503,
                                       "retryAfter":"1s","latency":"200ms","dropConnection":false,
                                       "loseResponse":false,"shape":"error_code|code|error|html|text|empty"}
  DELETE /_fake/faults                 clear every fault
  GET    /_fake/stats                  {"calls":{"create":{"201":3,"400":1}},"users":N,...keyless counts}
  POST   /_fake/credentials            {"project","accessKey","secretKey","securityToken"}  rotate keys
  POST   /_fake/settings               {"qps":5,"latency":"100ms","faultRate":0.1,"faultMix":[faults]}
` + KeylessAdminHelp

// maxAdminBody bounds an admin request body.
const maxAdminBody = 64 << 10

// adminUser is a user in the admin API: its project and server, the VpnUser object
// (flattened), and what the fake knows of it, but no password.
type adminUser struct {
	ProjectID string `json:"project"`
	ServerID  string `json:"server"`
	userJSON
	ClientToken     string `json:"client_token,omitempty"`
	PasswordHistory int    `json:"password_history"`
}

// adminMux routes the admin API.
func (s *Server) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_fake/health", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, "ok") })
	mux.HandleFunc("GET /_fake/users", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.adminUsers(r.URL.Query().Get("project"), r.URL.Query().Get("server")))
	})
	mux.HandleFunc("POST /_fake/users", s.adminCreate)
	mux.HandleFunc("DELETE /_fake/users/{id}", s.adminDelete)
	mux.HandleFunc("PATCH /_fake/users/{id}", s.adminPatch)
	mux.HandleFunc("POST /_fake/check-password", s.adminCheckPassword)
	mux.HandleFunc("GET /_fake/calls", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Calls()) })
	mux.HandleFunc("DELETE /_fake/calls", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetCalls()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_fake/faults", s.adminFault)
	mux.HandleFunc("DELETE /_fake/faults", func(w http.ResponseWriter, _ *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_fake/stats", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.adminStats()) })
	mux.HandleFunc("POST /_fake/credentials", s.adminCredentials)
	mux.HandleFunc("POST /_fake/settings", s.adminSettings)
	s.addKeylessAdmin(mux)
	mux.HandleFunc("/_fake/", func(w http.ResponseWriter, _ *http.Request) {
		adminFail(w, http.StatusNotFound, "no such admin endpoint; see the help of hack/fakecloud")
	})
	return mux
}

func adminFail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{keyError: msg})
}

// readAdmin decodes an admin body into v; false (and an answer sent) on failure.
func readAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody))
	if err == nil {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
	}
	if err != nil {
		adminFail(w, http.StatusBadRequest, "bad JSON body: "+describeJSONError(err))
		return false
	}
	return true
}

// defaults fills an empty project or server with the first one of the options; s.mu
// is held.
func (s *Server) defaults(projectID, serverID string) (string, string) {
	if projectID == "" && len(s.projectOrder) > 0 {
		projectID = s.projectOrder[0]
	}
	if p := s.projects[projectID]; serverID == "" && p != nil && len(p.serverOrder) > 0 {
		serverID = p.serverOrder[0]
	}
	return projectID, serverID
}

func (s *Server) adminUsers(projectID, serverID string) []adminUser {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []adminUser{}
	for _, p := range s.projects {
		if projectID != "" && p.id != projectID {
			continue
		}
		for _, sid := range p.serverOrder {
			if serverID != "" && !strings.EqualFold(sid, serverID) {
				continue
			}
			srv := p.servers[sid]
			for _, u := range srv.users {
				out = append(out, adminUser{
					ProjectID: p.id, ServerID: sid, userJSON: srv.view(u),
					ClientToken: u.clientToken, PasswordHistory: u.passwords,
				})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b adminUser) int { return strings.Compare(a.CreatedAt, b.CreatedAt) })
	return out
}

// findUser finds a user by id in any project and server.
func (s *Server) findUser(id string) (projectID, serverID string, found bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.projects {
		for sid, srv := range p.servers {
			if srv.byID[strings.ToLower(id)] != nil {
				return p.id, sid, true
			}
		}
	}
	return "", "", false
}

func (s *Server) adminCreate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Project  string `json:"project"`
		Server   string `json:"server"`
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if !readAdmin(w, r, &req) {
		return
	}
	s.mu.Lock()
	p, sv := s.defaults(req.Project, req.Server)
	s.mu.Unlock()
	id, err := s.CreateUserOutOfBand(p, sv, req.Name, req.Password)
	if err != nil {
		adminFail(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id, "project": p, "server": sv})
}

func (s *Server) adminDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p, sv, found := s.findUser(id)
	if !found || !s.DeleteUserOutOfBand(p, sv, id) {
		adminFail(w, http.StatusNotFound, "no such user")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminPatch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req struct {
		Description *string `json:"description"`
		UserGroupID *string `json:"user_group_id"`
	}
	if !readAdmin(w, r, &req) {
		return
	}
	p, sv, found := s.findUser(id)
	if !found || !s.UpdateUserOutOfBand(p, sv, id, req.Description, req.UserGroupID) {
		adminFail(w, http.StatusNotFound, "no such user")
		return
	}
	u, _ := s.User(p, sv, id)
	writeJSON(w, http.StatusOK, u.User)
}

func (s *Server) adminCheckPassword(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Project  string `json:"project"`
		Server   string `json:"server"`
		UserID   string `json:"user_id"`
		Password string `json:"password"`
	}
	if !readAdmin(w, r, &req) {
		return
	}
	p, sv := req.Project, req.Server
	if p == "" || sv == "" {
		p, sv, _ = s.findUser(req.UserID)
	}
	if _, found := s.User(p, sv, req.UserID); !found {
		adminFail(w, http.StatusNotFound, "no such user")
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"match": s.CheckPassword(p, sv, req.UserID, req.Password)})
}

func (s *Server) adminFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if !readAdmin(w, r, &f) {
		return
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		adminFail(w, http.StatusBadRequest, "status must be from 400 to 599")
		return
	}
	s.InjectFault(f)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminStats() map[string]any {
	calls := map[string]map[string]int{}
	for op, byStatus := range s.Stats() {
		calls[op] = map[string]int{}
		for st, n := range byStatus {
			calls[op][strconv.Itoa(st)] = n
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	users := 0
	for _, p := range s.projects {
		for _, srv := range p.servers {
			users += len(srv.users)
		}
	}
	ks := s.kl.stats
	return map[string]any{
		"calls": calls, keyUsers: users,
		"expiredCredentialRequests": ks.ExpiredCredentialRequests, "unauthorized": ks.Unauthorized,
		"credentialsIssued": copyCounts(ks.Issued), "credentialRefusals": copyCounts(ks.Refused),
	}
}

func (s *Server) adminCredentials(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Project       string `json:"project"`
		AccessKey     string `json:"accessKey"`
		SecretKey     string `json:"secretKey"`
		SecurityToken string `json:"securityToken"`
	}
	if !readAdmin(w, r, &req) {
		return
	}
	if req.AccessKey == "" || req.SecretKey == "" {
		adminFail(w, http.StatusBadRequest, "accessKey and secretKey are required")
		return
	}
	s.mu.Lock()
	p, _ := s.defaults(req.Project, "")
	_, known := s.projects[p]
	s.mu.Unlock()
	if !known {
		adminFail(w, http.StatusNotFound, "no such project")
		return
	}
	s.SetCredentials(p, req.AccessKey, req.SecretKey, req.SecurityToken)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminSettings(w http.ResponseWriter, r *http.Request) {
	var req struct {
		QPS       *float64      `json:"qps"`
		Latency   *jsonDuration `json:"latency"`
		FaultRate *float64      `json:"faultRate"`
		FaultMix  []Fault       `json:"faultMix"`
	}
	if !readAdmin(w, r, &req) {
		return
	}
	if req.QPS != nil {
		s.SetQPS(*req.QPS)
	}
	if req.Latency != nil {
		s.SetLatency(time.Duration(*req.Latency))
	}
	if req.FaultRate != nil {
		mix := req.FaultMix
		if len(mix) == 0 {
			mix = DefaultFaultMix()
		}
		s.SetFaultRate(*req.FaultRate, mix)
	}
	w.WriteHeader(http.StatusNoContent)
}

// DefaultFaultMix is a mix of transient faults a client must survive: server errors,
// throttling, busy, a dropped connection and a lost answer.
func DefaultFaultMix() []Fault {
	return []Fault{
		{Status: http.StatusInternalServerError},
		{Status: http.StatusServiceUnavailable, Shape: ShapeHTML},
		{Status: http.StatusBadGateway, Shape: ShapeEmpty},
		{Status: http.StatusTooManyRequests, RetryAfter: time.Second},
		{Status: http.StatusBadRequest, Code: vpnapi.CodeBusy, Message: "system busy"},
		{DropConnection: true},
		{LoseResponse: true},
	}
}
