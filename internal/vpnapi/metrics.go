package vpnapi

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// codeNetworkError is the code label of an attempt that got no HTTP status.
const codeNetworkError = "network_error"

const (
	labelOperation = "operation"
	labelProject   = "project"
)

// Metrics are the Prometheus metrics of the cloud client. A nil *Metrics records nothing.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	retries  *prometheus.CounterVec
	// rateLimit and rateDecreases are published by the Limiters bound to these Metrics.
	rateLimit     *prometheus.GaugeVec
	rateDecreases *prometheus.CounterVec
	// calls counts the attempts by result class (see resultOf).
	calls *prometheus.CounterVec
	// throttleWait and throttled count the waits of the client-side rate limiter.
	throttleWait *prometheus.CounterVec
	throttled    *prometheus.CounterVec

	// reg registers, on first use, the metrics of the keyless credentials.
	reg   prometheus.Registerer
	creds credentialsMetrics
}

// Result classes of vpnapi_calls_total.
const (
	ResultOK        = "ok"
	ResultThrottled = "throttled"
	ResultRetryable = "retryable"
	ResultTerminal  = "terminal"
)

// NewMetrics creates the metrics and registers them with reg (controller-runtime's
// metrics.Registry in the operator; nil registers nothing). Several clients may share one
// Metrics; calling NewMetrics twice with one registry reuses what is registered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnapi_requests_total",
			Help: "Attempts of requests to the VPN API, by operation and HTTP status (or network_error).",
		}, []string{labelOperation, "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vpnapi_request_duration_seconds",
			Help:    "Duration of one attempt of a request to the VPN API, by operation.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{labelOperation}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnapi_retries_total",
			Help: "Attempts of requests to the VPN API that repeated a failed attempt, by operation.",
		}, []string{labelOperation}),
		rateLimit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vpnapi_rate_limit_qps",
			Help: "Effective rate of the client-side rate limiter of a cloud project, in requests per second: " +
				"the configured rate, or less while the cloud throttles the project.",
		}, []string{labelProject}),
		rateDecreases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnapi_rate_limit_decreases_total",
			Help: "Decreases of the rate of the client-side rate limiter of a cloud project after a throttling (429) of the cloud.",
		}, []string{labelProject}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnapi_calls_total",
			Help: "Attempts of requests to the VPN API, by operation and result: ok (2xx), throttled (429 or APIGW.0308), " +
				"retryable (5xx, a busy or repeated request, a network error or timeout), terminal (any other 4xx).",
		}, []string{labelOperation, "result"}),
		throttleWait: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnapi_throttle_wait_seconds_total",
			Help: "Time requests to a cloud project were delayed by the operator's own client-side rate limiter, in seconds: " +
				"waits for a token, and the time to the turn of a request deferred to the project's queue.",
		}, []string{labelProject}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnapi_throttled_requests_total",
			Help: "Requests to a cloud project delayed by the operator's own client-side rate limiter (waited for a token, " +
				"or deferred to a turn in the project's queue); requests sent at once are not counted.",
		}, []string{labelProject}),
	}
	m.reg = reg
	if reg != nil {
		m.requests = register(reg, m.requests)
		m.duration = register(reg, m.duration)
		m.retries = register(reg, m.retries)
		m.rateLimit = register(reg, m.rateLimit)
		m.rateDecreases = register(reg, m.rateDecreases)
		m.calls = register(reg, m.calls)
		m.throttleWait = register(reg, m.throttleWait)
		m.throttled = register(reg, m.throttled)
	}
	return m
}

// register registers c, or returns the collector already registered under its name.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err)
}

// observe records one attempt: status 0 means no HTTP answer; err is the error of a
// non-2xx answer (nil otherwise).
func (m *Metrics) observe(op string, status int, err *APIError, d time.Duration) {
	if m == nil {
		return
	}
	code := codeNetworkError
	if status != 0 {
		code = strconv.Itoa(status)
	}
	m.requests.WithLabelValues(op, code).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
	m.calls.WithLabelValues(op, resultOf(status, err)).Inc()
}

// resultOf is the result class of an attempt (see vpnapi_calls_total).
func resultOf(status int, err *APIError) string {
	switch {
	case status == 0:
		return ResultRetryable
	case status >= 200 && status < 300:
		return ResultOK
	case err != nil && cloudThrottled(err):
		return ResultThrottled
	case status == 429:
		return ResultThrottled
	case status >= 500 || (err != nil && IsRetryable(err)):
		return ResultRetryable
	}
	return ResultTerminal
}

func (m *Metrics) retried(op string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(op).Inc()
}

// limiter gives the series of the Limiter of a project (m is not nil).
func (m *Metrics) limiter(project string) limiterSeries {
	return limiterSeries{rate: m.rateLimit.WithLabelValues(project), decreases: m.rateDecreases.WithLabelValues(project),
		waitSeconds: m.throttleWait.WithLabelValues(project), waited: m.throttled.WithLabelValues(project)}
}

// limiterSeries are the series of one Limiter; all nil until it is bound to Metrics.
type limiterSeries struct {
	rate                prometheus.Gauge
	decreases           prometheus.Counter
	waitSeconds, waited prometheus.Counter
}

// The metrics of the keyless credentials (#23), in a block of their own.
const labelSource = "source"

var (
	credentialsExpiryDesc = prometheus.GaugeOpts{
		Name: "vpnapi_credentials_expiry_timestamp_seconds",
		Help: "Expiry of the temporary cloud credentials in use, as a Unix time, by keyless source " +
			"(pod-identity, oidc, metadata): alert when time() comes near it.",
	}
	credentialsRefreshesDesc = prometheus.CounterOpts{
		Name: "vpnapi_credentials_refreshes_total",
		Help: "Fetches of temporary cloud credentials from a keyless source, by source and result (success, failure).",
	}
)

// credentialsMetrics are the series of the keyless credentials; the Refreshers bound to
// the Metrics publish them.
type credentialsMetrics struct {
	once      sync.Once
	expiry    *prometheus.GaugeVec
	refreshes *prometheus.CounterVec
}

// credentials registers the credentials metrics with the registry of m on first use.
func (m *Metrics) credentials() *credentialsMetrics {
	m.creds.once.Do(func() {
		m.creds.expiry = prometheus.NewGaugeVec(credentialsExpiryDesc, []string{labelSource})
		m.creds.refreshes = prometheus.NewCounterVec(credentialsRefreshesDesc, []string{labelSource, "result"})
		if m.reg != nil {
			m.creds.expiry = register(m.reg, m.creds.expiry)
			m.creds.refreshes = register(m.reg, m.creds.refreshes)
		}
	})
	return &m.creds
}

func (m *Metrics) credentialsRefreshed(source string, ok bool) {
	if m == nil {
		return
	}
	result := "success"
	if !ok {
		result = "failure"
	}
	m.credentials().refreshes.WithLabelValues(source, result).Inc()
}

func (m *Metrics) credentialsExpiry(source string, expiry time.Time) {
	if m == nil {
		return
	}
	m.credentials().expiry.WithLabelValues(source).Set(float64(expiry.Unix()))
}
