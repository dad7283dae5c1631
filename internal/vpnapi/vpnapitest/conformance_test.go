package vpnapitest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

// The conformance table: every rule of API.md, tried through the real client against
// the fake, so that the two cannot drift apart.

const (
	otherProjectID = "1c9d2f7a4e6b4d3c8a5f0e1d2c3b4a59"
	otherAK        = "OTHERAKVPNUSEROPER01"
	otherSK        = "OtherSecretKeyOfTheVpnuserOperator000002"
	otherServerID  = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	certServerID   = "11111111-2222-4333-8444-555555555555"
	busyServerID   = "22222222-3333-4444-8555-666666666666"
	frozenServerID = "33333333-4444-4555-8666-777777777777"
	tempProjectID  = "2d0e3f8b5f7c4e4d9b6a1f2e3d4c5b6a"
	tempAK         = "TEMPAKVPNUSEROPERA01"
	tempSK         = "TempSecretKeyOfTheVpnuserOperator0000003"
	tempToken      = "temporary-security-token-value"
	tempServerID   = "44444444-5555-4666-8777-888888888888"
	unknownUUID    = "99999999-9999-4999-8999-999999999999"
	token1         = "5f1b3e2a-9c8d-4e7f-a6b5-c4d3e2f1a0b9"
	goodPassword   = "Passw0rd!1"
)

// conformanceOptions is the demo cloud plus servers in every state, a second project
// and a project with temporary credentials.
func conformanceOptions() vpnapitest.Options {
	opts := vpnapitest.DefaultOptions()
	p := &opts.Projects[0]
	p.Servers = append(p.Servers,
		vpnapitest.VPNServer{ID: certServerID, AuthType: vpnapitest.AuthCertificate, State: vpnapitest.StateActive},
		vpnapitest.VPNServer{ID: busyServerID, AuthType: vpnapitest.AuthLocalPassword, State: vpnapitest.StatePendingUpdate},
		vpnapitest.VPNServer{ID: frozenServerID, AuthType: vpnapitest.AuthLocalPassword, State: vpnapitest.StateFrozen},
	)
	opts.Projects = append(opts.Projects,
		vpnapitest.Project{ID: otherProjectID, AccessKey: otherAK, SecretKey: otherSK,
			Servers: []vpnapitest.VPNServer{{ID: otherServerID}}},
		vpnapitest.Project{ID: tempProjectID, AccessKey: tempAK, SecretKey: tempSK, SecurityToken: tempToken,
			Servers: []vpnapitest.VPNServer{{ID: tempServerID}}},
	)
	return opts
}

// env is one fake and a client of the default project.
type env struct {
	t      *testing.T
	fake   *vpnapitest.Server
	c      *vpnapi.Client
	ctx    context.Context
	userID string // made by a case's setup
}

var defaultCreds = vpnapi.StaticCredentials{
	AccessKey: vpnapitest.DefaultAccessKey, SecretKey: vpnapi.NewSecret(vpnapitest.DefaultSecretKey),
	ProjectID: vpnapitest.DefaultProjectID,
}

func newEnv(t *testing.T) *env {
	t.Helper()
	fake := vpnapitest.NewServer(conformanceOptions())
	t.Cleanup(fake.Close)
	e := &env{t: t, fake: fake, ctx: context.Background()}
	e.c = e.client(t)
	return e
}

