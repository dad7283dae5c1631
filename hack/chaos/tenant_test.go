//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/hack/rig"
	"github.com/vpnuser-operator/vpnuser-operator/internal/leakcheck"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

// The tenant storm: the ownership and tenancy rules under faults and operator SIGKILLs,
// with two projects and an operator that has no credentials of its own.
const (
	tenantRefusals   = 30 // refused creates, then console users of the same names
	tenantClaimants  = 20 // second VpnUsers naming users already managed
	tenantSwitched   = 10 // VpnUsers whose credentials switch to the other project for a while
	tenantBystanders = 5  // VpnUsers of the other project, whose users nobody else may touch
	tenantFaultRate  = 0.20

	// The second project of the fake (as newTwoProjectCloud of the controller's tests).
	project2   = "1c9d2f7a4e6b5c3d8a9f0e1d2c3b4a51"
	accessKey2 = "FAKEAKSECONDPROJECT01"
	secretKey2 = "SecondProjectSecretKeyOfTheFakeCloud0001"
	server2    = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"

	// A well-formed user group the server does not have: the cloud refuses the create (400).
	unknownGroup = "11111111-2222-4333-8444-555555555555"

	nsRefusedAndFirst = "tenant-a"  // refused-NN and first-NN, project 1
	nsClaimants       = "tenant-b"  // claim-NN naming first-NN, project 1
	nsSwitched        = "tenant-s"  // switch-NN, project 1, then 2, then 1 again
	nsProject2        = "tenant-p2" // p2-NN on the server of project 2
	credentialsName   = "cloud"
)

// tenantFaults is TestChaos's mix of the cloud's failure modes.
var tenantFaults = []vpnapitest.Fault{
	{Status: 500, Code: "VPN.0002", Message: "internal error"},
	{Status: 429, Code: "APIGW.0308", Message: "throttled", RetryAfter: time.Second},
	{Status: 400, Code: "VPN.0030", Message: "system busy"},
	{DropConnection: true},
	{Operation: "create", LoseResponse: true},
	{Latency: 2 * time.Second},
}

func twoProjectOptions() vpnapitest.Options {
	opts := vpnapitest.DefaultOptions()
	opts.Projects = append(opts.Projects, vpnapitest.Project{
		ID: project2, AccessKey: accessKey2, SecretKey: secretKey2,
		Servers: []vpnapitest.VPNServer{{ID: server2, AuthType: vpnapitest.AuthLocalPassword, State: vpnapitest.StateActive}},
	})
	return opts
}

func credentialsSecret(ns, ak, sk, projectID string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: credentialsName},
		Data: map[string][]byte{
			vpnv1alpha1.CredentialsKeyAccessKey: []byte(ak),
			vpnv1alpha1.CredentialsKeySecretKey: []byte(sk),
			vpnv1alpha1.CredentialsKeyProjectID: []byte(projectID),
		},
	}
}

func refusedName(i int) string   { return fmt.Sprintf("refused-%02d", i) }
func firstName(i int) string     { return fmt.Sprintf("first-%02d", i) }
func claimName(i int) string     { return fmt.Sprintf("claim-%02d", i) }
func switchName(i int) string    { return fmt.Sprintf("switch-%02d", i) }
func bystanderName(i int) string { return fmt.Sprintf("p2-%02d", i) }

// tenantPassword is the password of a VpnUser's Secret; consolePassword that of a user
// made in the console.
func tenantPassword(name string) string  { return "Tenant-Passw0rd-" + name }
func consolePassword(name string) string { return "Console-Passw0rd-" + name }

// tenantStorm is the state of one run: the system, what the harness made, and what went
// wrong (the run goes on after a failed expectation, so that one run reports everything).
type tenantStorm struct {
	t     *testing.T
	ctx   context.Context
	s     *system
	rng   *rand.Rand
	kills int
	fails []string

	firstIDs, switchIDs, bystanderIDs map[string]string // VpnUser name -> cloud user id
	consoleIDs                        map[string]string // user name -> id of the console user
}

func (ts *tenantStorm) fail(format string, args ...any) {
	ts.t.Helper()
	msg := fmt.Sprintf(format, args...)
	ts.fails = append(ts.fails, msg)
	ts.t.Errorf("%s", msg)
}

func (ts *tenantStorm) logTail() string { return tail(ts.s.opts.LogPath, 8) }

func (ts *tenantStorm) must(err error) {
	ts.t.Helper()
	if err != nil {
		ts.t.Fatalf("%v\noperator log tail:\n%s", err, ts.logTail())
	}
}

