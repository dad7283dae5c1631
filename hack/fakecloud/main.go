// Command fakecloud serves the fake Huawei Cloud VPN user API of package vpnapitest, for
// the demo and for end-to-end tests that run the operator against it.
//
// It prints one line, "fakecloud listening on http://127.0.0.1:PORT", then the demo
// ids, and serves until SIGINT or SIGTERM. Run it with -h for the flags and the admin
// API under /_fake/.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

const usageHeader = `Usage: fakecloud [flags]

Serves a fake of Huawei Cloud's P2C VPN user API (v5) that checks signatures and every
rule of the API contract. By default it holds one demo project:

  project  %s
  server   %s (ACTIVE, LOCAL_PASSWORD)
  groups   %s (%s), %s (%s)
  AK/SK    %s / %s

Point the operator at it with --vpn-endpoint=http://127.0.0.1:PORT and these
credentials (-print-env or -env-file writes them as HUAWEICLOUD_SDK_* variables).

-config takes the Options of package vpnapitest as JSON, for example
  {"projects":[{"id":"<32 hex>","accessKey":"AK","secretKey":"SK","securityToken":"",
    "servers":[{"id":"<uuid>","authType":"LOCAL_PASSWORD","state":"ACTIVE",
                "groups":[{"id":"<uuid>","name":"g1"}]}]}],
   "qps":0,"latency":"0s","seed":1}

Flags:
`

// config is the -config file: vpnapitest.Options with a readable latency.
type config struct {
	vpnapitest.Options
	Latency string `json:"latency"`
}