// client makes a client of the fake; by default of the default project, with fast retries.
func (e *env) client(t *testing.T, mutate ...func(*vpnapi.Config)) *vpnapi.Client {
	t.Helper()
	cfg := vpnapi.Config{
		Endpoint: e.fake.URL, Credentials: defaultCreds,
		RetryBaseDelay: time.Millisecond, RetryMaxDelay: 2 * time.Second, Timeout: 5 * time.Second,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := vpnapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// clientOf makes a client with other credentials.
func (e *env) clientOf(ak, sk, projectID, token string) *vpnapi.Client {
	return e.client(e.t, func(cfg *vpnapi.Config) {
		cfg.Credentials = vpnapi.StaticCredentials{AccessKey: ak, SecretKey: vpnapi.NewSecret(sk),
			SecurityToken: vpnapi.NewSecret(token), ProjectID: projectID}
	})
}

// withClock lists users with a client whose clock is off by offset.
func (e *env) withClock(offset time.Duration) error {
	c := e.client(e.t, func(cfg *vpnapi.Config) { cfg.Now = func() time.Time { return time.Now().Add(offset) } })
	_, err := c.ListUsers(e.ctx, vpnapitest.DefaultServerID)
	return err
}

func (e *env) users() []vpnapitest.StoredUser {
	return e.fake.Users(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID)
}

func (e *env) create(name, password string) error {
	_, err := e.c.CreateUser(e.ctx, vpnapitest.DefaultServerID, vpnapi.CreateUserRequest{Name: name, Password: vpnapi.NewSecret(password)}, "")
	return err
}

func (e *env) createReq(req vpnapi.CreateUserRequest) error {
	_, err := e.c.CreateUser(e.ctx, vpnapitest.DefaultServerID, req, "")
	return err
}

// withUser is a setup that creates user001 and keeps its id.
func withUser(t *testing.T, e *env) {
	t.Helper()
	id, err := e.fake.CreateUserOutOfBand(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID, "user001", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	e.userID = id
}

func strp(s string) *string { return &s }

type conformanceCase struct {
	name  string
	setup func(t *testing.T, e *env)
	run   func(e *env) error
	// status and code expected; 0 means success.
	status int
	code   string
	// msg must be in the error text.
	msg string
	// check runs after, whatever the outcome.
	check func(t *testing.T, e *env)
	// mutates: the case may change the users even though it fails.
	mutates bool
}

func TestConformance(t *testing.T) {
	s := vpnapitest.DefaultServerID
	cases := []conformanceCase{
		// Create: the rules of each field.
		{name: "create valid", run: func(e *env) error {
			return e.createReq(vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(goodPassword),
				Description: "UserDescription1", UserGroupID: vpnapitest.DefaultGroupID})
		}, check: func(t *testing.T, e *env) {
			us := e.users()
			if len(us) != 1 || us[0].Name != "user001" || us[0].Password != goodPassword || us[0].UserGroupName != vpnapitest.DefaultGroupName ||
				us[0].Description != "UserDescription1" || us[0].PasswordHistory != 1 {
				t.Errorf("stored %+v", us)
			}
		}},
		{name: "name of 4 characters", run: func(e *env) error { return e.create("abcd", goodPassword) }},
		{name: "name of 32 characters", run: func(e *env) error { return e.create(strings.Repeat("a", 32), goodPassword) }},
		{name: "name with . _ -", run: func(e *env) error { return e.create("a.b_c-d", goodPassword) }},
		{name: "name of 3 characters", run: func(e *env) error { return e.create("abc", goodPassword) }, status: 400, code: vpnapi.CodeInvalidParameter, msg: "4 to 32"},
		{name: "name of 33 characters", run: func(e *env) error { return e.create(strings.Repeat("a", 33), goodPassword) }, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "name with a space", run: func(e *env) error { return e.create("user 01", goodPassword) }, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "name with non-ASCII", run: func(e *env) error { return e.create("usér001", goodPassword) }, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "empty name", run: func(e *env) error { return e.create("", goodPassword) }, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "reserved L3SW_ prefix", run: func(e *env) error { return e.create("l3sw_user", goodPassword) }, status: 400, code: vpnapi.CodeInvalidParameter, msg: "reserved"},
		{name: "reserved link", run: func(e *env) error { return e.create("LINK", goodPassword) }, status: 400, code: vpnapi.CodeInvalidParameter, msg: "reserved"},
		{name: "reserved Cascade", run: func(e *env) error { return e.create("cascade", goodPassword) }, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "reserved SecureNAT", run: func(e *env) error { return e.create("SECURENAT", goodPassword) }, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "reserved localbridge", run: func(e *env) error { return e.create("LocalBridge", goodPassword) }, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "reserved administrator", run: func(e *env) error { return e.create("Administrator", goodPassword) }, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "duplicate name", setup: withUser, run: func(e *env) error { return e.create("user001", "0ther-Passw0rd") },
			status: 400, code: vpnapi.CodeInvalidParameter, msg: "already exists"},
		{name: "password of 8", run: func(e *env) error { return e.create("user001", "abcdefg1") }},
		{name: "password of 32", run: func(e *env) error { return e.create("user001", strings.Repeat("aB", 16)) }},
		{name: "password with specials and a space", run: func(e *env) error { return e.create("user001", `~!@#$%^&*()-_=+\|[{}] a`) }},
		{name: "password with the other specials", run: func(e *env) error { return e.create("user001", `;:'",<.>/? a`) }},
		{name: "password of 7", run: func(e *env) error { return e.create("user001", "abcde1!") }, status: 400, code: vpnapi.CodeInvalidParameter, msg: "8 to 32"},
		{name: "password of 33", run: func(e *env) error { return e.create("user001", strings.Repeat("aB", 16)+"c") }, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "password of one class", run: func(e *env) error { return e.create("user001", "abcdefghij") }, status: 400, code: vpnapi.CodeInvalidParameter, msg: "two classes"},
		{name: "password is the name", run: func(e *env) error { return e.create("user0001", "user0001") }, status: 400, code: vpnapi.CodeInvalidParameter, msg: "user name"},
		{name: "password is the name reversed", run: func(e *env) error { return e.create("user0001", "1000resu") }, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "password with a tab", run: func(e *env) error { return e.create("user001", "Passw0rd\t") }, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "empty password", run: func(e *env) error { return e.create("user001", "") }, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "description of 64", run: func(e *env) error {
			return e.createReq(vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(goodPassword), Description: strings.Repeat("d", 64)})
		}},
		{name: "description of 65", run: func(e *env) error {
			return e.createReq(vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(goodPassword), Description: strings.Repeat("d", 65)})
		}, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "description with a space", run: func(e *env) error {
			return e.createReq(vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(goodPassword), Description: "a b"})
		}, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "unknown group", run: func(e *env) error {
			return e.createReq(vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(goodPassword), UserGroupID: unknownUUID})
		}, status: 400, code: vpnapi.CodeInvalidParameter, msg: "does not exist"},
		{name: "group that is not a UUID", run: func(e *env) error {
			return e.createReq(vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(goodPassword), UserGroupID: "group1"})
		}, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "quota of 500 users", setup: func(t *testing.T, e *env) {
			for i := range vpnapi.MaxUsersPerServer {
				if _, err := e.fake.CreateUserOutOfBand(vpnapitest.DefaultProjectID, s, fmt.Sprintf("user%04d", i), goodPassword); err != nil {
					t.Fatal(err)
				}
			}
		}, run: func(e *env) error { return e.create("oneTooMany", goodPassword) }, status: 400, code: vpnapi.CodeInvalidParameter, msg: "500"},

		// Servers.
		{name: "server id not a UUID", run: func(e *env) error {
			_, err := e.c.CreateUser(e.ctx, "not-a-uuid", vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(goodPassword)}, "")
			return err
		}, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "unknown server", run: func(e *env) error {
			_, err := e.c.ListUsers(e.ctx, unknownUUID)
			return err
		}, status: 404, code: vpnapi.CodeNotFound},
		{name: "server not LOCAL_PASSWORD", run: func(e *env) error {
			_, err := e.c.CreateUser(e.ctx, certServerID, vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(goodPassword)}, "")
			return err
		}, status: 400, code: vpnapi.CodeInvalidParameter, msg: "LOCAL_PASSWORD"},
		{name: "server pending: busy", run: func(e *env) error {
			_, err := e.c.CreateUser(e.ctx, busyServerID, vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(goodPassword)}, "")
			return err
		}, status: 400, code: vpnapi.CodeBusy},
		{name: "server frozen: forbidden", run: func(e *env) error {
			_, err := e.c.CreateUser(e.ctx, frozenServerID, vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(goodPassword)}, "")
			return err
		}, status: 403, code: vpnapi.CodeForbidden},
		{name: "reads allowed on a frozen server", run: func(e *env) error {
			_, err := e.c.ListUsers(e.ctx, frozenServerID)
			return err
		}},

		// Idempotency.
		{name: "same token, same parameters: same id, one user", run: func(e *env) error {
			req := vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(goodPassword), UserGroupID: vpnapitest.DefaultGroupID}
			id1, err := e.c.CreateUser(e.ctx, s, req, token1)
			if err != nil {
				return err
			}
			id2, err := e.c.CreateUser(e.ctx, s, req, token1)
			if err != nil {
				return err
			}
			if id1 != id2 || len(e.users()) != 1 || e.users()[0].ClientToken != token1 {
				return fmt.Errorf("ids %s %s, %d users", id1, id2, len(e.users()))
			}
			return nil
		}},
		{name: "same token, other parameters", run: func(e *env) error {
			if _, err := e.c.CreateUser(e.ctx, s, vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(goodPassword)}, token1); err != nil {
				return err
			}
			_, err := e.c.CreateUser(e.ctx, s, vpnapi.CreateUserRequest{Name: "user002", Password: vpnapi.NewSecret(goodPassword)}, token1)
			return err
		}, status: 400, code: vpnapi.CodeInvalidParameter, msg: "different parameters", mutates: true,
			check: func(t *testing.T, e *env) {
				if len(e.users()) != 1 {
					t.Errorf("%d users", len(e.users()))
				}
			}},
		{name: "token reused after its user was deleted gives the deleted id", run: func(e *env) error {
			req := vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(goodPassword)}
			id1, err := e.c.CreateUser(e.ctx, s, req, token1)
			if err != nil {
				return err
			}
			if err := e.c.DeleteUser(e.ctx, s, id1); err != nil {
				return err
			}
			id2, err := e.c.CreateUser(e.ctx, s, req, token1)
			if err != nil {
				return err
			}
			if id2 != id1 || len(e.users()) != 0 {
				return fmt.Errorf("ids %s %s, %d users", id1, id2, len(e.users()))
			}
			return nil
		}},
		{name: "token that is not a UUID", run: func(e *env) error {
			_, err := e.c.CreateUser(e.ctx, s, vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(goodPassword)}, "token-1")
			return err
		}, status: 400, code: vpnapi.CodeInvalidParameter, msg: "X-Client-Token"},

		// Show, update, delete, reset.
		{name: "show", setup: withUser, run: func(e *env) error {
			u, err := e.c.GetUser(e.ctx, s, e.userID)
			if err != nil {
				return err
			}
			if u.ID != e.userID || u.Name != "user001" || u.CreatedAt.IsZero() || u.CreatedAt.Location() != time.UTC || u.CreatedAt.Nanosecond()%int(time.Millisecond) != 0 {
				return fmt.Errorf("shown %+v", u)
			}
			return nil
		}},
		{name: "show unknown user", run: func(e *env) error {
			_, err := e.c.GetUser(e.ctx, s, unknownUUID)
			return err
		}, status: 404, code: vpnapi.CodeNotFound},
		{name: "show user id not a UUID", run: func(e *env) error {
			_, err := e.c.GetUser(e.ctx, s, "abc/def")
			return err
		}, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "update description and group", setup: withUser, run: func(e *env) error {
			u, err := e.c.UpdateUser(e.ctx, s, e.userID, vpnapi.UpdateUserRequest{Description: strp("new_desc"), UserGroupID: strp(vpnapitest.SecondGroupID)})
			if err != nil {
				return err
			}
			if u.Description != "new_desc" || u.UserGroupID != vpnapitest.SecondGroupID || u.UserGroupName != vpnapitest.SecondGroupName || u.UpdatedAt.Before(u.CreatedAt) {
				return fmt.Errorf("updated %+v", u)
			}
			return nil
		}},
		{name: "update only the description keeps the group", setup: func(t *testing.T, e *env) {
			withUser(t, e)
			e.fake.UpdateUserOutOfBand(vpnapitest.DefaultProjectID, s, e.userID, nil, strp(vpnapitest.DefaultGroupID))
		}, run: func(e *env) error {
			u, err := e.c.UpdateUser(e.ctx, s, e.userID, vpnapi.UpdateUserRequest{Description: strp("")})
			if err != nil {
				return err
			}
			if u.Description != "" || u.UserGroupID != vpnapitest.DefaultGroupID {
				return fmt.Errorf("updated %+v", u)
			}
			return nil
		}},
		{name: "update with no field is a no-op", setup: withUser, run: func(e *env) error {
			u, err := e.c.UpdateUser(e.ctx, s, e.userID, vpnapi.UpdateUserRequest{})
			if err == nil && u.ID != e.userID {
				return fmt.Errorf("updated %+v", u)
			}
			return err
		}},
		{name: "update invalid description", setup: withUser, run: func(e *env) error {
			_, err := e.c.UpdateUser(e.ctx, s, e.userID, vpnapi.UpdateUserRequest{Description: strp("no spaces allowed")})
			return err
		}, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "update unknown group", setup: withUser, run: func(e *env) error {
			_, err := e.c.UpdateUser(e.ctx, s, e.userID, vpnapi.UpdateUserRequest{UserGroupID: strp(unknownUUID)})
			return err
		}, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "update unknown user", run: func(e *env) error {
			_, err := e.c.UpdateUser(e.ctx, s, unknownUUID, vpnapi.UpdateUserRequest{Description: strp("x")})
			return err
		}, status: 404, code: vpnapi.CodeNotFound},
		{name: "delete", setup: withUser, run: func(e *env) error {
			if err := e.c.DeleteUser(e.ctx, s, e.userID); err != nil {
				return err
			}
			_, err := e.c.GetUser(e.ctx, s, e.userID)
			return err
		}, status: 404, code: vpnapi.CodeNotFound, mutates: true, check: func(t *testing.T, e *env) {
			if len(e.users()) != 0 {
				t.Error("the user is still there")
			}
		}},
		{name: "delete unknown user", run: func(e *env) error { return e.c.DeleteUser(e.ctx, s, unknownUUID) }, status: 404, code: vpnapi.CodeNotFound},
		{name: "reset password", setup: withUser, run: func(e *env) error {
			return e.c.ResetPassword(e.ctx, s, e.userID, vpnapi.NewSecret("N3w-Passw0rd"))
		}, check: func(t *testing.T, e *env) {
			if u := e.users()[0]; u.Password != "N3w-Passw0rd" || u.PasswordHistory != 2 {
				t.Errorf("stored %+v", u)
			}
		}},
		{name: "reset to the current password", setup: withUser, run: func(e *env) error {
			return e.c.ResetPassword(e.ctx, s, e.userID, vpnapi.NewSecret(goodPassword))
		}, status: 400, code: vpnapi.CodeInvalidParameter, msg: "last 5"},
		{name: "reset to the 5th last password refused, 6th accepted", setup: withUser, run: func(e *env) error {
			for i := 2; i <= 5; i++ {
				if err := e.c.ResetPassword(e.ctx, s, e.userID, vpnapi.NewSecret(fmt.Sprintf("Passw0rd!%d", i))); err != nil {
					return err
				}
			}
			// History: Passw0rd!1 .. Passw0rd!5.
			if err := e.c.ResetPassword(e.ctx, s, e.userID, vpnapi.NewSecret("Passw0rd!1")); !vpnapi.IsInvalid(err) {
				return fmt.Errorf("reuse of the 5th last: %v", err)
			}
			if err := e.c.ResetPassword(e.ctx, s, e.userID, vpnapi.NewSecret("Passw0rd!6")); err != nil {
				return err
			}
			return e.c.ResetPassword(e.ctx, s, e.userID, vpnapi.NewSecret("Passw0rd!1"))
		}},
		{name: "reset to a weak password", setup: withUser, run: func(e *env) error {
			return e.c.ResetPassword(e.ctx, s, e.userID, vpnapi.NewSecret("weak"))
		}, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "reset unknown user", run: func(e *env) error {
			return e.c.ResetPassword(e.ctx, s, unknownUUID, vpnapi.NewSecret(goodPassword))
		}, status: 404, code: vpnapi.CodeNotFound},

		// Signatures and credentials.
		{name: "wrong secret key", run: func(e *env) error {
			c := e.clientOf(vpnapitest.DefaultAccessKey, "wrong-secret", vpnapitest.DefaultProjectID, "")
			_, err := c.ListUsers(e.ctx, s)
			return err
		}, status: 401, code: vpnapi.CodeBadSignature, msg: "signature"},
		{name: "unknown access key", run: func(e *env) error {
			c := e.clientOf("NOSUCHAK", vpnapitest.DefaultSecretKey, vpnapitest.DefaultProjectID, "")
			_, err := c.ListUsers(e.ctx, s)
			return err
		}, status: 401, code: vpnapi.CodeBadSignature},
		{name: "date 20 minutes old", run: func(e *env) error {
			return e.withClock(-20 * time.Minute)
		}, status: 401, code: vpnapi.CodeBadSignature, msg: "15 minutes"},
		{name: "date 20 minutes ahead", run: func(e *env) error {
			return e.withClock(20 * time.Minute)
		}, status: 401, code: vpnapi.CodeBadSignature},
		{name: "date 14 minutes old", run: func(e *env) error {
			return e.withClock(-14 * time.Minute)
		}},
		{name: "key of another project", run: func(e *env) error {
			c := e.clientOf(otherAK, otherSK, vpnapitest.DefaultProjectID, "")
			_, err := c.ListUsers(e.ctx, s)
			return err
		}, status: 403, code: vpnapi.CodeForbidden},
		{name: "unknown project", run: func(e *env) error {
			c := e.clientOf(vpnapitest.DefaultAccessKey, vpnapitest.DefaultSecretKey, "ffffffffffffffffffffffffffffffff", "")
			_, err := c.ListUsers(e.ctx, s)
			return err
		}, status: 404, code: vpnapi.CodeNotFound},
		{name: "malformed project", run: func(e *env) error {
			c := e.clientOf(vpnapitest.DefaultAccessKey, vpnapitest.DefaultSecretKey, "project-1", "")
			_, err := c.ListUsers(e.ctx, s)
			return err
		}, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "temporary key with its token", run: func(e *env) error {
			c := e.clientOf(tempAK, tempSK, tempProjectID, tempToken)
			_, err := c.CreateUser(e.ctx, tempServerID, vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(goodPassword)}, token1)
			return err
		}, mutates: true},
		{name: "temporary key without its token", run: func(e *env) error {
			c := e.clientOf(tempAK, tempSK, tempProjectID, "")
			_, err := c.ListUsers(e.ctx, tempServerID)
			return err
		}, status: 401, code: vpnapi.CodeBadSignature},
		{name: "temporary key with a wrong token", run: func(e *env) error {
			c := e.clientOf(tempAK, tempSK, tempProjectID, "wrong-token")
			_, err := c.ListUsers(e.ctx, tempServerID)
			return err
		}, status: 401, code: vpnapi.CodeBadSignature},
		{name: "rotated keys: the old key is refused, the new one works", run: func(e *env) error {
			e.fake.SetCredentials(vpnapitest.DefaultProjectID, "NEWAK", "new-secret", "")
			if _, err := e.c.ListUsers(e.ctx, s); !vpnapi.IsAuth(err) {
				return fmt.Errorf("old key: %v", err)
			}
			_, err := e.clientOf("NEWAK", "new-secret", vpnapitest.DefaultProjectID, "").ListUsers(e.ctx, s)
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.setup != nil {
				tc.setup(t, e)
			}
			before := e.users()
			err := tc.run(e)
			expect(t, err, tc.status, tc.code, tc.msg)
			if err != nil && !tc.mutates && !reflect.DeepEqual(before, e.users()) {
				t.Errorf("a refused call changed the users: %d before, %d after", len(before), len(e.users()))
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

// expect checks that err is an APIError of status and code (nil when status is 0), whose
// text holds msg.
func expect(t *testing.T, err error, status int, code, msg string) {
	t.Helper()
	if status == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var ae *vpnapi.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v, want %d %s", err, status, code)
	}
	if ae.StatusCode != status || ae.Code != code {
		t.Fatalf("error %v, want %d %s", err, status, code)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %q does not say %q", err, msg)
	}
	if ae.RequestID == "" {
		t.Errorf("error %v has no request id", err)
	}
}

func TestConformancePagination(t *testing.T) {
	e := newEnv(t)
	const n = 250
	for i := range n {
		if _, err := e.fake.CreateUserOutOfBand(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID, fmt.Sprintf("user%04d", i), goodPassword); err != nil {
			t.Fatal(err)
		}
	}
	c := e.client(t, func(cfg *vpnapi.Config) { cfg.PageSize = 100 })
	users, err := c.ListUsers(e.ctx, vpnapitest.DefaultServerID)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != n {
		t.Fatalf("%d users, want %d", len(users), n)
	}
	for i, u := range users {
		if u.Name != fmt.Sprintf("user%04d", i) || (i > 0 && !u.CreatedAt.After(users[i-1].CreatedAt)) {
			t.Fatalf("user %d is %s created %v: not in created_at order", i, u.Name, u.CreatedAt)
		}
	}
	if got := e.fake.CountCalls(vpnapi.OpList); got != 3 {
		t.Fatalf("%d list calls, want 3 pages", got)
	}
	// The default page size lists them too.
	if users, err := e.c.ListUsers(e.ctx, vpnapitest.DefaultServerID); err != nil || len(users) != n {
		t.Fatalf("default page size: %d users, %v", len(users), err)
	}
	// An empty server lists as empty.
	if users, err := e.c.ListUsers(e.ctx, frozenServerID); err != nil || users == nil || len(users) != 0 {
		t.Fatalf("empty server: %v, %v", users, err)
	}
}

func TestConformanceThrottling(t *testing.T) {
	e := newEnv(t)
	e.fake.InjectFault(vpnapitest.Fault{Operation: vpnapi.OpList, Status: http.StatusTooManyRequests, RetryAfter: time.Second})
	start := time.Now()
	if _, err := e.c.ListUsers(e.ctx, vpnapitest.DefaultServerID); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("retried after %v, before Retry-After", d)
	}
	calls := e.fake.Calls()
	if len(calls) != 2 || calls[0].Status != 429 || calls[0].Code != vpnapi.CodeThrottled || calls[1].Status != 200 {
		t.Fatalf("calls %+v", calls)
	}

	// The fake's own QPS limit: a burst beyond it meets 429s that the client rides out.
	e.fake.ResetCalls()
	e.fake.SetQPS(5)
	for range 8 {
		if _, err := e.c.GetUser(e.ctx, vpnapitest.DefaultServerID, unknownUUID); !vpnapi.IsNotFound(err) {
			t.Fatalf("under throttling: %v", err)
		}
	}
	if e.fake.Stats()[vpnapi.OpShow][429] == 0 {
		t.Fatal("the fake never throttled")
	}

	// A Retry-After longer than the client waits is handed to the caller.
	e.fake.SetQPS(0)
	e.fake.InjectFault(vpnapitest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 10 * time.Second})
	_, err := e.c.ListUsers(e.ctx, vpnapitest.DefaultServerID)
	if !vpnapi.IsThrottled(err) || vpnapi.RetryAfter(err) != 10*time.Second {
		t.Fatalf("err %v, RetryAfter %v", err, vpnapi.RetryAfter(err))
	}
}