// killAfter SIGKILLs the operator at a random moment between from and to from now, and
// starts it again.
func (ts *tenantStorm) killAfter(from, to time.Duration) {
	ts.t.Helper()
	if err := sleepCtx(ts.ctx, from+time.Duration(ts.rng.Int64N(int64(to-from)))); err != nil {
		ts.t.Fatal(err)
	}
	ts.s.op.Kill()
	ts.kills++
	ts.s.op = ts.s.startOperator(ts.ctx)
}

// create makes an object, retrying what the API server may answer while busy.
func (ts *tenantStorm) create(obj client.Object) {
	ts.t.Helper()
	eventually(ts.t, ts.ctx, time.Minute, func() error { return client.IgnoreAlreadyExists(ts.s.cp.Client.Create(ts.ctx, obj)) })
}

// vpnUser makes a VpnUser with its password Secret and the namespace's credentials.
func (ts *tenantStorm) vpnUser(ns, name, server string, change func(*vpnv1alpha1.VpnUser)) {
	ts.t.Helper()
	ts.create(rig.PasswordSecret(ns, name, tenantPassword(name)))
	vu := &vpnv1alpha1.VpnUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: vpnv1alpha1.VpnUserSpec{
			VpnServerID:          server,
			Description:          "tenant",
			PasswordSecretRef:    vpnv1alpha1.SecretKeyReference{Name: name},
			CredentialsSecretRef: &vpnv1alpha1.LocalSecretReference{Name: credentialsName},
		},
	}
	if change != nil {
		change(vu)
	}
	ts.create(vu)
}

// setCredentials rewrites a namespace's credentials Secret.
func (ts *tenantStorm) setCredentials(ns, ak, sk, projectID string) {
	ts.t.Helper()
	eventually(ts.t, ts.ctx, time.Minute, func() error {
		var sec corev1.Secret
		if err := ts.s.cp.Client.Get(ts.ctx, client.ObjectKey{Namespace: ns, Name: credentialsName}, &sec); err != nil {
			return err
		}
		sec.Data = credentialsSecret(ns, ak, sk, projectID).Data
		return ts.s.cp.Client.Update(ts.ctx, &sec)
	})
}

// vpnUsers lists a namespace's VpnUsers by name.
func (ts *tenantStorm) vpnUsers(ns string) (map[string]*vpnv1alpha1.VpnUser, error) {
	var list vpnv1alpha1.VpnUserList
	if err := ts.s.cp.Client.List(ts.ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	out := make(map[string]*vpnv1alpha1.VpnUser, len(list.Items))
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out, nil
}

// describe says what a VpnUser reports, for failure messages.
func describe(vu *vpnv1alpha1.VpnUser) string {
	if vu == nil {
		return "gone"
	}
	reason, msg := "none", ""
	if c := meta.FindStatusCondition(vu.Status.Conditions, vpnv1alpha1.ConditionReady); c != nil {
		reason, msg = fmt.Sprintf("Ready=%s/%s", c.Status, c.Reason), c.Message
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
	}
	pending := "none"
	if p := vu.Status.PendingCreate; p != nil {
		pending = fmt.Sprintf("%s..%s", p.FirstSentAt.Format(time.TimeOnly), p.LastSentAt.Format(time.TimeOnly))
	}
	return fmt.Sprintf("%s/%s %s finalizer=%v id=%q project=%q pendingCreate=%s deleting=%v: %q", vu.Namespace, vu.Name, reason,
		controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer), vu.Status.ID, vu.Status.ProjectID, pending,
		!vu.DeletionTimestamp.IsZero(), msg)
}

// explain describes a VpnUser with the create calls the cloud saw from it (found by their
// idempotency tokens, derived as internal/controller's clientToken derives them).
func (ts *tenantStorm) explain(vu *vpnv1alpha1.VpnUser) string {
	if vu == nil {
		return "gone"
	}
	tokens := map[string]bool{}
	for n := 0; n <= int(vu.Status.Recreations+vu.Status.RefusedCreates)+1; n++ {
		tokens[createToken(vu.UID, n)] = true
	}
	var creates []string
	for _, c := range ts.s.fake.Calls() {
		if c.Operation == vpnapi.OpCreate && tokens[c.ClientToken] {
			creates = append(creates, fmt.Sprintf("%s status=%d code=%s token=%s", c.Time.Format("15:04:05.000"), c.Status, c.Code, c.ClientToken))
		}
	}
	if len(creates) > 6 {
		creates = creates[len(creates)-6:]
	}
	return describe(vu) + "\n    its last creates: " + strings.Join(creates, "; ")
}

