// Package vpnapi is a client for Huawei Cloud's P2C VPN user API (v5): the six user
// operations, SDK-HMAC-SHA256 request signing, typed errors, client-side rate limiting,
// bounded retries and Prometheus metrics. It imports nothing from Kubernetes.
//
// The contract it speaks is API.md, beside this file; the package vpnapitest holds a fake
// cloud that enforces the same contract over real HTTP.
package vpnapi