func TestConformanceFaultsRecovered(t *testing.T) {
	req := vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(goodPassword)}
	faults := []vpnapitest.Fault{
		{Status: 500},
		{Status: 503, Shape: vpnapitest.ShapeHTML},
		{Status: 502, Shape: vpnapitest.ShapeEmpty},
		{Status: 504, Shape: vpnapitest.ShapeText},
		{Status: 400, Code: vpnapi.CodeBusy, Shape: vpnapitest.ShapeCode},
		{Status: 400, Code: vpnapi.CodeRepeated, Shape: vpnapitest.ShapeError},
		{DropConnection: true},
		{LoseResponse: true},
		{Latency: 300 * time.Millisecond},
	}
	for _, f := range faults {
		t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
			e := newEnv(t)
			e.c = e.client(t, func(cfg *vpnapi.Config) { cfg.Timeout = 200 * time.Millisecond })
			f.Operation, f.Times = vpnapi.OpCreate, 2
			e.fake.InjectFault(f)
			id, err := e.c.CreateUser(e.ctx, vpnapitest.DefaultServerID, req, token1)
			if err != nil {
				t.Fatal(err)
			}
			us := e.users()
			if len(us) != 1 || us[0].ID != id {
				t.Fatalf("users %+v, id %s", us, id)
			}
			// Every operation survives the same fault.
			for _, op := range []string{vpnapi.OpShow, vpnapi.OpList, vpnapi.OpUpdate, vpnapi.OpDelete} {
				f.Operation = op
				e.fake.InjectFault(f)
			}
			if _, err := e.c.GetUser(e.ctx, vpnapitest.DefaultServerID, id); err != nil {
				t.Fatal(err)
			}
			if _, err := e.c.ListUsers(e.ctx, vpnapitest.DefaultServerID); err != nil {
				t.Fatal(err)
			}
			if _, err := e.c.UpdateUser(e.ctx, vpnapitest.DefaultServerID, id, vpnapi.UpdateUserRequest{Description: strp("d")}); err != nil {
				t.Fatal(err)
			}
			if err := e.c.DeleteUser(e.ctx, vpnapitest.DefaultServerID, id); err != nil {
				t.Fatal(err)
			}
			if len(e.users()) != 0 {
				t.Fatal("not deleted")
			}
		})
	}
}

