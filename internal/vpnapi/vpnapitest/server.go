// Package vpnapitest is a fake of Huawei Cloud's P2C VPN user API that enforces the
// contract of vpnapi's API.md over real HTTP: signatures, every rule of names, passwords,
// descriptions and groups, idempotent creates, pagination and the error shapes. Tests
// start it like an httptest server, inspect what it holds and which calls it saw, change
// users behind the client's back and inject faults. hack/fakecloud serves it as a binary.
//
// Where API.md is silent, the fake chooses, and tests may rely on these choices:
//   - list: limit defaults to 100 and must be 1 to 500; next_marker is set only when more
//     users follow; creation times are strictly increasing, so markers are exact;
//   - writes on a server whose authentication is not LOCAL_PASSWORD answer 400 VPN.0001,
//     on a PENDING_* server 400 VPN.0030 (busy), on any other non-ACTIVE server 403
//     VPN.0003; reads are always allowed;
//   - malformed ids in the path answer 400 VPN.0001, well-formed unknown ones 404
//     VPN.0004; a key used on another existing project answers 403 VPN.0003;
//   - an X-Client-Token is remembered for good, even after its user is deleted: the same
//     token with the same parameters then returns the deleted user's id again, so a
//     caller re-creating a user must use a new token;
//   - an update may set no field (a no-op that returns the user);
//   - faults are applied before authentication, as a gateway in front would.
package vpnapitest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// maxCalls bounds the call log; the oldest calls are forgotten first.
const maxCalls = 100_000

// Server is the fake cloud. It implements http.Handler; NewServer also serves it on a
// loopback port. All its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of a server made by NewServer, e.g. http://127.0.0.1:38411.
	URL string

	hs   *httptest.Server
	now  func() time.Time
	logf func(format string, args ...any)
	// clockOffset shifts the cloud's clock (ShiftClock): the times it gives users.
	clockOffset atomic.Int64

	// closed is done once Close is called.
	closed context.Context
	stop   context.CancelFunc

	admin *http.ServeMux

	mu           sync.Mutex
	projects     map[string]*project
	projectOrder []string
	byAccessKey  map[string]*project
	calls        []Call
	stats        map[string]map[int]int
	faults       []Fault
	faultRate    float64
	faultMix     []Fault
	rng          *rand.Rand
	latency      time.Duration
	limiter      *rate.Limiter
	lastCreated  time.Time
	requestSeq   uint64
	requestBase  uint64
	kl           keylessState
}

type project struct {
	id, accessKey, secretKey, securityToken string
	servers                                 map[string]*vpnServer
	serverOrder                             []string
	tokens                                  map[string]tokenRecord // by X-Client-Token
}

type vpnServer struct {
	id, authType, state string
	groups              map[string]Group
	users               []*storedUser // by created_at, strictly increasing
	byID                map[string]*storedUser
	byName              map[string]*storedUser
}

type storedUser struct {
	vpnapi.User
	password    string
	history     []string // the last PasswordHistoryDepth passwords, current last
	passwords   int
	clientToken string
}

// tokenRecord remembers a create made with an X-Client-Token.
type tokenRecord struct {
	fingerprint [32]byte
	userID      string
}

// NewServer starts a fake cloud on 127.0.0.1 on a free port, like httptest.NewServer.
// It panics if opts are invalid (see Options.Validate). Close it when done.
func NewServer(opts Options) *Server {
	s := NewHandler(opts)
	s.hs = httptest.NewUnstartedServer(s)
	s.hs.Start()
	s.URL = s.hs.URL
	return s
}

// NewHandler makes a fake cloud that is not listening: serve it with any http.Server.
// It panics if opts are invalid (see Options.Validate).
func NewHandler(opts Options) *Server {
	if err := opts.Validate(); err != nil {
		panic("vpnapitest: invalid options: " + err.Error())
	}
	s := &Server{
		now:         opts.Now,
		logf:        opts.Logf,
		projects:    map[string]*project{},
		byAccessKey: map[string]*project{},
		stats:       map[string]map[int]int{},
		latency:     opts.Latency,
		rng:         rand.New(rand.NewPCG(opts.Seed, 0x5eed)),
		requestBase: uint64(time.Now().UnixNano()),
		kl:          newKeylessState(opts.Keyless),
	}
	s.closed, s.stop = context.WithCancel(context.Background())
	if s.now == nil {
		s.now = time.Now
	}
	base := s.now
	s.now = func() time.Time { return base().Add(time.Duration(s.clockOffset.Load())) }
	s.setQPSLocked(opts.QPS)
	for _, p := range opts.Projects {
		s.addProject(p)
	}
	s.admin = s.adminMux()
	return s
}

