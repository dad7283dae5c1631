package vpnapi

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
)

// AllowInsecureEndpointFlag is the command-line flag that accepts an http:// endpoint on
// a host other than this machine.
const AllowInsecureEndpointFlag = "--allow-insecure-endpoint"

// CheckEndpoint checks that an endpoint (Config.Endpoint; "" for the default https one of
// the region) keeps secrets off the wire: https, or http to a loopback address
// (127.0.0.0/8, ::1, localhost), as a local fake uses. Any other http endpoint is refused,
// since passwords and security tokens would travel in clear, unless allowInsecure (the
// flag --allow-insecure-endpoint) is set: then it is accepted with a warning to log. An
// endpoint that is not a valid one (see Config.Endpoint) is an error. No message quotes
// the endpoint.
func CheckEndpoint(endpoint string, allowInsecure bool) (warning string, err error) {
	if endpoint == "" {
		return "", nil
	}
	u, err := endpointURL("", endpoint)
	if err != nil {
		return "", err
	}
	if u.Scheme == "https" || isLoopbackHost(u.Hostname()) {
		return "", nil
	}
	if !allowInsecure {
		return "", errors.New("vpn api: config: the endpoint uses http:// to a host that is not a loopback address: " +
			"passwords and security tokens would travel in clear over the network; use https://, or set " +
			AllowInsecureEndpointFlag + " to accept it")
	}
	return "the endpoint uses http:// to a host that is not a loopback address (" + AllowInsecureEndpointFlag +
		" is set): passwords and security tokens travel in clear over the network", nil
}

// EndpointURL is the base URL a Client of region and endpoint (Config.Region and
// Config.Endpoint) sends its requests to, checked as New checks it; no message quotes the
// endpoint. It lets a caller probe the endpoint (preflight) before making a Client.
func EndpointURL(region, endpoint string) (*url.URL, error) {
	return endpointURL(region, endpoint)
}

// isLoopbackHost reports whether host (a URL's host name, without port or brackets) is
// this machine: "localhost" or a loopback address. Other names are not resolved: what they
// resolve to may change.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}