// createToken is the X-Client-Token of a VpnUser's create after n re-creations and
// refused creates (internal/controller.clientToken).
func createToken(uid types.UID, n int) string {
	if n == 0 {
		return string(uid)
	}
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(string(uid)+":"+strconv.Itoa(n))).String()
}

func readyIs(vu *vpnv1alpha1.VpnUser, status metav1.ConditionStatus, reason string) bool {
	c := meta.FindStatusCondition(vu.Status.Conditions, vpnv1alpha1.ConditionReady)
	return c != nil && c.Status == status && (reason == "" || c.Reason == reason) && c.ObservedGeneration == vu.Generation
}

// await waits until check holds for every named VpnUser of ns (check gets nil for a
// VpnUser that is gone), and returns how many held at the end; a failed wait is recorded
// with the first VpnUsers that did not get there and the operator's log tail.
func (ts *tenantStorm) await(what, ns string, names []string, timeout time.Duration, check func(*vpnv1alpha1.VpnUser) bool) int {
	ts.t.Helper()
	deadline := time.Now().Add(timeout)
	held := 0
	var behind []string
	var lastErr error
	for {
		vus, err := ts.vpnUsers(ns)
		if err == nil {
			held, behind = 0, nil
			for _, name := range names {
				if check(vus[name]) {
					held++
				} else if len(behind) < 5 {
					behind = append(behind, ts.explain(vus[name]))
				}
			}
			if held == len(names) {
				return held
			}
		}
		lastErr = err
		if time.Now().After(deadline) || sleepCtx(ts.ctx, 500*time.Millisecond) != nil {
			break
		}
	}
	ts.fail("%s: %d of %d in %s (last list error: %v); behind:\n  %s\noperator log tail:\n%s",
		what, held, len(names), timeout, lastErr, strings.Join(behind, "\n  "), ts.logTail())
	return held
}

// hold checks for d that check keeps holding for every named VpnUser of ns; it records a
// failure, and returns, at the first one for which it does not.
func (ts *tenantStorm) hold(what, ns string, names []string, d time.Duration, check func(*vpnv1alpha1.VpnUser) bool) {
	ts.t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		vus, err := ts.vpnUsers(ns)
		if err == nil {
			for _, name := range names {
				if !check(vus[name]) {
					ts.fail("%s: no longer so for %s\noperator log tail:\n%s", what, ts.explain(vus[name]), ts.logTail())
					return
				}
			}
		}
		if sleepCtx(ts.ctx, 500*time.Millisecond) != nil {
			break
		}
	}
}

func names(n int, name func(int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = name(i)
	}
	return out
}

// writesOn counts, per user id, the calls that change or delete a user (update, password
// reset, delete) among calls.
func writesOn(calls []vpnapitest.Call) map[string][]string {
	out := map[string][]string{}
	for _, c := range calls {
		switch c.Operation {
		case vpnapi.OpUpdate, vpnapi.OpResetPassword, vpnapi.OpDelete:
			id := strings.ToLower(c.UserID)
			out[id] = append(out[id], fmt.Sprintf("%s %s status=%d code=%s ak=%s at %s",
				c.Operation, c.UserID, c.Status, c.Code, c.AccessKey, c.Time.Format(time.TimeOnly)))
		}
	}
	return out
}

// touched says how a user that the operator must leave alone was touched (deleted, its
// password changed, or written to by a call), "" when it was not.
func (ts *tenantStorm) touched(projectID, serverID, id, password string, writes map[string][]string) string {
	var how []string
	if _, found := ts.s.fake.User(projectID, serverID, id); !found {
		how = append(how, "deleted")
	} else if !ts.s.fake.CheckPassword(projectID, serverID, id, password) {
		how = append(how, "password changed")
	}
	if w := writes[strings.ToLower(id)]; len(w) > 0 {
		how = append(how, "calls: "+strings.Join(w, "; "))
	}
	return strings.Join(how, ", ")
}

