package vpnapi

import (
	"strings"
	"testing"
)

func TestCheckEndpoint(t *testing.T) {
	tests := []struct {
		endpoint      string
		allowInsecure bool
		warning       bool
		err           string // a part of the error, "" for none
	}{
		{endpoint: ""},
		{endpoint: "https://vpn.ap-southeast-1.myhuaweicloud.com"},
		{endpoint: "https://vpn.example.com:8443/prefix/"},
		{endpoint: "https://10.0.0.5"},
		{endpoint: "http://127.0.0.1:8080"},
		{endpoint: "http://127.9.8.7"},
		{endpoint: "http://[::1]:8080/fake"},
		{endpoint: "http://[::ffff:127.0.0.1]:8080"},
		{endpoint: "http://localhost:8080"},
		{endpoint: "http://LocalHost."},
		{endpoint: "http://127.0.0.1:8080", allowInsecure: true},
		{endpoint: "http://vpn.example.com", err: "--allow-insecure-endpoint"},
		{endpoint: "http://vpn.example.com", err: "passwords and security tokens would travel in clear"},
		{endpoint: "http://10.0.0.5:8080", err: "not a loopback address"},
		{endpoint: "http://[::2]", err: "not a loopback address"},
		{endpoint: "http://128.0.0.1", err: "not a loopback address"},
		{endpoint: "http://localhost.example.com", err: "not a loopback address"},
		{endpoint: "http://127.0.0.1.example.com", err: "not a loopback address"},
		{endpoint: "http://vpn.example.com", allowInsecure: true, warning: true},
		{endpoint: "http://10.0.0.5:8080/prefix", allowInsecure: true, warning: true},
		{endpoint: "ftp://vpn.example.com", allowInsecure: true, err: "https://"},
		{endpoint: "vpn.example.com:443", err: "must start with https://"},
		{endpoint: "10.0.0.5:443", err: "not a URL"},
		{endpoint: "http://%zz", allowInsecure: true, err: "not a URL"},
		{endpoint: "http://", allowInsecure: true, err: "no host"},
		{endpoint: "https://user:pw@vpn.example.com", err: "user info"},
		{endpoint: "http://vpn.example.com?x=1", allowInsecure: true, err: "query"},
	}
	for _, tt := range tests {
		warning, err := CheckEndpoint(tt.endpoint, tt.allowInsecure)
		if tt.err == "" && err != nil {
			t.Errorf("CheckEndpoint(%q, %v) = %v", tt.endpoint, tt.allowInsecure, err)
			continue
		}
		if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("CheckEndpoint(%q, %v) = %v, want an error about %q", tt.endpoint, tt.allowInsecure, err, tt.err)
			continue
		}
		if err != nil && warning != "" {
			t.Errorf("CheckEndpoint(%q, %v): a warning with an error", tt.endpoint, tt.allowInsecure)
		}
		if (warning != "") != tt.warning {
			t.Errorf("CheckEndpoint(%q, %v) warning %q, want one: %v", tt.endpoint, tt.allowInsecure, warning, tt.warning)
		}
		if tt.warning && (!strings.Contains(warning, "in clear") || !strings.Contains(warning, AllowInsecureEndpointFlag)) {
			t.Errorf("warning %q", warning)
		}
	}
}