func (s *Server) addProject(p Project) {
	pr := &project{
		id: p.ID, accessKey: p.AccessKey, secretKey: p.SecretKey, securityToken: p.SecurityToken,
		servers: map[string]*vpnServer{}, tokens: map[string]tokenRecord{},
	}
	for _, sv := range p.Servers {
		vs := &vpnServer{
			id:       strings.ToLower(sv.ID),
			authType: orDefault(sv.AuthType, AuthLocalPassword),
			state:    orDefault(sv.State, StateActive),
			groups:   map[string]Group{},
			byID:     map[string]*storedUser{},
			byName:   map[string]*storedUser{},
		}
		for _, g := range sv.Groups {
			vs.groups[strings.ToLower(g.ID)] = g
		}
		pr.servers[vs.id] = vs
		pr.serverOrder = append(pr.serverOrder, vs.id)
	}
	s.projects[pr.id] = pr
	s.projectOrder = append(s.projectOrder, pr.id)
	s.byAccessKey[pr.accessKey] = pr
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Close stops a server made by NewServer and wakes every delayed answer.
func (s *Server) Close() {
	s.stop()
	if s.hs != nil {
		s.hs.Close()
	}
}

// ServeHTTP implements http.Handler: the API under /v5/, the keyless credential
// endpoints (keyless.go) and the admin API under /_fake/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_fake/") {
		s.admin.ServeHTTP(w, r)
		return
	}
	if op := keylessOp(r.URL.Path); op != "" {
		s.serveKeyless(w, r, op)
		return
	}
	s.serveAPI(w, r)
}

// exchange is one API call being served.
type exchange struct {
	w     http.ResponseWriter
	r     *http.Request
	body  []byte
	route route
	call  Call
	fault *Fault
}

// serveAPI serves one call: route, read, delay, fault, throttle, authenticate, perform.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	x := &exchange{w: w, r: r, call: Call{
		Method: r.Method, Path: r.URL.Path, Time: s.now().UTC(),
		ClientToken: r.Header.Get(vpnapi.HeaderClientToken),
	}}
	res := s.handle(x)
	dropped := res.status == 0 || (x.fault != nil && x.fault.LoseResponse)
	x.call.Status, x.call.Code = res.status, res.code
	if dropped {
		x.call.Code = "dropped"
	}
	// Recorded before answering, so a client that has its answer finds its call logged.
	s.record(x.call)
	if dropped {
		abort(w)
		return
	}
	s.write(x, res)
}