// TestTenantStorm checks the ownership and tenancy rules under the chaos suite's faults
// and operator SIGKILLs, on a cloud of two projects, with an operator that has no
// credentials of its own (--default-credentials=none: every namespace brings a Secret):
//
//  1. creates refused for good (an unknown user group), then users of the same names made
//     in the console, then the specs corrected: NameConflict, the console users untouched;
//  2. second VpnUsers, with the adopt annotation, naming users that first VpnUsers
//     manage: AlreadyManaged, the users keep the first VpnUsers' passwords, and deleting
//     the second ones leaves them;
//  3. credentials switched to the other project for a while: ProjectMismatch, no call
//     with the other project's keys on the users, no user made there; back: Ready, same id;
//  4. everything deleted: no foreign user touched, no user of the operator's left.
func TestTenantStorm(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	begin := time.Now()

	s := newSystem(t, ctx, twoProjectOptions(), "--default-credentials=none",
		"--sync-period", "30s", "--cloud-qps", "200", "--cloud-burst", "50", "--max-concurrent-reconciles", "8")
	t.Cleanup(func() { keepLog(t, s.opts.LogPath, "tenant-storm-operator.log") })
	ts := &tenantStorm{t: t, ctx: ctx, s: s, rng: rand.New(rand.NewPCG(3, 5)), firstIDs: map[string]string{}, switchIDs: map[string]string{},
		bystanderIDs: map[string]string{}, consoleIDs: map[string]string{}}
	for _, ns := range []string{nsRefusedAndFirst, nsClaimants, nsSwitched, nsProject2} {
		ts.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	ts.create(credentialsSecret(nsRefusedAndFirst, vpnapitest.DefaultAccessKey, vpnapitest.DefaultSecretKey, vpnapitest.DefaultProjectID))
	ts.create(credentialsSecret(nsClaimants, vpnapitest.DefaultAccessKey, vpnapitest.DefaultSecretKey, vpnapitest.DefaultProjectID))
	ts.create(credentialsSecret(nsSwitched, vpnapitest.DefaultAccessKey, vpnapitest.DefaultSecretKey, vpnapitest.DefaultProjectID))
	ts.create(credentialsSecret(nsProject2, accessKey2, secretKey2, project2))

	refused := names(tenantRefusals, refusedName)
	firsts := names(tenantClaimants, firstName)
	claimants := names(tenantClaimants, claimName)
	switched := names(tenantSwitched, switchName)
	bystanders := names(tenantBystanders, bystanderName)

	// The storm: a fifth of all calls fault, from the first create to the last deletion.
	s.fake.SetFaultRate(tenantFaultRate, tenantFaults)
	stormStart := time.Now()
	for _, name := range refused {
		ts.vpnUser(nsRefusedAndFirst, name, vpnapitest.DefaultServerID, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.UserGroupID = unknownGroup })
	}
	for _, name := range firsts {
		ts.vpnUser(nsRefusedAndFirst, name, vpnapitest.DefaultServerID, nil)
	}
	for _, name := range switched {
		ts.vpnUser(nsSwitched, name, vpnapitest.DefaultServerID, nil)
	}
	for _, name := range bystanders {
		ts.vpnUser(nsProject2, name, server2, nil)
	}
	ts.killAfter(time.Second, 4*time.Second) // while the first creates are under way

	readyWithID := func(vu *vpnv1alpha1.VpnUser) bool {
		return vu != nil && readyIs(vu, metav1.ConditionTrue, "") && vu.Status.ID != ""
	}
	ts.await("first VpnUsers Ready", nsRefusedAndFirst, firsts, 2*time.Minute, readyWithID)
	ts.await("switched VpnUsers Ready before the switch", nsSwitched, switched, time.Minute, readyWithID)
	ts.await("project-2 VpnUsers Ready", nsProject2, bystanders, time.Minute, readyWithID)
	// 1. The refusals report their Failed reason.
	ts.await("refused creates report InvalidSpec", nsRefusedAndFirst, refused, 2*time.Minute, func(vu *vpnv1alpha1.VpnUser) bool {
		return vu != nil && readyIs(vu, metav1.ConditionFalse, vpnv1alpha1.ReasonInvalidSpec)
	})
	record := func(ns string, ids map[string]string) {
		vus, err := ts.vpnUsers(ns)
		ts.must(err)
		for name, vu := range vus {
			ids[name] = vu.Status.ID
		}
	}
	record(nsRefusedAndFirst, ts.firstIDs)
	for _, name := range refused {
		delete(ts.firstIDs, name)
	}
	record(nsSwitched, ts.switchIDs)
	record(nsProject2, ts.bystanderIDs)
	vus, err := ts.vpnUsers(nsRefusedAndFirst)
	ts.must(err)
	// A refusal one of whose create attempts may have been performed (5xx, no answer) is
	// outstanding: it keeps its finalizer and status.pendingCreate for a while.
	refusalsSettled := 0
	var outstanding []string
	for _, name := range refused {
		if vu := vus[name]; vu != nil && !controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer) && vu.Status.PendingCreate == nil {
			refusalsSettled++
		} else {
			outstanding = append(outstanding, name)
		}
	}
	if len(outstanding) > 0 {
		t.Logf("refusals with a create outstanding when the console users are made: %s", strings.Join(outstanding, " "))
	}

	// Console users of the refused names. The API cannot tell who made a user: a user made
	// within two minutes of a create that got no answer is, by the operator's contract,
	// taken for that create's (status.pendingCreate). The storm is compressed in time, so
	// the console users are dated ten minutes later, as someone would make them after the
	// refusal; the fake's clock is monotonic, so users the operator made after this point
	// would be dated after them (none is expected).
	s.fake.ShiftClock(10 * time.Minute)
	for _, name := range refused {
		id, err := s.fake.CreateUserOutOfBand(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID, name, consolePassword(name))
		if err != nil {
			s.fake.ShiftClock(-10 * time.Minute)
			t.Fatalf("making the console user %s: %v", name, err)
		}
		ts.consoleIDs[name] = id
	}
	s.fake.ShiftClock(-10 * time.Minute)
	batch := time.Now()
	// ... then the specs are corrected.
	for _, name := range refused {
		eventually(t, ctx, time.Minute, func() error {
			vu := &vpnv1alpha1.VpnUser{}
			if err := s.cp.Client.Get(ctx, client.ObjectKey{Namespace: nsRefusedAndFirst, Name: name}, vu); err != nil {
				return err
			}
			patch := client.MergeFrom(vu.DeepCopy())
			vu.Spec.UserGroupID = ""
			return s.cp.Client.Patch(ctx, vu, patch)
		})
	}
	// 2. Second claimants, in another namespace, with the adopt annotation and another password.
	for i, name := range claimants {
		ts.vpnUser(nsClaimants, name, vpnapitest.DefaultServerID, func(vu *vpnv1alpha1.VpnUser) {
			vu.Spec.UserName = firstName(i)
			vu.Spec.Description = "taken_over"
			vu.Annotations = map[string]string{vpnv1alpha1.AnnotationAdopt: "true"}
		})
	}
	// 3. The switched namespace's credentials now name the other project.
	ts.setCredentials(nsSwitched, accessKey2, secretKey2, project2)
	ts.killAfter(500*time.Millisecond, 3*time.Second) // while the corrections, the claims and the switch are handled

	nameConflict := func(vu *vpnv1alpha1.VpnUser) bool {
		return vu != nil && readyIs(vu, metav1.ConditionFalse, vpnv1alpha1.ReasonNameConflict) && vu.Status.ID == "" &&
			vu.Status.PendingCreate == nil && !controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer)
	}
	nameConflicts := ts.await("corrected refusals report NameConflict", nsRefusedAndFirst, refused, 45*time.Second, nameConflict)
	alreadyManaged := ts.await("second claimants report AlreadyManaged", nsClaimants, claimants, 2*time.Minute,
		func(vu *vpnv1alpha1.VpnUser) bool {
			return vu != nil && readyIs(vu, metav1.ConditionFalse, vpnv1alpha1.ReasonAlreadyManaged) && vu.Status.ID == "" &&
				!controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer)
		})
	mismatch := func(vu *vpnv1alpha1.VpnUser) bool {
		return vu != nil && readyIs(vu, metav1.ConditionFalse, vpnv1alpha1.ReasonProjectMismatch) &&
			vu.Status.ID == ts.switchIDs[vu.Name] && vu.Status.ProjectID == vpnapitest.DefaultProjectID
	}
	projectMismatch := ts.await("switched VpnUsers report ProjectMismatch", nsSwitched, switched, 2*time.Minute, mismatch)
	secondsToConverge := time.Since(batch).Seconds()

	// One switched VpnUser is deleted while its credentials are of the other project: it
	// keeps its finalizer (nothing is known of its user there) until they come back.
	deletedInMismatch := switched[0]
	ts.must(s.cp.Client.Delete(ctx, &vpnv1alpha1.VpnUser{ObjectMeta: metav1.ObjectMeta{Namespace: nsSwitched, Name: deletedInMismatch}}))
	stillMismatch := func(vu *vpnv1alpha1.VpnUser) bool {
		if vu != nil && vu.Name == deletedInMismatch {
			return !vu.DeletionTimestamp.IsZero() && controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer) &&
				vu.Status.ID == ts.switchIDs[vu.Name]
		}
		return mismatch(vu)
	}
	ts.hold("switched VpnUsers stay ProjectMismatch (the deleted one stays, with its finalizer)", nsSwitched, switched, 5*time.Second, stillMismatch)
	ts.killAfter(0, time.Second) // while the credentials are of the other project
	ts.hold("switched VpnUsers stay ProjectMismatch after a restart", nsSwitched, switched, 8*time.Second, stillMismatch)
	if _, found := s.fake.User(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID, ts.switchIDs[deletedInMismatch]); !found {
		ts.fail("the user of %s was deleted while its credentials were of the other project", deletedInMismatch)
	}
	for _, u := range s.fake.Users(project2, server2) {
		if strings.HasPrefix(u.Name, "switch-") {
			ts.fail("a second user %s (%s) was made in project 2 while the credentials were switched", u.Name, u.ID)
		}
	}

	// The claimed users keep the first VpnUsers' passwords; deleting the claimants leaves them.
	checkFirsts := func(when string) {
		for _, name := range firsts {
			if !s.fake.CheckPassword(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID, ts.firstIDs[name], tenantPassword(name)) {
				ts.fail("%s: the user %s (%s) no longer has the first VpnUser's password (or is gone)", when, name, ts.firstIDs[name])
			}
		}
	}
	checkFirsts("while claimed")
	ts.must(s.cp.Client.DeleteAllOf(ctx, &vpnv1alpha1.VpnUser{}, client.InNamespace(nsClaimants)))
	ts.await("second claimants gone", nsClaimants, claimants, time.Minute, func(vu *vpnv1alpha1.VpnUser) bool { return vu == nil })
	checkFirsts("after the claimants were deleted")
	ts.await("first VpnUsers still Ready with their ids", nsRefusedAndFirst, firsts, time.Minute, func(vu *vpnv1alpha1.VpnUser) bool {
		return readyWithID(vu) && vu.Status.ID == ts.firstIDs[vu.Name]
	})

	// Back to the project of the users: followed again, same ids; the deleted one goes.
	ts.setCredentials(nsSwitched, vpnapitest.DefaultAccessKey, vpnapitest.DefaultSecretKey, vpnapitest.DefaultProjectID)
	resumed := ts.await("switched VpnUsers Ready again with the same id", nsSwitched, switched[1:], 2*time.Minute,
		func(vu *vpnv1alpha1.VpnUser) bool { return readyWithID(vu) && vu.Status.ID == ts.switchIDs[vu.Name] })
	ts.await("the switched VpnUser deleted in the mismatch gone", nsSwitched, switched[:1], time.Minute,
		func(vu *vpnv1alpha1.VpnUser) bool { return vu == nil })
	if _, found := s.fake.User(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID, ts.switchIDs[deletedInMismatch]); found {
		ts.fail("the user of %s outlived it once its credentials came back", deletedInMismatch)
	}
	for _, name := range switched[1:] {
		if !s.fake.CheckPassword(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID, ts.switchIDs[name], tenantPassword(name)) {
			ts.fail("the user of switched VpnUser %s (%s) lost its password or is gone", name, ts.switchIDs[name])
		}
	}

	// The restarts since made every corrected refusal try its create again: each must come
	// back to NameConflict, without a finalizer.
	nameConflicts = min(nameConflicts, ts.await("corrected refusals still NameConflict after the restarts", nsRefusedAndFirst, refused,
		30*time.Second, nameConflict))

	// 4. Everything goes (an operator SIGKILL among the deletions).
	beforeDeletion := s.fake.Calls()
	preserved := map[string]string{} // user id -> what makes it another's, checked before the final deletion
	for _, name := range firsts {
		if how := ts.touched(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID, ts.firstIDs[name], tenantPassword(name), writesOn(beforeDeletion)); how != "" {
			preserved[ts.firstIDs[name]] = fmt.Sprintf("the user %s of VpnUser %s/%s: %s", name, nsRefusedAndFirst, name, how)
		}
	}
	for _, name := range bystanders {
		if how := ts.touched(project2, server2, ts.bystanderIDs[name], tenantPassword(name), writesOn(beforeDeletion)); how != "" {
			preserved[ts.bystanderIDs[name]] = fmt.Sprintf("the user %s of VpnUser %s/%s: %s", name, nsProject2, name, how)
		}
	}
	deletionStart := time.Now()
	for _, ns := range []string{nsRefusedAndFirst, nsClaimants, nsSwitched, nsProject2} {
		ts.must(s.cp.Client.DeleteAllOf(ctx, &vpnv1alpha1.VpnUser{}, client.InNamespace(ns)))
	}
	ts.killAfter(200*time.Millisecond, 2*time.Second)
	gone := func(vu *vpnv1alpha1.VpnUser) bool { return vu == nil }
	ts.await("all VpnUsers of tenant-a gone", nsRefusedAndFirst, append(append([]string{}, refused...), firsts...), 3*time.Minute, gone)
	ts.await("all VpnUsers of tenant-s gone", nsSwitched, switched, time.Minute, gone)
	ts.await("all VpnUsers of tenant-p2 gone", nsProject2, bystanders, time.Minute, gone)
	secondsToDelete := time.Since(deletionStart).Seconds()
	stormSeconds := time.Since(stormStart).Seconds()
	s.fake.ClearFaults()

	// The count.
	calls := s.fake.Calls()
	writes := writesOn(calls)
	var touchedList []string
	for name, id := range ts.consoleIDs {
		if how := ts.touched(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID, id, consolePassword(name), writes); how != "" {
			touchedList = append(touchedList, fmt.Sprintf("the console user %s (%s): %s", name, id, how))
		}
	}
	for _, how := range preserved {
		touchedList = append(touchedList, how)
	}
	slices.Sort(touchedList)
	foreignUsersTouched := len(touchedList)

	consoleIDs := map[string]bool{}
	for _, id := range ts.consoleIDs {
		consoleIDs[strings.ToLower(id)] = true
	}
	var leaked []string
	for _, where := range [][2]string{{vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID}, {project2, server2}} {
		for _, u := range s.fake.Users(where[0], where[1]) {
			if !consoleIDs[strings.ToLower(u.ID)] {
				leaked = append(leaked, fmt.Sprintf("%s (%s) in project %s, created %s, token %s", u.Name, u.ID, where[0],
					u.CreatedAt.Format(time.TimeOnly), u.ClientToken))
			}
		}
	}
	usersLeaked := len(leaked)

	// No call with the other project's keys reached the users of project 1 (nor made one there).
	switchedIDs := map[string]bool{}
	for _, id := range ts.switchIDs {
		switchedIDs[strings.ToLower(id)] = true
	}
	var otherProject []string
	for _, c := range calls {
		if c.AccessKey == accessKey2 && (!strings.EqualFold(c.ServerID, server2) || switchedIDs[strings.ToLower(c.UserID)]) {
			otherProject = append(otherProject, fmt.Sprintf("%s %s status=%d at %s", c.Operation, c.Path, c.Status, c.Time.Format(time.TimeOnly)))
		}
	}
	// Users made in project 2: one per create token answered 201 (a replay has its token).
	tokensInProject2 := map[string]bool{}
	for _, c := range calls {
		if c.Operation == vpnapi.OpCreate && c.ProjectID == project2 && c.Status == 201 {
			tokensInProject2[c.ClientToken] = true
		}
	}
	createsInProject2 := len(tokensInProject2)

	s.op.Stop()
	log := readFile(t, s.opts.LogPath)
	panics := strings.Count(log, "panic:")
	secrets := []string{vpnapitest.DefaultSecretKey, secretKey2}
	for _, name := range append(append(append(append(append([]string{}, refused...), firsts...), claimants...), switched...), bystanders...) {
		secrets = append(secrets, tenantPassword(name))
	}
	secretsInLogs := len(leakcheck.Find(log, secrets))

	fmt.Printf("tenant: refusals=%d claimants=%d switched=%d bystanders=%d faultRate=%.0f%% operatorKills=%d storm=%.0fs | "+
		"foreignUsersTouched=%d usersLeaked=%d nameConflicts=%d/%d alreadyManaged=%d/%d projectMismatch=%d/%d "+
		"resumedSameID=%d/%d otherProjectCalls=%d createsInProject2=%d/%d refusalsSettledBeforeConsole=%d/%d "+
		"secretsInLogs=%d panics=%d secondsToConverge=%.1f secondsToDelete=%.1f totalSeconds=%.0f\n",
		tenantRefusals, tenantClaimants, tenantSwitched, tenantBystanders, 100*tenantFaultRate, ts.kills, stormSeconds,
		foreignUsersTouched, usersLeaked, nameConflicts, tenantRefusals, alreadyManaged, tenantClaimants, projectMismatch, tenantSwitched,
		resumed, tenantSwitched-1, len(otherProject), createsInProject2, tenantBystanders, refusalsSettled, tenantRefusals,
		secretsInLogs, panics, secondsToConverge, secondsToDelete, time.Since(begin).Seconds())

	if foreignUsersTouched != 0 {
		ts.fail("foreign users touched:\n  %s", strings.Join(touchedList, "\n  "))
	}
	if usersLeaked != 0 {
		ts.fail("cloud users left after their VpnUsers were deleted:\n  %s", strings.Join(leaked, "\n  "))
	}
	if len(otherProject) != 0 {
		ts.fail("calls with the other project's access key outside its server or on a switched user:\n  %s", strings.Join(otherProject, "\n  "))
	}
	if createsInProject2 != tenantBystanders {
		ts.fail("%d users created in project 2, want %d (its own VpnUsers')", createsInProject2, tenantBystanders)
	}
	if secretsInLogs != 0 || panics != 0 {
		ts.fail("secretsInLogs=%d panics=%d", secretsInLogs, panics)
	}
	if len(ts.fails) > 0 {
		t.Fatalf("tenant storm: %d expectations failed; operator log: %s", len(ts.fails), s.opts.LogPath)
	}
}

