//go:build chaos

// Package chaos is the chaos suite (make test-chaos): the built operator against the local
// control plane and a fake cloud that faults a fifth of its calls, while the operator is
// SIGKILLed and restarted and kube-apiserver restarts. It asserts that nothing is lost or
// duplicated and prints the figures of each run.
package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/hack/rig"
	"github.com/vpnuser-operator/vpnuser-operator/internal/leakcheck"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

const (
	namespace  = "chaos"
	users      = 300
	orphanEach = 10 // every 10th user has deletionPolicy Orphan
	kills      = 5
	faultRate  = 0.20
)

// system is one control plane, fake cloud and operator binary.
type system struct {
	t    *testing.T
	dir  string
	cp   *rig.ControlPlane
	fake *vpnapitest.Server
	op   *rig.Operator
	opts rig.OperatorOptions
}

// operatorBinary is bin/manager, or the binary CHAOS_OPERATOR_BINARY names (a build of
// one's own, which a concurrent make build cannot replace under a running suite).
func operatorBinary(t *testing.T) string {
	if bin := os.Getenv("CHAOS_OPERATOR_BINARY"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("CHAOS_OPERATOR_BINARY: %v", err)
		}
		return bin
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bin", "manager")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the operator binary %s is missing: run 'make build' (make test-chaos does)", bin)
	}
	return bin
}

func newSystem(t *testing.T, ctx context.Context, fakeOpts vpnapitest.Options, args ...string) *system {
	t.Helper()
	dir := t.TempDir()
	cp, err := rig.StartControlPlane(dir, 500, 1000)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.Stop)
	fake := vpnapitest.NewServer(fakeOpts)
	t.Cleanup(fake.Close)
	s := &system{t: t, dir: dir, cp: cp, fake: fake}
	s.opts = rig.OperatorOptions{
		Binary:     operatorBinary(t),
		Kubeconfig: cp.Kubeconfig,
		Endpoint:   fake.URL,
		Env: []string{
			"HUAWEICLOUD_SDK_AK=" + vpnapitest.DefaultAccessKey,
			"HUAWEICLOUD_SDK_SK=" + vpnapitest.DefaultSecretKey,
			"HUAWEICLOUD_SDK_PROJECT_ID=" + vpnapitest.DefaultProjectID,
			"HUAWEICLOUD_SDK_REGION=ap-southeast-1",
		},
		Args:    append([]string{"--zap-log-level=10", "--zap-devel=false"}, args...),
		LogPath: filepath.Join(dir, "operator.log"),
	}
	s.op = s.startOperator(ctx)
	t.Cleanup(func() {
		if s.op != nil && !s.op.Exited() {
			s.op.Stop()
		}
	})
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := cp.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *system) startOperator(ctx context.Context) *rig.Operator {
	s.t.Helper()
	op, err := rig.StartOperator(ctx, s.opts)
	if err != nil {
		s.t.Fatalf("starting the operator: %v\n%s", err, tail(s.opts.LogPath, 30))
	}
	return op
}

func password(i, version int) string { return fmt.Sprintf("Chaos-Passw0rd-%03d-v%d", i, version) }

func userName(i int) string { return fmt.Sprintf("chaos-%03d", i) }

func (s *system) createUsers(ctx context.Context, n int) {
	s.t.Helper()
	for i := range n {
		if err := s.cp.Client.Create(ctx, rig.PasswordSecret(namespace, userName(i), password(i, 1))); err != nil {
			s.t.Fatal(err)
		}
		policy := vpnv1alpha1.DeletionPolicyDelete
		if i%orphanEach == 0 {
			policy = vpnv1alpha1.DeletionPolicyOrphan
		}
		vu := &vpnv1alpha1.VpnUser{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: userName(i)},
			Spec: vpnv1alpha1.VpnUserSpec{
				VpnServerID:       vpnapitest.DefaultServerID,
				Description:       "chaos",
				PasswordSecretRef: vpnv1alpha1.SecretKeyReference{Name: userName(i)},
				DeletionPolicy:    policy,
			},
		}
		if err := s.cp.Client.Create(ctx, vu); err != nil {
			s.t.Fatal(err)
		}
	}
}