func TestConformanceErrorShapes(t *testing.T) {
	for _, shape := range []string{vpnapitest.ShapeErrorCode, vpnapitest.ShapeCode, vpnapitest.ShapeError} {
		e := newEnv(t)
		e.fake.InjectFault(vpnapitest.Fault{Status: 403, Code: "VPN.0003", Message: "forbidden here", Shape: shape})
		_, err := e.c.ListUsers(e.ctx, vpnapitest.DefaultServerID)
		var ae *vpnapi.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 403 || ae.Code != "VPN.0003" || ae.Message != "forbidden here" || ae.RequestID == "" {
			t.Errorf("shape %s: %#v", shape, err)
		}
	}
	for _, shape := range []string{vpnapitest.ShapeHTML, vpnapitest.ShapeText, vpnapitest.ShapeEmpty} {
		e := newEnv(t)
		e.fake.InjectFault(vpnapitest.Fault{Status: 403, Shape: shape})
		_, err := e.c.ListUsers(e.ctx, vpnapitest.DefaultServerID)
		if !vpnapi.IsAuth(err) || strings.Contains(err.Error(), "<html>") || !strings.Contains(err.Error(), "request id") {
			t.Errorf("shape %s: %v", shape, err)
		}
	}
}

func TestConformanceCreateWithoutTokenNotRetried(t *testing.T) {
	e := newEnv(t)
	req := vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(goodPassword)}
	e.fake.InjectFault(vpnapitest.Fault{Operation: vpnapi.OpCreate, Status: 503})
	if _, err := e.c.CreateUser(e.ctx, vpnapitest.DefaultServerID, req, ""); !vpnapi.IsRetryable(err) {
		t.Fatalf("err %v", err)
	}
	if n := e.fake.CountCalls(vpnapi.OpCreate); n != 1 || len(e.users()) != 0 {
		t.Fatalf("%d creates, %d users", n, len(e.users()))
	}
	// A lost answer without a token: the user exists, the client does not know it; this
	// is why the operator always sends a token.
	e.fake.InjectFault(vpnapitest.Fault{Operation: vpnapi.OpCreate, LoseResponse: true})
	if _, err := e.c.CreateUser(e.ctx, vpnapitest.DefaultServerID, req, ""); err == nil {
		t.Fatal("a lost answer succeeded")
	}
	if n := e.fake.CountCalls(vpnapi.OpCreate); n != 2 || len(e.users()) != 1 {
		t.Fatalf("%d creates, %d users", n, len(e.users()))
	}
	// A reset is never retried either.
	id := e.users()[0].ID
	e.fake.InjectFault(vpnapitest.Fault{Operation: vpnapi.OpResetPassword, Status: 500})
	if err := e.c.ResetPassword(e.ctx, vpnapitest.DefaultServerID, id, vpnapi.NewSecret("N3w-Passw0rd")); !vpnapi.IsRetryable(err) {
		t.Fatalf("err %v", err)
	}
	if n := e.fake.CountCalls(vpnapi.OpResetPassword); n != 1 {
		t.Fatalf("%d resets", n)
	}
}

