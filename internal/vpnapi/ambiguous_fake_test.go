package vpnapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

const fakeToken = "9d3c1c52-5a8e-4f7e-9d44-3f2a1b0c9e8d"

// TestMayHaveBeenAppliedAgainstTheFake drives the client against the fake cloud's faults.
func TestMayHaveBeenAppliedAgainstTheFake(t *testing.T) {
	tests := []struct {
		name    string
		faults  []vpnapitest.Fault
		applied bool
		wantErr func(error) bool // nil: success
		created bool             // whether the fake holds the user afterwards
	}{
		{
			name: "timeout then 400",
			faults: []vpnapitest.Fault{
				{Operation: vpnapi.OpCreate, Latency: 5 * time.Second},
				{Operation: vpnapi.OpCreate, Status: 400},
			},
			applied: true, wantErr: vpnapi.IsInvalid,
		},
		{
			name: "answer lost then 400: the user exists",
			faults: []vpnapitest.Fault{
				{Operation: vpnapi.OpCreate, LoseResponse: true},
				{Operation: vpnapi.OpCreate, Status: 400},
			},
			applied: true, wantErr: vpnapi.IsInvalid, created: true,
		},
		{
			// The fake did not perform it, but the client cannot tell a dropped connection
			// from a lost answer.
			name: "connection dropped then 403",
			faults: []vpnapitest.Fault{
				{Operation: vpnapi.OpCreate, DropConnection: true},
				{Operation: vpnapi.OpCreate, Status: 403},
			},
			applied: true, wantErr: vpnapi.IsAuth,
		},
		{
			name:    "400 alone",
			faults:  []vpnapitest.Fault{{Operation: vpnapi.OpCreate, Status: 400}},
			wantErr: vpnapi.IsInvalid,
		},
		{
			name: "429 then 400",
			faults: []vpnapitest.Fault{
				{Operation: vpnapi.OpCreate, Status: 429},
				{Operation: vpnapi.OpCreate, Status: 400},
			},
			wantErr: vpnapi.IsInvalid,
		},
		{
			name:    "503 then 201",
			faults:  []vpnapitest.Fault{{Operation: vpnapi.OpCreate, Status: 503}},
			created: true,
		},
		{
			name:    "500 alone",
			faults:  []vpnapitest.Fault{{Operation: vpnapi.OpCreate, Status: 500, Times: vpnapi.DefaultMaxRetries + 1}},
			applied: true, wantErr: vpnapi.IsRetryable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := vpnapitest.NewServer(vpnapitest.DefaultOptions())
			defer fake.Close()
			for _, f := range tt.faults {
				fake.InjectFault(f)
			}
			c, err := vpnapi.New(vpnapi.Config{
				Endpoint: fake.URL,
				Credentials: vpnapi.StaticCredentials{AccessKey: vpnapitest.DefaultAccessKey,
					SecretKey: vpnapi.NewSecret(vpnapitest.DefaultSecretKey), ProjectID: vpnapitest.DefaultProjectID},
				Timeout: 200 * time.Millisecond, RetryBaseDelay: time.Millisecond, RetryMaxDelay: 20 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now()
			_, err = c.CreateUser(context.Background(), vpnapitest.DefaultServerID,
				vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret("Passw0rd!")}, fakeToken)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr != nil && !tt.wantErr(err):
				t.Fatalf("error %v does not satisfy the predicate", err)
			}
			if got := vpnapi.MayHaveBeenApplied(err); got != tt.applied {
				t.Fatalf("MayHaveBeenApplied(%v) = %v, want %v", err, got, tt.applied)
			}
			if first, last, ok := vpnapi.AmbiguousAttempts(err); ok != tt.applied || (ok && (first.Before(before) || last.Before(first))) {
				t.Fatalf("AmbiguousAttempts = %v, %v, %v", first, last, ok)
			}
			if n := len(fake.Users(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID)); (n == 1) != tt.created || n > 1 {
				t.Fatalf("the fake holds %d users", n)
			}
		})
	}
}