type flags struct {
	listen, configFile, urlFile, envFile string
	allowRemote, printEnv, verbose       bool
	qps, faultRate                       float64
	latency                              time.Duration
	seed                                 uint64
	keyless                              keylessFlags
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run serves until ctx is done and gives the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, set, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	logger := log.New(stderr, "fakecloud: ", log.LstdFlags)
	if err := serve(ctx, f, set, stdout, logger); err != nil {
		logger.Printf("Stopped: %v", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (flags, map[string]bool, error) {
	var f flags
	fs := flag.NewFlagSet("fakecloud", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:0", "address to listen on (port 0 picks a free one)")
	fs.BoolVar(&f.allowRemote, "allow-remote", false, "allow a -listen address that is not loopback")
	fs.StringVar(&f.configFile, "config", "", "JSON file of options (default: the demo project)")
	fs.Float64Var(&f.qps, "qps", 0, "requests per second served before answering 429 APIGW.0308 (0 = unlimited)")
	fs.DurationVar(&f.latency, "latency", 0, "delay added to every answer")
	fs.Float64Var(&f.faultRate, "fault-rate", 0, "fraction (0 to 1) of calls that meet a random transient fault")
	fs.Uint64Var(&f.seed, "seed", 0, "seed of the random faults")
	fs.StringVar(&f.urlFile, "url-file", "", "write the base URL to this file once listening")
	fs.BoolVar(&f.printEnv, "print-env", false, "print export lines of HUAWEICLOUD_SDK_* and FAKECLOUD_* after the first line")
	fs.StringVar(&f.envFile, "env-file", "", "write the export lines of -print-env to this file")
	fs.BoolVar(&f.verbose, "v", false, "log every API call to stderr")
	f.keyless.register(fs)
	fs.Usage = func() {
		_, _ = fmt.Fprintf(stderr, usageHeader, vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID,
			vpnapitest.DefaultGroupID, vpnapitest.DefaultGroupName, vpnapitest.SecondGroupID, vpnapitest.SecondGroupName,
			vpnapitest.DefaultAccessKey, vpnapitest.DefaultSecretKey)
		fs.PrintDefaults()
		_, _ = fmt.Fprintf(stderr, "\n%s\n%s", keylessUsage, vpnapitest.AdminHelp)
	}
	if err := fs.Parse(args); err != nil {
		return f, nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return f, nil, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	return f, set, nil
}

func serve(ctx context.Context, f flags, set map[string]bool, stdout io.Writer, logger *log.Logger) error {
	opts, err := options(f, set)
	if err != nil {
		return err
	}
	if f.verbose {
		opts.Logf = logger.Printf
	}
	if err := checkListen(f.listen, f.allowRemote); err != nil {
		return err
	}
	fake := vpnapitest.NewHandler(opts)
	if f.faultRate > 0 {
		fake.SetFaultRate(f.faultRate, vpnapitest.DefaultFaultMix())
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	if err := f.keyless.writeTokens(ctx, fake, logger); err != nil {
		_ = ln.Close()
		return err
	}
	if err := announce(f, opts, url, stdout); err != nil {
		_ = ln.Close()
		return err
	}

	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Printf("Shutting down")
	fake.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// options reads -config (or the demo defaults) and applies the flags set.
func options(f flags, set map[string]bool) (vpnapitest.Options, error) {
	opts := vpnapitest.DefaultOptions()
	if f.configFile != "" {
		b, err := os.ReadFile(f.configFile)
		if err != nil {
			return opts, err
		}
		var c config
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return opts, fmt.Errorf("config %s: %w", f.configFile, err)
		}
		opts = c.Options
		if c.Latency != "" {
			if opts.Latency, err = time.ParseDuration(c.Latency); err != nil {
				return opts, fmt.Errorf("config %s: latency: %w", f.configFile, err)
			}
		}
	}
	if set["qps"] {
		opts.QPS = f.qps
	}
	if set["latency"] {
		opts.Latency = f.latency
	}
	if set["seed"] {
		opts.Seed = f.seed
	}
	if f.faultRate < 0 || f.faultRate > 1 {
		return opts, errors.New("-fault-rate must be from 0 to 1")
	}
	f.keyless.apply(&opts.Keyless, set)
	if err := f.keyless.readJWKS(&opts.Keyless); err != nil {
		return opts, err
	}
	if err := opts.Validate(); err != nil {
		return opts, fmt.Errorf("options: %w", err)
	}
	return opts, nil
}

// checkListen refuses an address other machines could reach, unless allowed.
func checkListen(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", addr, err)
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-listen %q is not a loopback address; add -allow-remote to serve other machines", addr)
}

// announce prints the listening line and the demo ids, and writes -url-file and -env-file.
func announce(f flags, opts vpnapitest.Options, url string, stdout io.Writer) error {
	if _, err := fmt.Fprintf(stdout, "fakecloud listening on %s\n", url); err != nil {
		return err
	}
	for _, p := range opts.Projects {
		for _, s := range p.Servers {
			_, _ = fmt.Fprintf(stdout, "project %s accessKey %s server %s (%s, %s) groups %s\n",
				p.ID, p.AccessKey, s.ID, orDefault(s.State, vpnapitest.StateActive),
				orDefault(s.AuthType, vpnapitest.AuthLocalPassword), groupList(s.Groups))
		}
	}
	env := exportLines(opts, url) + f.keyless.exportLines(url)
	if f.printEnv {
		_, _ = io.WriteString(stdout, env)
	}
	if f.envFile != "" {
		if err := writeFileAtomic(f.envFile, env, 0o600); err != nil {
			return err
		}
	}
	if f.urlFile != "" {
		return writeFileAtomic(f.urlFile, url+"\n", 0o644)
	}
	return nil
}

// exportLines gives shell export lines for the first project and server.
func exportLines(opts vpnapitest.Options, url string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "export FAKECLOUD_URL=%s\n", url)
	if len(opts.Projects) == 0 {
		return b.String()
	}
	p := opts.Projects[0]
	fmt.Fprintf(&b, "export %s=%s\n", vpnapi.EnvAccessKey, shellQuote(p.AccessKey))
	fmt.Fprintf(&b, "export %s=%s\n", vpnapi.EnvSecretKey, shellQuote(p.SecretKey))
	fmt.Fprintf(&b, "export %s=%s\n", vpnapi.EnvProjectID, shellQuote(p.ID))
	if p.SecurityToken != "" {
		fmt.Fprintf(&b, "export %s=%s\n", vpnapi.EnvSecurityToken, shellQuote(p.SecurityToken))
	}
	if len(p.Servers) > 0 {
		fmt.Fprintf(&b, "export FAKECLOUD_SERVER_ID=%s\n", p.Servers[0].ID)
		if len(p.Servers[0].Groups) > 0 {
			fmt.Fprintf(&b, "export FAKECLOUD_GROUP_ID=%s\n", p.Servers[0].Groups[0].ID)
		}
	}
	return b.String()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func groupList(gs []vpnapitest.Group) string {
	if len(gs) == 0 {
		return "-"
	}
	parts := make([]string, len(gs))
	for i, g := range gs {
		parts[i] = g.ID + " (" + g.Name + ")"
	}
	return strings.Join(parts, ", ")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// writeFileAtomic writes through a temporary file, so a poller never reads half a file.
func writeFileAtomic(path, content string, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fakecloud-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.WriteString(content); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
