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

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/vpnuser-operator/vpnuser-operator/internal/preflight"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// preflightCommand is the first argument that runs the preflight instead of the operator.
const preflightCommand = "preflight"

// runPreflight runs `manager preflight [flags]`: the flags of the operator (those bound
// to operatorFlags, which it shares the values of) and --preflight-server-id. It prints
// one line per check on out and returns the exit code: 0 when no check failed, else 1.
func runPreflight(operatorFlags *flag.FlagSet, args []string, mgr *managerOptions, cloud *cloudOptions,
	getenv func(string) string, restConfig func() (*rest.Config, error), out io.Writer) int {
	fs := flag.NewFlagSet("manager preflight", flag.ContinueOnError)
	// A parse error gets one line below, not the usage; --help prints the usage.
	fs.SetOutput(io.Discard)
	operatorFlags.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	serverID := fs.String("preflight-server-id", getenv(preflight.EnvServerID),
		"A VPN server to check (its users are listed, read-only); defaults to $"+preflight.EnvServerID+".")
	parseErr := fs.Parse(args)
	if parseErr != nil {
		if errors.Is(parseErr, flag.ErrHelp) {
			fs.SetOutput(out)
			_, _ = fmt.Fprintf(out, "Usage: manager preflight [flags]: check the installation with the operator's flags "+
				"and environment; one line per check, exit status 1 when one fails.\n")
			fs.PrintDefaults()
			return 0
		}
	}
	// client-go and controller-runtime log nothing the lines below do not say.
	ctrl.SetLogger(logr.Discard())

	flagsErr := parseErr
	if flagsErr == nil {
		flagsErr = errors.Join(cloud.validate(), mgr.validate())
	}
	if fs.NArg() > 0 {
		flagsErr = errors.Join(flagsErr, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	*serverID = strings.TrimSpace(*serverID)
	if *serverID != "" && vpnapi.ValidateUUID(*serverID) != nil {
		flagsErr = errors.Join(flagsErr, errors.New("--preflight-server-id must be a VPN server's id (a UUID)"))
	}
	if flagsErr != nil {
		flagsErr = errors.New(strings.ReplaceAll(flagsErr.Error(), "\n", "; "))
	}
	region := cloud.region
	if region == "" {
		region = strings.TrimSpace(getenv(EnvRegion))
	}
	watch, _ := mgr.watchNamespaceList() // its error is in flagsErr
	results := preflight.Run(context.Background(), preflight.Options{
		FlagsError:              flagsErr,
		Region:                  region,
		Endpoint:                cloud.endpoint,
		DefaultCredentials:      cloud.defaultCredentials != defaultCredentialsNone,
		CredentialsDir:          cloud.credentialsDir,
		Getenv:                  getenv,
		Cloud:                   cloud.config(region, nil),
		ServerID:                *serverID,
		RESTConfig:              restConfigFor(restConfig, mgr),
		WatchNamespaces:         watch,
		LeaderElection:          mgr.enableLeaderElection,
		LeaderElectionNamespace: mgr.leaderElectionNamespace,
	})
	if !preflight.Print(out, results) {
		return 1
	}
	return 0
}

// restConfigFor gives the Kubernetes configuration with the operator's --kube-api-qps and
// --kube-api-burst.
func restConfigFor(get func() (*rest.Config, error), mgr *managerOptions) func() (*rest.Config, error) {
	return func() (*rest.Config, error) {
		cfg, err := get()
		if err != nil {
			return nil, err
		}
		cfg.QPS, cfg.Burst = float32(mgr.kubeAPIQPS), mgr.kubeAPIBurst
		return cfg, nil
	}
}