// keepLog copies the operator's log out of the test's temporary directory (removed when the
// test ends) when the test failed or CHAOS_KEEP_LOGS names a directory (default: the
// system's temporary directory), and says where.
func keepLog(t *testing.T, path, name string) {
	dir := os.Getenv("CHAOS_KEEP_LOGS")
	if !t.Failed() && dir == "" {
		return
	}
	if dir == "" {
		dir = os.TempDir()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Logf("keeping the operator log: %v", err)
		return
	}
	kept := filepath.Join(dir, name)
	if err := os.WriteFile(kept, data, 0o600); err != nil {
		t.Logf("keeping the operator log: %v", err)
		return
	}
	t.Logf("operator log kept at %s", kept)
}

// TestTenantLateConsoleUser is the tenant storm's first case made deterministic, in real
// time: a create refused for good (an unknown user group), a console user of that name made
// two seconds later, then the spec corrected, and the first attempt of the corrected create
// answered 500 (its retry, with the same idempotency token, is refused: the name exists).
// The retry's refusal shows that the first attempt made nothing (the same token with the
// same parameters returns the first call's result, API.md), so the VpnUser should report
// NameConflict, leave the console user alone, and leave it when deleted. (At 0b12e2a the
// VpnUser reported InvalidSpec, kept its finalizer and deleted the console user with
// itself; at 926fdf0 it took the console user, inside the ±2 minutes of a window opened by
// the 500, for its own.)
func TestTenantLateConsoleUser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := newSystem(t, ctx, twoProjectOptions(), "--default-credentials=none", "--sync-period", "30s")
	t.Cleanup(func() { keepLog(t, s.opts.LogPath, "tenant-late-console-operator.log") })
	ts := &tenantStorm{t: t, ctx: ctx, s: s}
	ts.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsRefusedAndFirst}})
	ts.create(credentialsSecret(nsRefusedAndFirst, vpnapitest.DefaultAccessKey, vpnapitest.DefaultSecretKey, vpnapitest.DefaultProjectID))
	const name = "late-console"
	one := []string{name}
	ts.vpnUser(nsRefusedAndFirst, name, vpnapitest.DefaultServerID, func(vu *vpnv1alpha1.VpnUser) { vu.Spec.UserGroupID = unknownGroup })
	ts.await("refused for good", nsRefusedAndFirst, one, time.Minute, func(vu *vpnv1alpha1.VpnUser) bool {
		return vu != nil && readyIs(vu, metav1.ConditionFalse, vpnv1alpha1.ReasonInvalidSpec) &&
			!controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer) && vu.Status.PendingCreate == nil
	})
	consoleID, err := s.fake.CreateUserOutOfBand(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID, name, consolePassword(name))
	ts.must(err)
	ts.must(sleepCtx(ctx, 2*time.Second))
	s.fake.InjectFault(vpnapitest.Fault{Operation: vpnapi.OpCreate, Status: 500, Code: "VPN.0002", Message: "internal error"})
	eventually(t, ctx, time.Minute, func() error {
		vu := &vpnv1alpha1.VpnUser{}
		if err := s.cp.Client.Get(ctx, client.ObjectKey{Namespace: nsRefusedAndFirst, Name: name}, vu); err != nil {
			return err
		}
		patch := client.MergeFrom(vu.DeepCopy())
		vu.Spec.UserGroupID = ""
		return s.cp.Client.Patch(ctx, vu, patch)
	})
	ts.await("NameConflict after the correction", nsRefusedAndFirst, one, 30*time.Second, func(vu *vpnv1alpha1.VpnUser) bool {
		return vu != nil && readyIs(vu, metav1.ConditionFalse, vpnv1alpha1.ReasonNameConflict) &&
			!controllerutil.ContainsFinalizer(vu, vpnv1alpha1.Finalizer)
	})
	ts.must(s.cp.Client.Delete(ctx, &vpnv1alpha1.VpnUser{ObjectMeta: metav1.ObjectMeta{Namespace: nsRefusedAndFirst, Name: name}}))
	ts.await("deleted", nsRefusedAndFirst, one, 3*time.Minute, func(vu *vpnv1alpha1.VpnUser) bool { return vu == nil })
	if how := ts.touched(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID, consoleID, consolePassword(name), writesOn(s.fake.Calls())); how != "" {
		ts.fail("the console user %s (%s) made after the refusal was touched: %s", name, consoleID, how)
	}
	if len(ts.fails) > 0 {
		t.Fatalf("%d expectations failed", len(ts.fails))
	}
}
