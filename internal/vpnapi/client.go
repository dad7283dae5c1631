package vpnapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Operation names, as used in APIError.Operation, metrics labels and the fake's call log.
const (
	OpCreate        = "create"
	OpShow          = "show"
	OpList          = "list"
	OpUpdate        = "update"
	OpDelete        = "delete"
	OpResetPassword = "reset_password"
)

// Defaults of Config.
const (
	DefaultQPS            = 10
	DefaultBurst          = 20
	DefaultTimeout        = 30 * time.Second
	DefaultMaxRetries     = 4
	DefaultUserAgent      = "vpnuser-operator/dev"
	DefaultPageSize       = 100
	MaxPageSize           = 500
	DefaultRetryBaseDelay = 250 * time.Millisecond
	DefaultRetryMaxDelay  = 5 * time.Second
)

const (
	maxResponseSize = 4 << 20
	maxListPages    = 1000
	contentTypeJSON = "application/json;charset=UTF-8"
)

// Config configures a Client.
type Config struct {
	// Region is the cloud region, e.g. ap-southeast-1; it names the default endpoint.
	Region string
	// Endpoint overrides "https://vpn."+Region+".myhuaweicloud.com"; http:// is allowed
	// (a local fake). It may carry a path prefix. CheckEndpoint tells whether one given by
	// a user keeps passwords and tokens off the wire in clear.
	Endpoint string
	// Credentials sign every attempt; they are asked for before each one.
	Credentials CredentialsProvider
	// QPS and Burst set a client-side rate limiter shared by all callers of the Client.
	// QPS <= 0 means no limit; Burst <= 0 means DefaultBurst. DefaultQPS is a sensible QPS.
	QPS   float64
	Burst int
	// Limiter, when set, is used instead of one made from QPS and Burst (with
	// DefaultLimiterMaxWait), so that several clients can share one: the clients of one
	// cloud project share its Limiter.
	Limiter *Limiter
	// Timeout bounds each attempt; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxRetries bounds the attempts after the first; 0 means DefaultMaxRetries, < 0 none.
	MaxRetries int
	// RetryBaseDelay and RetryMaxDelay bound the jittered exponential back-off between
	// attempts (0 means the defaults). A Retry-After longer than RetryMaxDelay is not
	// waited for: the error is returned, for the caller to come back later.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// PageSize is the limit of each list page, 1 to 500; 0 means DefaultPageSize.
	PageSize int
	// UserAgent is sent (and signed) with every request; "" means DefaultUserAgent.
	UserAgent string
	// HTTPClient sends the requests; nil means a client that does not follow redirects.
	HTTPClient *http.Client
	// Metrics, when set, records every attempt.
	Metrics *Metrics
	// Now gives the time of X-Sdk-Date; nil means time.Now.
	Now func() time.Time
}

// Client calls the VPN user API of one endpoint. It is safe for concurrent use.
type Client struct {
	base       *url.URL
	creds      CredentialsProvider
	limiter    *Limiter
	http       *http.Client
	timeout    time.Duration
	maxRetries int
	baseDelay  time.Duration
	maxDelay   time.Duration
	pageSize   int
	userAgent  string
	metrics    *Metrics
	now        func() time.Time
	// stdTransport tells that requests go through a net/http Transport, which reports
	// every connection it gives a request to (httptrace.ClientTrace.GotConn).
	stdTransport bool
}