func (s *Server) handle(x *exchange) result {
	rt, res := parseRoute(x.r)
	x.route = rt
	x.call.Operation, x.call.ProjectID, x.call.ServerID, x.call.UserID = rt.op, rt.projectID, rt.serverID, rt.userID
	if res != nil {
		return *res
	}
	body, res := readRequestBody(x.r)
	if res != nil {
		return *res
	}
	x.body = body
	if !s.pause(x.r.Context(), s.currentLatency()) {
		return result{} // the client left
	}
	if res := s.applyFault(x); res != nil {
		return *res
	}
	if !s.allow() {
		return throttled()
	}
	ak, res := s.authenticate(x.r, x.body, rt.projectID)
	x.call.AccessKey = ak
	if res != nil {
		return *res
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perform(x)
}

// applyFault applies an injected fault: a delay, a dropped connection or an error.
// A LoseResponse fault lets the call be performed; serveAPI drops the answer.
func (s *Server) applyFault(x *exchange) *result {
	f := s.takeFault(x.route.op)
	if f == nil {
		return nil
	}
	x.fault = f
	if !s.pause(x.r.Context(), f.Latency) {
		return &result{}
	}
	switch {
	case f.DropConnection:
		return &result{}
	case f.Status != 0:
		res := faultResult(*f)
		return &res
	}
	return nil
}

// perform runs the routed operation on the state; s.mu is held.
func (s *Server) perform(x *exchange) result {
	p := s.projects[x.route.projectID]
	srv, res := p.server(x.route.serverID)
	if res != nil {
		return *res
	}
	if x.route.op != vpnapi.OpShow && x.route.op != vpnapi.OpList {
		if res := srv.writable(); res != nil {
			return *res
		}
	}
	switch x.route.op {
	case vpnapi.OpCreate:
		return s.create(p, srv, x.call.ClientToken, x.body)
	case vpnapi.OpList:
		return s.list(srv, x.r.URL.Query())
	}
	u, res := srv.user(x.route.userID)
	if res != nil {
		return *res
	}
	switch x.route.op {
	case vpnapi.OpShow:
		return ok(http.StatusOK, map[string]any{keyUser: srv.view(u)})
	case vpnapi.OpUpdate:
		return s.update(srv, u, x.body)
	case vpnapi.OpDelete:
		return s.delete(srv, u)
	default:
		return s.resetPassword(u, x.body)
	}
}

func (p *project) server(id string) (*vpnServer, *result) {
	return lookupPath(p.servers, "vpn_server_id", "vpn server", id)
}

func (v *vpnServer) user(id string) (*storedUser, *result) {
	return lookupPath(v.byID, "user_id", "user", id)
}

// lookupPath finds the thing a UUID of the path names in byID (keyed by lower-case id);
// param is the path parameter and what the thing, as the error messages name them.
func lookupPath[T any](byID map[string]*T, param, what, id string) (*T, *result) {
	if err := vpnapi.ValidateUUID(id); err != nil {
		return nil, invalid("%s %s is not a UUID", param, quoteID(id))
	}
	v := byID[strings.ToLower(id)]
	if v == nil {
		res := notFound("%s %s not found", what, id)
		return nil, &res
	}
	return v, nil
}

// writable refuses writes on a server that cannot have local users now.
func (v *vpnServer) writable() *result {
	switch {
	case v.authType != AuthLocalPassword:
		return invalid("vpn server %s authenticates clients with %s, not LOCAL_PASSWORD", v.id, v.authType)
	case strings.HasPrefix(v.state, "PENDING"):
		res := apiError(http.StatusBadRequest, vpnapi.CodeBusy, "vpn server %s is %s, try again later", v.id, v.state)
		return &res
	case v.state != StateActive:
		res := apiError(http.StatusForbidden, vpnapi.CodeForbidden, "vpn server %s is %s, not ACTIVE", v.id, v.state)
		return &res
	}
	return nil
}

func (s *Server) currentLatency() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latency
}

// errPaused ends a pause that ran its full length.
var errPaused = errors.New("paused")

// pause waits d; false when the client left or the server closed first.
func (s *Server) pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	ctx, cancel := context.WithTimeoutCause(ctx, d, errPaused)
	defer cancel()
	defer context.AfterFunc(s.closed, cancel)()
	<-ctx.Done()
	return errors.Is(context.Cause(ctx), errPaused)
}

func (s *Server) allow() bool {
	s.mu.Lock()
	l := s.limiter
	s.mu.Unlock()
	return l == nil || l.Allow()
}

// SetLatency delays every later answer by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetQPS bounds the requests served per second (0 = unlimited).
func (s *Server) SetQPS(q float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setQPSLocked(q)
}

func (s *Server) setQPSLocked(q float64) {
	if q <= 0 {
		s.limiter = nil
		return
	}
	s.limiter = rate.NewLimiter(rate.Limit(q), max(1, int(q)))
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	if len(s.calls) >= maxCalls {
		s.calls = slices.Delete(s.calls, 0, maxCalls/10)
	}
	s.calls = append(s.calls, c)
	byStatus := s.stats[c.Operation]
	if byStatus == nil {
		byStatus = map[int]int{}
		s.stats[c.Operation] = byStatus
	}
	byStatus[c.Status]++
	s.countKeylessLocked(c)
	s.mu.Unlock()
	if s.logf != nil {
		s.logf("Handled call method=%s path=%s operation=%s status=%d code=%s accessKey=%s",
			c.Method, c.Path, c.Operation, c.Status, c.Code, c.AccessKey)
	}
}

// requestID makes a request id of 32 hex digits, unique within the process.
func (s *Server) requestID() string {
	s.mu.Lock()
	s.requestSeq++
	seq := s.requestSeq
	s.mu.Unlock()
	return fmt.Sprintf("%016x%016x", s.requestBase, seq)
}

// abort drops the connection without an answer.
func abort(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func quoteID(id string) string {
	if len(id) > 64 {
		id = id[:64] + "..."
	}
	return fmt.Sprintf("%q", id)
}
