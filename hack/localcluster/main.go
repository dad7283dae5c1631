// Command localcluster runs a local Kubernetes control plane (etcd and kube-apiserver on
// loopback, built from source by `make controlplane`) with the operator's CRDs installed,
// writes a kubeconfig that real kubectl can use, and stops everything on Ctrl-C or SIGTERM,
// leaving no process and no temporary directory behind.
//
// It is what `make demo` and the end-to-end tests run the operator against.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/vpnuser-operator/vpnuser-operator/internal/controlplane"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "localcluster: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	defaultKubeconfig := "bin/localcluster.kubeconfig"
	if root, err := controlplane.RepoRoot(); err == nil {
		defaultKubeconfig = filepath.Join(root, "bin", "localcluster.kubeconfig")
	}
	// A flag set of its own: controller-runtime registers a global -kubeconfig flag.
	flags := flag.NewFlagSet("localcluster", flag.ExitOnError)
	kubeconfig := flags.String("kubeconfig-out", defaultKubeconfig, "where to write the admin kubeconfig")
	readyFile := flags.String("ready-file", "", "optional file written (with the kubeconfig path) once the cluster is ready")
	_ = flags.Parse(os.Args[1:])

	env, err := controlplane.NewEnvironment()
	if err != nil {
		return err
	}

	// Stop on the first signal; a second one while stopping is ignored so that the
	// control plane's processes and temporary directories are always cleaned up.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	start := time.Now()
	if _, err := env.Start(); err != nil {
		_ = env.Stop()
		return fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	defer func() {
		fmt.Fprintln(os.Stderr, "localcluster: stopping kube-apiserver and etcd")
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "localcluster: stopping: %v\n", err)
		}
		_ = os.Remove(*kubeconfig)
		if *readyFile != "" {
			_ = os.Remove(*readyFile)
		}
	}()

	if err := writeKubeconfig(env, *kubeconfig); err != nil {
		return err
	}
	if *readyFile != "" {
		if err := os.WriteFile(*readyFile, []byte(*kubeconfig+"\n"), 0o600); err != nil {
			return fmt.Errorf("writing ready file: %w", err)
		}
	}

	fmt.Printf(`localcluster: kube-apiserver %s is up on %s (started in %.1fs), CRDs installed
localcluster: kubeconfig written to %s
  export KUBECONFIG=%s
  bin/k8s/kubectl get vpnusers -A
localcluster: press Ctrl-C to stop and clean up
`, "v1.37.2", env.Config.Host, time.Since(start).Seconds(), *kubeconfig, *kubeconfig)

	<-ctx.Done()
	return nil
}

// writeKubeconfig writes a kubeconfig for a cluster administrator (system:masters).
func writeKubeconfig(env *envtest.Environment, path string) error {
	user, err := env.AddUser(envtest.User{Name: "localcluster-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating the admin user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("rendering the kubeconfig: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return errors.Join(errors.New("writing the kubeconfig"), err)
	}
	return nil
}