// New checks cfg and makes a Client.
func New(cfg Config) (*Client, error) {
	base, err := endpointURL(cfg.Region, cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if cfg.Credentials == nil {
		return nil, errors.New("vpn api: config: no credentials provider")
	}
	if cfg.PageSize < 0 || cfg.PageSize > MaxPageSize {
		return nil, fmt.Errorf("vpn api: config: page size %d is not within 1 to %d", cfg.PageSize, MaxPageSize)
	}
	if cfg.Timeout < 0 || cfg.RetryBaseDelay < 0 || cfg.RetryMaxDelay < 0 {
		return nil, errors.New("vpn api: config: timeout and retry delays must not be negative")
	}
	c := &Client{
		base:       base,
		creds:      cfg.Credentials,
		limiter:    cfg.Limiter,
		http:       cfg.HTTPClient,
		timeout:    orDefault(cfg.Timeout, DefaultTimeout),
		maxRetries: cfg.MaxRetries,
		baseDelay:  orDefault(cfg.RetryBaseDelay, DefaultRetryBaseDelay),
		maxDelay:   orDefault(cfg.RetryMaxDelay, DefaultRetryMaxDelay),
		pageSize:   orDefault(cfg.PageSize, DefaultPageSize),
		userAgent:  orDefault(cfg.UserAgent, DefaultUserAgent),
		metrics:    cfg.Metrics,
		now:        cfg.Now,
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.limiter == nil && cfg.QPS > 0 {
		c.limiter = NewLimiter(cfg.QPS, orDefault(cfg.Burst, DefaultBurst), 0)
	}
	if c.http == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		// Every request goes to one host: keep enough idle connections for the workers.
		transport.MaxIdleConnsPerHost = 32
		c.http = &http.Client{
			Transport: transport,
			// A redirect would send the signed request elsewhere: report it instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.now == nil {
		c.now = time.Now
	}
	rt := c.http.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	_, c.stdTransport = rt.(*http.Transport)
	return c, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// endpointURL gives the base URL of the API, checked.
func endpointURL(region, endpoint string) (*url.URL, error) {
	if endpoint == "" {
		if region == "" {
			return nil, errors.New("vpn api: config: neither a region nor an endpoint")
		}
		isRegionChar := func(c byte) bool { return isLetterOrDigit(c) || c == '-' }
		for i := 0; i < len(region); i++ {
			if !isRegionChar(region[i]) {
				return nil, fmt.Errorf("vpn api: config: region may contain only letters, digits and '-': %s",
					describeValue(region, isRegionChar, "letters, digits or '-'"))
			}
		}
		endpoint = "https://vpn." + region + ".myhuaweicloud.com"
	}
	// The messages below never quote the endpoint: what was given may hold user info, or
	// be a key set in the wrong variable.
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("vpn api: config: endpoint is not a URL such as https://vpn.example.com (%s)",
			describeValue(endpoint, func(byte) bool { return true }, ""))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("vpn api: config: endpoint must start with https:// or http://, as https://vpn.example.com does")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("vpn api: config: endpoint has no host, as in https://vpn.example.com")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("vpn api: config: endpoint must not carry user info, a query or a fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// CreateUser creates a user on a VPN server and returns its id. clientToken (the
// X-Client-Token, a UUID) makes the create idempotent; only a create with a token is
// retried.
func (c *Client) CreateUser(ctx context.Context, serverID string, req CreateUserRequest, clientToken string) (string, error) {
	body := mustMarshal(createUserBody{User: createUserFields{
		Name:        req.Name,
		Password:    req.Password.Reveal(),
		Description: req.Description,
		UserGroupID: req.UserGroupID,
	}})
	ans, err := c.do(ctx, request{
		op: OpCreate, method: http.MethodPost, serverID: serverID, body: body,
		clientToken: clientToken, secrets: []Secret{req.Password}, retry: clientToken != "",
	})
	if err != nil {
		return "", err
	}
	var r userResponse
	if err := ans.decode(&r); err != nil {
		return "", err
	}
	if r.User.ID == "" {
		return "", ans.malformed(errors.New("no user id"))
	}
	return r.User.ID, nil
}

// GetUser shows a user; a user that does not exist gives an error for which IsNotFound
// is true.
func (c *Client) GetUser(ctx context.Context, serverID, userID string) (*User, error) {
	ans, err := c.do(ctx, request{op: OpShow, method: http.MethodGet, serverID: serverID, userID: userID, retry: true})
	if err != nil {
		return nil, err
	}
	return ans.user()
}

// ListUsers lists every user of a VPN server, following page_info.next_marker.
func (c *Client) ListUsers(ctx context.Context, serverID string) ([]User, error) {
	users := []User{}
	seen := map[string]bool{}
	marker := ""
	for range maxListPages {
		q := url.Values{"limit": {strconv.Itoa(c.pageSize)}}
		if marker != "" {
			q.Set("marker", marker)
		}
		ans, err := c.do(ctx, request{op: OpList, method: http.MethodGet, serverID: serverID, query: q, retry: true})
		if err != nil {
			return nil, err
		}
		var page listResponse
		if err := ans.decode(&page); err != nil {
			return nil, err
		}
		for _, w := range page.Users {
			if !seen[w.ID] {
				seen[w.ID] = true
				users = append(users, w.user())
			}
		}
		next := page.PageInfo.NextMarker
		if next == "" || next == marker || len(page.Users) == 0 {
			return users, nil
		}
		marker = next
	}
	return nil, &TransportError{Operation: OpList, Err: fmt.Errorf("more than %d pages", maxListPages)}
}

// UpdateUser changes the description and/or the group of a user; a nil field is left
// as it is. It returns the user as the cloud shows it afterwards.
func (c *Client) UpdateUser(ctx context.Context, serverID, userID string, req UpdateUserRequest) (*User, error) {
	body := mustMarshal(updateUserBody{User: updateUserFields(req)})
	ans, err := c.do(ctx, request{
		op: OpUpdate, method: http.MethodPut, serverID: serverID, userID: userID, body: body, retry: true,
	})
	if err != nil {
		return nil, err
	}
	u, err := ans.user()
	if err == nil || !errors.Is(err, errNoUser) {
		return u, err
	}
	// The update answered without echoing the user: read it. The update was performed,
	// whatever the read gives.
	u, err = c.GetUser(ctx, serverID, userID)
	return u, ans.applied.mark(err)
}

// DeleteUser deletes a user. A user that does not exist gives an error for which
// IsNotFound is true, except on a retry, where it means an earlier attempt succeeded.
func (c *Client) DeleteUser(ctx context.Context, serverID, userID string) error {
	_, err := c.do(ctx, request{
		op: OpDelete, method: http.MethodDelete, serverID: serverID, userID: userID,
		retry: true, goneOnRetryIsDone: true,
	})
	return err
}

// ResetPassword sets a new password. It is never retried: a reset that reached the cloud
// makes the same reset fail (a new password must differ from the last five).
func (c *Client) ResetPassword(ctx context.Context, serverID, userID string, newPassword Secret) error {
	body := mustMarshal(resetPasswordBody{NewPassword: newPassword.Reveal()})
	_, err := c.do(ctx, request{
		op: OpResetPassword, method: http.MethodPost, serverID: serverID, userID: userID,
		suffix: "reset-password", body: body, secrets: []Secret{newPassword},
	})
	return err
}

// request is one operation, sent in one or more attempts.
type request struct {
	op          string
	method      string
	serverID    string
	userID      string // "" for the collection
	suffix      string // after the user id
	query       url.Values
	body        []byte
	clientToken string
	// secrets are scrubbed from any error message, should a server echo one.
	secrets []Secret
	retry   bool
	// goneOnRetryIsDone makes a 404 on a retry a success (delete).
	goneOnRetryIsDone bool
}

// answer is a 2xx answer.
type answer struct {
	op     string
	status int
	body   []byte
	// applied holds the attempts the cloud may have performed, this one included, for
	// the error of an answer that cannot be read.
	applied ambiguity
}

var errNoUser = errors.New("no user in answer")

func (a *answer) decode(v any) error {
	if err := json.Unmarshal(a.body, v); err != nil {
		return a.malformed(err)
	}
	return nil
}

func (a *answer) user() (*User, error) {
	var r userResponse
	if err := a.decode(&r); err != nil {
		return nil, err
	}
	if r.User.ID == "" {
		return nil, a.malformed(errNoUser)
	}
	u := r.User.user()
	return &u, nil
}

// malformed reports a 2xx answer the client cannot read; the body is described, never
// copied (encoding/json errors quote at most one character of it).
func (a *answer) malformed(err error) error {
	return a.applied.mark(&TransportError{Operation: a.op,
		Err: fmt.Errorf("malformed %d answer of %d bytes: %w", a.status, len(a.body), err)})
}

// do sends r, retrying it when allowed, with a jittered exponential back-off. An error
// of a call one of whose attempts the cloud may have performed is marked so (see
// MayHaveBeenApplied), whatever the last attempt got.
func (c *Client) do(ctx context.Context, r request) (*answer, error) {
	if err := r.checkIDs(); err != nil {
		return nil, err
	}
	var applied ambiguity
	renewed := false
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			c.metrics.retried(r.op)
		}
		ans, sent, err := c.attempt(ctx, r)
		applied.add(sent)
		if err == nil {
			ans.applied = applied
			return ans, nil
		}
		if exp, ok := c.creds.(expirer); ok && !renewed && IsCredentialsExpired(err) {
			// The cloud refused the temporary credentials as expired (a 401 is never
			// performed, so any call may be sent again): new ones, and one more attempt.
			renewed = true
			exp.Expired(sent.accessKey)
			attempt--
			continue
		}
		if attempt > 0 && r.goneOnRetryIsDone && IsNotFound(err) {
			return &answer{op: r.op, status: http.StatusNotFound, applied: applied}, nil
		}
		if !r.retry || attempt >= c.maxRetries || !IsRetryable(err) || ctx.Err() != nil {
			return nil, applied.mark(err)
		}
		delay, ok := c.backoff(attempt, err)
		if !ok || !fitsDeadline(ctx, delay) {
			return nil, applied.mark(err)
		}
		if !sleep(ctx, delay) {
			return nil, applied.mark(err)
		}
	}
}

// checkIDs refuses ids that would change the meaning of the path.
func (r *request) checkIDs() error {
	if err := checkPathID("vpn server id", r.serverID); err != nil {
		return err
	}
	if r.op == OpCreate || r.op == OpList {
		return nil
	}
	return checkPathID("user id", r.userID)
}

func checkPathID(field, id string) error {
	switch id {
	case "":
		return &FieldError{Field: field, Reason: "must not be empty"}
	case ".", "..":
		return &FieldError{Field: field, Reason: "must not be a dot segment"}
	}
	return nil
}

// backoff gives the delay before the next attempt, and false when the server asked for
// a longer wait than the client is willing to make.
func (c *Client) backoff(attempt int, err error) (time.Duration, bool) {
	var ae *APIError
	if errors.As(err, &ae) && ae.Code == CodeClientThrottled {
		return 0, false
	}
	d := c.baseDelay << min(attempt, 20)
	if d <= 0 || d > c.maxDelay {
		d = c.maxDelay
	}
	d = d/2 + rand.N(d/2+1)
	if ra := RetryAfter(err); ra > 0 {
		if ra > c.maxDelay {
			return 0, false
		}
		d = max(d, ra)
	}
	return d, true
}

func fitsDeadline(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > d
}

// sleep waits d, or until ctx is done (then false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// sending tells whether the cloud may have performed one attempt, and when it was sent.
type sending struct {
	// maybe is true when the request was sent and not refused with a 4xx: answered 2xx,
	// 5xx or anything else, or not answered (or not completely).
	maybe bool
	// at is the time the request was given to a connection: just before it was written.
	at time.Time
	// accessKey is the access key the attempt was signed with, "" when it was not sent.
	accessKey string
}

// attempt sends r once: credentials, rate limiter, a fresh signature, a bounded wait. It
// tells whether the cloud may have performed it; an attempt that fails before the
// request is sent (credentials, rate limiter, building or signing it) was not.
func (c *Client) attempt(ctx context.Context, r request) (*answer, sending, error) {
	creds, err := c.credentials(ctx, r.op)
	if err != nil {
		return nil, sending{}, err
	}
	if err := c.wait(ctx, r.op); err != nil {
		return nil, sending{}, err
	}
	if _, temporary := c.creds.(expirer); temporary {
		// The limiter may have made the attempt wait: sign with credentials valid now.
		if creds, err = c.credentials(ctx, r.op); err != nil {
			return nil, sending{}, err
		}
	}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tr := &connTrace{now: c.now}
	req, err := c.newRequest(httptrace.WithClientTrace(actx, tr.clientTrace()), creds, r)
	if err != nil {
		return nil, sending{}, err
	}
	start := time.Now()
	tr.start()
	resp, err := c.http.Do(req)
	if err != nil {
		c.metrics.observe(r.op, 0, nil, time.Since(start))
		return nil, sending{maybe: !c.neverSent(tr, err), at: tr.sentAt(), accessKey: creds.AccessKey},
			&TransportError{Operation: r.op, Err: err}
	}
	sent := sending{maybe: resp.StatusCode < 400 || resp.StatusCode >= 500, at: tr.sentAt(), accessKey: creds.AccessKey}
	body, readErr := readBody(resp)
	elapsed := time.Since(start)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		c.metrics.observe(r.op, resp.StatusCode, nil, elapsed)
		c.limiter.observe(start, false, c.metrics, creds.ProjectID)
		if readErr != nil {
			return nil, sent, &TransportError{Operation: r.op, Err: fmt.Errorf("read %d answer: %w", resp.StatusCode, readErr)}
		}
		return &answer{op: r.op, status: resp.StatusCode, body: body}, sent, nil
	}
	apiErr := ParseError(r.op, resp.StatusCode, resp.Header, body, c.now())
	c.metrics.observe(r.op, resp.StatusCode, apiErr, elapsed)
	c.limiter.observe(start, cloudThrottled(apiErr), c.metrics, creds.ProjectID)
	apiErr.Message = scrub(apiErr.Message, r.secrets, creds.SecretKey, creds.SecurityToken)
	return nil, sent, apiErr
}

// neverSent reports whether a request whose Do failed with err provably never left the
// client: it failed to dial (a refused connection, an unknown host, a dial timeout) and
// never got a connection. Only a net/http Transport is known to report every connection
// it gives a request to, including those of its own silent retries; with any other
// RoundTripper (Config.HTTPClient), a dial error may follow an attempt that was written,
// so every failure counts as maybe performed. So does any other failure (a proxy or TLS
// error, a timeout, a reset or closed connection): the request may have been written.
func (c *Client) neverSent(tr *connTrace, err error) bool {
	if !c.stdTransport || tr.gotConn() {
		return false
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// connTrace follows the connections net/http gives one request.
type connTrace struct {
	now func() time.Time

	mu      sync.Mutex
	started time.Time
	conn    time.Time // the first connection obtained, zero if none
	got     bool
}

func (t *connTrace) clientTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) {
		at := t.now()
		t.mu.Lock()
		defer t.mu.Unlock()
		if !t.got {
			t.got, t.conn = true, at
		}
	}}
}

// start records the time the request is handed to the HTTP client.
func (t *connTrace) start() {
	at := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.started = at
}

func (t *connTrace) gotConn() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.got
}

