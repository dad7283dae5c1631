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
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
)

// The cache and the client each talk to the API server over a connection of their own;
// everything else built from the same configuration shares a third.
func TestCacheAndClientHaveConnectionsOfTheirOwn(t *testing.T) {
	var mu sync.Mutex
	conns, protos := 0, map[string]int{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protos[r.Proto]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.StartTLS()
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{
		CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}),
	}}

	clientOpts, err := ClientOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cacheOpts, err := CacheOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var clients []*http.Client
	for range 2 { // the manager's shared client, asked for twice, as controller-runtime does
		shared, err := rest.HTTPClientFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, shared)
	}
	clients = append(clients, clientOpts.HTTPClient, cacheOpts.HTTPClient, clientOpts.HTTPClient, cacheOpts.HTTPClient)
	for _, c := range clients {
		resp, err := c.Get(srv.URL + "/api")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 3 {
		t.Errorf("connections to the API server: got %d, want 3 (shared, client, cache)", conns)
	}
	if protos["HTTP/2.0"] != len(clients) {
		t.Errorf("requests by protocol: got %v, want all %d over HTTP/2", protos, len(clients))
	}
}
