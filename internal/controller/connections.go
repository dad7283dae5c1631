/*
Copyright 2026 The vpnuser-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package controller

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"k8s.io/client-go/rest"
)

// dedicatedHTTPClient returns an HTTP client of cfg with a connection to the API server
// of its own.
//
// client-go sends every request of one configuration over a single HTTP/2 connection,
// and kube-apiserver serves each connection's streams through one loop. Left shared, the
// informers' watch streams queue behind the reconcilers' writes on that loop: under a
// burst of creates the operator learnt of new VpnUsers late, and most of its work came
// after the burst instead of alongside it (the figures are in hack/bench/README.md). So the cache (lists and watches) and the client
// (writes) each get a connection of their own, and the rest (uncached Secret reads,
// Events, leader election, discovery) keeps the shared one: three connections in all.
//
// client-go's transport cache hands out one transport per TLS configuration; a Dial of
// the config's own (client-go's default dialer, otherwise) puts the copy's transport
// outside that cache (rest.Config.TransportConfig wraps it in a new DialHolder each
// time), so the transport, and its connection, is this client's alone. Authentication,
// TLS, timeouts and the HTTP/2 health checks are those of cfg.
func dedicatedHTTPClient(cfg *rest.Config) (*http.Client, error) {
	own := rest.CopyConfig(cfg)
	if own.Dial == nil {
		own.Dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	hc, err := rest.HTTPClientFor(own)
	if err != nil {
		return nil, fmt.Errorf("building an HTTP client for the API server: %w", err)
	}
	return hc, nil
}