// rotate sets version v of user i's password; the API server may be restarting, so it
// retries.
func (s *system) rotate(ctx context.Context, i, v int) {
	s.t.Helper()
	eventually(s.t, ctx, time.Minute, func() error {
		var sec corev1.Secret
		if err := s.cp.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: userName(i)}, &sec); err != nil {
			return err
		}
		sec.Data = map[string][]byte{vpnv1alpha1.DefaultPasswordKey: []byte(password(i, v))}
		return s.cp.Client.Update(ctx, &sec)
	})
}

// converged reports how many VpnUsers are Ready for their generation with the cloud
// password equal to the Secret's, and describes the first few that are not.
func (s *system) converged(ctx context.Context, want map[int]int) (int, []string, error) {
	var list vpnv1alpha1.VpnUserList
	if err := s.cp.Client.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return 0, nil, err
	}
	ok := 0
	var behind []string
	for i := range list.Items {
		vu := &list.Items[i]
		var idx int
		if _, err := fmt.Sscanf(vu.Name, "chaos-%03d", &idx); err != nil {
			continue
		}
		c := meta.FindStatusCondition(vu.Status.Conditions, vpnv1alpha1.ConditionReady)
		stored, found := s.fake.User(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID, vu.Status.ID)
		passwordOK := found && stored.Password == password(idx, want[idx])
		if c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == vu.Generation && vu.Status.ID != "" && passwordOK {
			ok++
			continue
		}
		if len(behind) < 5 {
			desc := "no Ready condition"
			if c != nil {
				desc = fmt.Sprintf("Ready=%s reason=%s message=%q", c.Status, c.Reason, c.Message)
			}
			behind = append(behind, fmt.Sprintf("%s (id %q, cloud user found=%v, password matches=%v): %s",
				vu.Name, vu.Status.ID, found, passwordOK, desc))
		}
	}
	return ok, behind, nil
}

