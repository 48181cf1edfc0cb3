package dataverse_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/tokens"
	"github.com/pitcher/connector/localworld/dataversesim"
)

// TestTokenSourceErrorKeepsItsKind: when the token source refuses (the user
// must sign in again, never connected, Entra refused), the client's error is
// the source's, not a transient "Dynamics could not be reached" that a
// worker would redeliver forever; nothing is sent to Dataverse.
func TestTokenSourceErrorKeepsItsKind(t *testing.T) {
	reauth := &tokens.ReauthRequiredError{TenantID: "t", UserID: "u", Reason: "invalid_grant AADSTS700082"}
	tests := []struct {
		name     string
		err      error
		wantKind apperr.Kind
		is       func(error) bool
	}{
		{"reauth required", reauth, apperr.Reauth, func(err error) bool { var r *tokens.ReauthRequiredError; return errors.As(err, &r) && r == reauth }},
		{"never connected", apperr.E(apperr.NotFound, "user u has not connected Dynamics"), apperr.NotFound, nil},
		{"Entra refused", apperr.Wrap(apperr.Permanent, errors.New("invalid_request"), "Entra refused the refresh"), apperr.Permanent, nil},
		{"Entra unavailable", apperr.E(apperr.Transient, "Entra is unavailable"), apperr.Transient, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, dataversesim.Options{Seed: 1})
			c := e.client(t, dataverse.TokenFunc(func(context.Context, bool) (string, error) { return "", tc.err }))
			_, err := c.WhoAmI(context.Background())
			if !errors.Is(err, tc.err) {
				t.Fatalf("WhoAmI = %v, want the token source's error %v", err, tc.err)
			}
			if got := apperr.KindOf(dataverse.AsAppError(err)); got != tc.wantKind {
				t.Errorf("KindOf(AsAppError(%v)) = %s, want the source's %s", err, got, tc.wantKind)
			}
			if de := (*dataverse.Error)(nil); errors.As(err, &de) {
				t.Errorf("WhoAmI = %v, a Dataverse failure: a token source's refusal is not Dataverse failing", err)
			}
			if tc.is != nil && !tc.is(err) {
				t.Errorf("errors.As cannot find the source's error in %v", err)
			}
			if n := e.sim.Requests(); n != 0 {
				t.Errorf("the simulator saw %d requests without a token", n)
			}
		})
	}
}
