//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/hack/rig"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

// TestHighAvailability runs two replicas with leader election: only the leader calls the
// cloud, and when the leader is killed the other takes over without duplicating users.
func TestHighAvailability(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const n = 30

	s := newSystem(t, ctx, vpnapitest.DefaultOptions(), "--leader-elect", "--leader-election-namespace", "default", "--sync-period", "30s")
	second := s.opts
	second.LogPath = filepath.Join(s.dir, "operator-2.log")
	replica2, err := rig.StartOperator(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	defer replica2.Stop()
	replicas := []*rig.Operator{s.op, replica2}

	s.createUsers(ctx, n)
	eventually(t, ctx, 2*time.Minute, func() error { return allReady(ctx, s, n) })

	leader, follower := -1, -1
	calls := make([]float64, 2)
	for i, op := range replicas {
		isLeader, err := op.Metrics("leader_election_master_status", nil)
		if err != nil {
			t.Fatal(err)
		}
		calls[i], err = op.Metrics("vpnapi_requests_total", nil)
		if err != nil {
			t.Fatal(err)
		}
		if isLeader == 1 {
			leader = i
		} else {
			follower = i
		}
	}
	if leader < 0 || follower < 0 {
		t.Fatalf("want one leader and one follower, leader=%d follower=%d", leader, follower)
	}
	if calls[follower] != 0 {
		t.Fatalf("the follower called the cloud %v times", calls[follower])
	}

	// Kill the leader; a VpnUser created right after must be made Ready by the other one.
	killed := time.Now()
	replicas[leader].Kill()
	s.createUserAt(ctx, n)
	eventually(t, ctx, 2*time.Minute, func() error { return allReady(ctx, s, n+1) })
	takeover := time.Since(killed).Seconds()
	followerCalls, err := replicas[follower].Metrics("vpnapi_requests_total", nil)
	if err != nil {
		t.Fatal(err)
	}
	dups := duplicates(s.fake.Users(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID))
	fmt.Printf("ha: replicas=2 users=%d leaderCloudCalls=%.0f followerCloudCallsWhileFollower=%.0f "+
		"secondsFromLeaderKillToNewUserReady=%.1f followerCloudCallsAfterTakeover=%.0f duplicateCloudUsers=%d\n",
		n, calls[leader], calls[follower], takeover, followerCalls, dups)
	if dups != 0 {
		t.Fatalf("%d duplicate cloud users", dups)
	}
	if s.op == replicas[leader] {
		s.op = replicas[follower]
	}
}

func (s *system) createUserAt(ctx context.Context, i int) {
	s.t.Helper()
	eventually(s.t, ctx, time.Minute, func() error {
		return client.IgnoreAlreadyExists(s.cp.Client.Create(ctx, rig.PasswordSecret(namespace, userName(i), password(i, 1))))
	})
	vu := &vpnv1alpha1.VpnUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: userName(i)},
		Spec: vpnv1alpha1.VpnUserSpec{
			VpnServerID:       vpnapitest.DefaultServerID,
			PasswordSecretRef: vpnv1alpha1.SecretKeyReference{Name: userName(i)},
		},
	}
	eventually(s.t, ctx, time.Minute, func() error { return client.IgnoreAlreadyExists(s.cp.Client.Create(ctx, vu)) })
}

func allReady(ctx context.Context, s *system, n int) error {
	var list vpnv1alpha1.VpnUserList
	if err := s.cp.Client.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return err
	}
	ready := 0
	for i := range list.Items {
		if meta.IsStatusConditionTrue(list.Items[i].Status.Conditions, vpnv1alpha1.ConditionReady) {
			ready++
		}
	}
	if ready < n {
		return fmt.Errorf("%d of %d Ready", ready, n)
	}
	return nil
}