func TestChaos(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(1, 2))

	s := newSystem(t, ctx, vpnapitest.DefaultOptions(),
		"--sync-period", "30s", "--cloud-qps", "200", "--cloud-burst", "50", "--max-concurrent-reconciles", "8")

	// The storm: a fifth of all calls fault, with a mix of the cloud's failure modes.
	s.fake.SetFaultRate(faultRate, []vpnapitest.Fault{
		{Status: 500, Code: "VPN.0002", Message: "internal error"},
		{Status: 429, Code: "APIGW.0308", Message: "throttled", RetryAfter: time.Second},
		{Status: 400, Code: "VPN.0030", Message: "system busy"},
		{DropConnection: true},
		{Operation: "create", LoseResponse: true},
		{Latency: 2 * time.Second},
	})
	stormStart := time.Now()
	s.createUsers(ctx, users)

	// Rotate a third of the users' passwords during the storm, and SIGKILL the operator
	// at random moments, and restart kube-apiserver once.
	want := map[int]int{}
	for i := range users {
		want[i] = 1
	}
	var apiserverRestarted atomic.Bool
	for k := range kills {
		if err := sleepCtx(ctx, time.Duration(3000+rng.IntN(5000))*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		for i := k; i < users; i += 3 * kills { // a third of the users over the five rounds
			want[i]++
			s.rotate(ctx, i, want[i])
		}
		s.op.Kill()
		if k == 2 {
			if err := s.cp.RestartAPIServer(); err != nil {
				t.Fatalf("restarting kube-apiserver: %v", err)
			}
			apiserverRestarted.Store(true)
		}
		s.op = s.startOperator(ctx)
	}
	stormSeconds := time.Since(stormStart).Seconds()

	// Faults stop; everything converges.
	s.fake.SetFaultRate(0, nil)
	s.fake.ClearFaults()
	calmStart := time.Now()
	var ok int
	eventually(t, ctx, 5*time.Minute, func() error {
		converged, behind, err := s.converged(ctx, want)
		if err != nil {
			return err
		}
		ok = converged
		if ok != users {
			return fmt.Errorf("%d of %d users converged; behind: %s\noperator log tail:\n%s",
				ok, users, strings.Join(behind, "; "), tail(s.opts.LogPath, 5))
		}
		return nil
	})
	convergeSeconds := time.Since(calmStart).Seconds()

	cloudUsers := s.fake.Users(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID)
	dups := duplicates(cloudUsers)

	// Delete everything: Delete users leave the cloud, Orphan users stay.
	if err := s.cp.Client.DeleteAllOf(ctx, &vpnv1alpha1.VpnUser{}, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, 3*time.Minute, func() error {
		var list vpnv1alpha1.VpnUserList
		if err := s.cp.Client.List(ctx, &list, client.InNamespace(namespace)); err != nil {
			return err
		}
		if len(list.Items) > 0 {
			return fmt.Errorf("%d VpnUsers still there (finalizers)", len(list.Items))
		}
		return nil
	})
	var list vpnv1alpha1.VpnUserList
	if err := s.cp.Client.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	stuck := len(list.Items)
	left, orphans := 0, 0
	for _, u := range s.fake.Users(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID) {
		var idx int
		if _, err := fmt.Sscanf(u.Name, "chaos-%03d", &idx); err == nil && idx%orphanEach == 0 {
			orphans++
			continue
		}
		left++
	}
	s.op.Stop()
	leaks := secretsInLog(t, s.opts.LogPath, want)
	panics := strings.Count(readFile(t, s.opts.LogPath), "panic:")

	mismatched := users - ok
	fmt.Printf("chaos: users=%d faultRate=%.0f%% operatorKills=%d apiserverRestarts=%d rotated=%d storm=%.0fs | "+
		"duplicateCloudUsers=%d cloudUsersLeftAfterDeletion=%d orphansKept=%d/%d finalizersStuck=%d "+
		"passwordMismatches=%d secretsInLogs=%d panics=%d secondsToConverge=%.1f\n",
		users, 100*faultRate, kills, b2i(apiserverRestarted.Load()), rotatedCount(want), stormSeconds,
		dups, left, orphans, users/orphanEach, stuck, mismatched, leaks, panics, convergeSeconds)

	if dups != 0 || left != 0 || orphans != users/orphanEach || stuck != 0 || mismatched != 0 || leaks != 0 || panics != 0 {
		t.Fatalf("chaos run lost or duplicated something; operator log: %s", s.opts.LogPath)
	}
}

func rotatedCount(want map[int]int) int {
	n := 0
	for _, v := range want {
		if v > 1 {
			n++
		}
	}
	return n
}

func duplicates(users []vpnapitest.StoredUser) int {
	seen := map[string]int{}
	d := 0
	for _, u := range users {
		seen[u.Name]++
		if seen[u.Name] > 1 {
			d++
		}
	}
	return d
}

// secretsInLog counts the passwords and the secret key found in the operator's log.
func secretsInLog(t *testing.T, path string, want map[int]int) int {
	log := readFile(t, path)
	if !strings.Contains(log, "Reconcil") && len(log) < 1000 {
		t.Fatalf("the operator's log at the highest verbosity is suspiciously short (%d bytes)", len(log))
	}
	secrets := []string{vpnapitest.DefaultSecretKey}
	for i, latest := range want {
		for v := 1; v <= latest; v++ {
			secrets = append(secrets, password(i, v))
		}
	}
	// Plain, JSON-escaped, base64, and split across client-go's hex dumps of bodies.
	found := len(leakcheck.Find(log, secrets))
	return found
}

func readFile(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func tail(path string, lines int) string {
	data, _ := os.ReadFile(path)
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// eventually retries f every half second until it succeeds or the timeout passes. API
// errors while kube-apiserver restarts are retried like any other.
func eventually(t *testing.T, ctx context.Context, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		if apierrors.IsInvalid(err) {
			t.Fatal(err)
		}
		if sleepCtx(ctx, 500*time.Millisecond) != nil {
			break
		}
	}
	t.Fatalf("not reached in %s: %v", timeout, err)
}