// sentAt is the time the request was first given a connection, just before it was
// written, or, with a transport that does not report connections, the time it was handed
// to the HTTP client.
func (t *connTrace) sentAt() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.got {
		return t.conn
	}
	return t.started
}

func (c *Client) credentials(ctx context.Context, op string) (Credentials, error) {
	creds, err := c.creds.Credentials(ctx)
	if err != nil {
		return Credentials{}, fmt.Errorf("vpn api: %s: %w", operationTitle(op), err)
	}
	if err := creds.validate(); err != nil {
		return Credentials{}, fmt.Errorf("vpn api: %s: %w", operationTitle(op), err)
	}
	return creds, nil
}

// wait takes a token of the rate limiter, waiting for it at most the limiter's maxWait
// (however long ctx allows for a call marked by WithTurn). A call that would wait longer
// is deferred to a turn, and one that could not be sent before the deadline of ctx is
// refused: both get a client-side throttling, with the time to come back as RetryAfter
// (see Deferred); nothing is sent.
func (c *Client) wait(ctx context.Context, op string) error {
	if c.limiter == nil || usePrepaid(ctx) {
		return nil
	}
	return c.limiter.wait(ctx, op)
}

// newRequest builds and signs one attempt of r.
func (c *Client) newRequest(ctx context.Context, creds Credentials, r request) (*http.Request, error) {
	u := *c.base
	segments := []string{"v5", creds.ProjectID, "p2c-vpn-gateways", "vpn-servers", r.serverID, "users"}
	if r.userID != "" {
		segments = append(segments, r.userID)
	}
	if r.suffix != "" {
		segments = append(segments, r.suffix)
	}
	escaped := make([]string, len(segments))
	for i, s := range segments {
		escaped[i] = url.PathEscape(s)
	}
	basePath := u.EscapedPath()
	u.Path = u.Path + "/" + strings.Join(segments, "/")
	u.RawPath = basePath + "/" + strings.Join(escaped, "/")
	u.RawQuery = r.query.Encode()

	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, &TransportError{Operation: r.op, Err: errors.New("cannot build the request URL")}
	}
	signed := []string{signedUserAgent, signedProjectID, signedSdkDate}
	req.Header.Set(headerUserAgent, c.userAgent)
	req.Header.Set(HeaderSdkDate, c.now().UTC().Format(SdkDateFormat))
	req.Header.Set(HeaderProjectID, creds.ProjectID)
	if r.clientToken != "" {
		req.Header.Set(HeaderClientToken, r.clientToken)
		signed = append(signed, signedClientToken)
	}
	if !creds.SecurityToken.IsEmpty() {
		req.Header.Set(HeaderSecurityToken, creds.SecurityToken.Reveal())
		signed = append(signed, signedSecurityToken)
	}
	if r.body != nil {
		req.Header.Set(headerContentType, contentTypeJSON)
	}
	if err := SignRequest(req, r.body, creds.AccessKey, creds.SecretKey, signed); err != nil {
		return nil, &TransportError{Operation: r.op, Err: err}
	}
	return req, nil
}

// readBody reads a bounded answer; a truncated one gives what arrived and an error.
func readBody(resp *http.Response) ([]byte, error) {
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize+1))
	if err != nil {
		return b, err
	}
	if len(b) > maxResponseSize {
		return nil, fmt.Errorf("answer larger than %d bytes", maxResponseSize)
	}
	return b, nil
}

// scrub replaces any secret value found in s, should a server echo one.
func scrub(s string, secrets []Secret, more ...Secret) string {
	for _, sec := range append(append([]Secret(nil), secrets...), more...) {
		if v := sec.Reveal(); len(v) >= 4 {
			s = strings.ReplaceAll(s, v, redacted)
		}
	}
	return s
}