func TestConformanceFileCredentialsRotation(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	write := func(ak, sk string) {
		for name, v := range map[string]string{vpnapi.EnvAccessKey: ak, vpnapi.EnvSecretKey: sk, vpnapi.EnvProjectID: vpnapitest.DefaultProjectID} {
			if err := writeFile(dir, name, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(vpnapitest.DefaultAccessKey, vpnapitest.DefaultSecretKey)
	c := e.client(t, func(cfg *vpnapi.Config) { cfg.Credentials = vpnapi.NewFileCredentials(dir) })
	if _, err := c.ListUsers(e.ctx, vpnapitest.DefaultServerID); err != nil {
		t.Fatal(err)
	}
	e.fake.SetCredentials(vpnapitest.DefaultProjectID, "ROTATEDAK", "rotated-secret", "")
	write("ROTATEDAK", "rotated-secret")
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.ListUsers(e.ctx, vpnapitest.DefaultServerID)
		if err == nil {
			break
		}
		if !vpnapi.IsAuth(err) || time.Now().After(deadline) {
			t.Fatalf("rotated keys never used: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestNoSecretInErrorsOrCallLog runs failing and succeeding calls and checks that no
// password reaches an error text or the fake's call log.
func TestNoSecretInErrorsOrCallLog(t *testing.T) {
	e := newEnv(t)
	passwords := []string{"Leak-Check-0001", "leakcheckonly", "Leak-Check-0002"}
	var errs []error
	_, err := e.c.CreateUser(e.ctx, vpnapitest.DefaultServerID, vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(passwords[1])}, token1)
	errs = append(errs, err)
	id, err := e.c.CreateUser(e.ctx, vpnapitest.DefaultServerID, vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret(passwords[0])}, "")
	if err != nil {
		t.Fatal(err)
	}
	errs = append(errs, e.c.ResetPassword(e.ctx, vpnapitest.DefaultServerID, id, vpnapi.NewSecret(passwords[0])))
	e.fake.InjectFault(vpnapitest.Fault{LoseResponse: true})
	errs = append(errs, e.c.ResetPassword(e.ctx, vpnapitest.DefaultServerID, id, vpnapi.NewSecret(passwords[2])))
	_, err = e.clientOf(vpnapitest.DefaultAccessKey, "wrong", vpnapitest.DefaultProjectID, "").
		CreateUser(e.ctx, vpnapitest.DefaultServerID, vpnapi.CreateUserRequest{Name: "user002", Password: vpnapi.NewSecret(passwords[0])}, "")
	errs = append(errs, err)

	var texts []string
	for _, err := range errs {
		if err == nil {
			t.Fatal("a failing call succeeded")
		}
		texts = append(texts, fmt.Sprintf("%v|%+v|%#v", err, err, err))
	}
	texts = append(texts, fmt.Sprintf("%+v", e.fake.Calls()))
	for _, text := range texts {
		for _, pw := range append(passwords, vpnapitest.DefaultSecretKey) {
			if strings.Contains(text, pw) {
				t.Errorf("%q leaks in %s", pw, text)
			}
		}
	}
}
