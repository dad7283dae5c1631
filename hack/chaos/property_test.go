//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/hack/rig"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

// Reasons an accepted VpnUser may settle in.
var knownReasons = map[string]bool{
	vpnv1alpha1.ReasonCreated: true, vpnv1alpha1.ReasonSynced: true,
	vpnv1alpha1.ReasonSecretNotFound: true, vpnv1alpha1.ReasonInvalidPassword: true,
	vpnv1alpha1.ReasonInvalidSpec: true, vpnv1alpha1.ReasonNameConflict: true,
	vpnv1alpha1.ReasonServerNotFound: true,
	// Random names collide: a second VpnUser naming a user another one manages.
	vpnv1alpha1.ReasonAlreadyManaged: true,
}

// Pieces random specs are made of, valid and bad of every kind. Each field is drawn from
// the valid pieces most of the time, so that about half of the specs pass the API server
// and many of those reach the cloud: an invalid field must be caught wherever it is.
var (
	validNames   = []string{"alice", "Bob.2", "usr1", "a_b-c.d", "ok-name", "L3SWx", "linked.user"}
	invalidNames = []string{"x", "ünïcödé", "with space", "", "L3SW_x", "administrator", "Link", strings.Repeat("n", 40), "名字名字名字"}
	validDescs   = []string{"", "ok_desc", "Team_42", strings.Repeat("d", 64)}
	invalidDescs = []string{"ünï", "with space", strings.Repeat("d", 65), "tab\there", "emoji😀", "<script>"}
	validGroups  = []string{"", vpnapitest.DefaultGroupID, "7625FD92-2E20-4E4D-8C56-66F110FBFAA8"}
	// A well-formed group the cloud does not know is refused by the cloud, not the schema.
	invalidGroups    = []string{"00000000-0000-0000-0000-000000000000", "not-a-uuid", strings.Repeat("f", 36)}
	validServers     = []string{vpnapitest.DefaultServerID}
	invalidServers   = []string{"11111111-2222-3333-4444-555555555555", "bad", ""}
	validPasswords   = []string{"Str0ng-Pass", "Passw0rd with space", "UPPER-lower", "12345678a"}
	invalidPasswords = []string{"ünïcödé-Pässwörd1x", "short", "", "alllowercase", "ALLUPPER", strings.Repeat("Aa1", 20), "NAME"}
)

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// pickMostlyValid draws a valid piece five times in six.
func pickMostlyValid[T any](rng *rand.Rand, valid, invalid []T) T {
	if rng.IntN(6) > 0 {
		return pick(rng, valid)
	}
	return pick(rng, invalid)
}

// TestRandomSpecs applies random VpnUser specs and Secrets, valid and invalid. Each is
// refused by the API server with a readable message, or settles with a known reason; the
// operator never panics, never loops hot, and never creates a cloud user from an invalid
// spec.
func TestRandomSpecs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(7, 11))
	const n = 120

	s := newSystem(t, ctx, vpnapitest.DefaultOptions(), "--sync-period", "1h")
	refused, accepted := 0, 0
	for i := range n {
		name := pickMostlyValid(rng, validNames, invalidNames)
		if vpnapi.ValidateUserName(name) == nil && rng.IntN(8) > 0 {
			// Mostly unique names, so that most valid specs make a user; the rest collide.
			name = fmt.Sprintf("%s-%03d", name, i)
		}
		pw := pickMostlyValid(rng, validPasswords, invalidPasswords)
		if pw == "NAME" {
			pw = name
		}
		secretName := fmt.Sprintf("pw-%03d", i)
		if rng.IntN(5) > 0 { // one in five never gets its Secret
			if err := s.cp.Client.Create(ctx, rig.PasswordSecret(namespace, secretName, pw)); err != nil {
				t.Fatalf("creating Secret %s: %v", secretName, err)
			}
		}
		vu := &vpnv1alpha1.VpnUser{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("prop-%03d", i)},
			Spec: vpnv1alpha1.VpnUserSpec{
				VpnServerID:       pickMostlyValid(rng, validServers, invalidServers),
				UserName:          name,
				Description:       pickMostlyValid(rng, validDescs, invalidDescs),
				UserGroupID:       pickMostlyValid(rng, validGroups, invalidGroups),
				PasswordSecretRef: vpnv1alpha1.SecretKeyReference{Name: secretName},
			},
		}
		err := s.cp.Client.Create(ctx, vu)
		switch {
		case err == nil:
			accepted++
		case apierrors.IsInvalid(err):
			refused++
			msg := err.Error()
			if !strings.Contains(msg, "spec.") || len(msg) > 2000 {
				t.Errorf("refusal of %+v is not readable: %s", vu.Spec, msg)
			}
		default:
			t.Fatalf("creating %s: unexpected error %v", vu.Name, err)
		}
	}

	// Every accepted object settles with a known reason.
	eventually(t, ctx, 3*time.Minute, func() error {
		var list vpnv1alpha1.VpnUserList
		if err := s.cp.Client.List(ctx, &list, client.InNamespace(namespace)); err != nil {
			return err
		}
		for i := range list.Items {
			vu := &list.Items[i]
			c := meta.FindStatusCondition(vu.Status.Conditions, vpnv1alpha1.ConditionReady)
			if c == nil || !knownReasons[c.Reason] {
				return fmt.Errorf("%s has not settled (Ready=%v)", vu.Name, c)
			}
		}
		return nil
	})

	// Nothing loops hot: with the sync period at an hour, a quiet minute costs few calls.
	s.fake.ResetCalls()
	if err := sleepCtx(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	quietCalls := len(s.fake.Calls())

	// No cloud user from an invalid spec: every cloud user obeys the cloud's rules and
	// belongs to a VpnUser that the API server accepted.
	var list vpnv1alpha1.VpnUserList
	if err := s.cp.Client.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	reasons := map[string]int{}
	byName := map[string]*vpnv1alpha1.VpnUser{}
	for i := range list.Items {
		vu := &list.Items[i]
		byName[vu.CloudUserName()] = vu
		reasons[meta.FindStatusCondition(vu.Status.Conditions, vpnv1alpha1.ConditionReady).Reason]++
	}
	cloudUsers := s.fake.Users(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID)
	invalidInCloud := 0
	for _, u := range cloudUsers {
		vu := byName[u.Name]
		if vu == nil || vpnapi.ValidateUserName(u.Name) != nil || vpnapi.ValidateDescription(u.Description) != nil ||
			vpnapi.ValidatePassword(u.Name, vpnapi.NewSecret(u.Password)) != nil {
			invalidInCloud++
		}
	}
	s.op.Stop()
	panics := strings.Count(readFile(t, s.opts.LogPath), "panic:")
	fmt.Printf("property: specs=%d refusedByAPIServer=%d accepted=%d settledReasons=%v cloudUsers=%d "+
		"invalidCloudUsers=%d callsInQuiet30s=%d panics=%d\n",
		n, refused, accepted, reasons, len(cloudUsers), invalidInCloud, quietCalls, panics)
	if invalidInCloud != 0 || panics != 0 || quietCalls > accepted {
		t.Fatalf("invalidCloudUsers=%d panics=%d callsInQuiet30s=%d", invalidInCloud, panics, quietCalls)
	}
}
