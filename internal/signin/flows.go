package signin

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/store"
)

// Flow kinds stored in authflows.
const (
	kindConsent       = "consent"        // an administrator approving the app
	kindConsentSignIn = "consent-signin" // the same administrator signing in, to record who approved
	kindLogin         = "login"          // a user connecting Dynamics
)

// flowSecret is the part of a flow sealed at rest.
type flowSecret struct {
	Verifier string `json:"v"`
	Nonce    string `json:"n"`
}

func flowAAD(state string) []byte {
	return []byte("pitcher-connector/authflow/v1|" + store.StateKey(state))
}

// newFlow stores a flow and returns its state. It also deletes a few flows
// that expired unused (abandoned sign-ins), so that unauthenticated starts
// cannot grow the table without bound; a failed sweep is only logged.
func (s *Service) newFlow(ctx context.Context, f store.AuthFlow, secret flowSecret) (string, error) {
	state := randomString()
	b, _ := json.Marshal(secret)
	f.Secret, f.KeyID = s.Keys.Seal(b, flowAAD(state))
	f.CreatedAt = s.now()
	f.ExpiresAt = f.CreatedAt.Add(flowTTL)
	if err := s.Flows.Create(ctx, state, f); err != nil {
		return "", apperr.Wrap(apperr.Transient, err, "could not start the flow; try again")
	}
	if n, err := s.Flows.Sweep(ctx, f.CreatedAt, sweepBatch); err != nil {
		s.Logger.Warn("could not delete expired auth flows", "error", err.Error())
	} else if n > 0 {
		s.Logger.Debug("deleted expired auth flows", "count", n)
	}
	return state, nil
}

// takeFlow redeems state once. A missing, used, expired or foreign state
// is an Invalid error that says what to do; nothing else changes.
func (s *Service) takeFlow(ctx context.Context, state string, kinds ...string) (store.AuthFlow, flowSecret, error) {
	if state == "" || len(state) > 128 {
		return store.AuthFlow{}, flowSecret{}, apperr.E(apperr.Invalid, "the request has no valid state; start again from the beginning")
	}
	f, err := s.Flows.Take(ctx, state, s.now())
	switch {
	case errors.Is(err, store.ErrExpired):
		return f, flowSecret{}, apperr.E(apperr.Invalid, "this link expired (it is valid for %d minutes); start again", int(flowTTL.Minutes()))
	case errors.Is(err, store.ErrNotFound):
		return f, flowSecret{}, apperr.E(apperr.Invalid, "this link was already used or was not issued by this app; start again")
	case err != nil:
		return f, flowSecret{}, apperr.Wrap(apperr.Transient, err, "could not read the flow; try again")
	}
	ok := false
	for _, k := range kinds {
		ok = ok || f.Kind == k
	}
	if !ok {
		return f, flowSecret{}, apperr.E(apperr.Invalid, "this state belongs to another kind of flow; start again")
	}
	var sec flowSecret
	if len(f.Secret) > 0 {
		b, err := s.Keys.Open(f.KeyID, f.Secret, flowAAD(state))
		if err != nil || json.Unmarshal(b, &sec) != nil {
			return f, flowSecret{}, apperr.Wrap(apperr.Invalid, err, "this flow's stored secrets do not open; start again")
		}
	}
	return f, sec, nil
}

// validTenantParam accepts a tenant id, a verified domain, or
// "organizations" (admin consent may not use "common":
// docs/reference/entra-multitenant-oauth.md §1.1).
func validTenantParam(t string) (string, error) {
	t = strings.ToLower(strings.TrimSpace(t))
	switch {
	case t == "" || t == "organizations":
		return "organizations", nil
	case t == "common" || t == "consumers":
		return "", apperr.E(apperr.Invalid, "tenant %q cannot approve an app; use your tenant id, your domain, or organizations", t)
	case len(t) == 36 && isGUID(t):
		return t, nil
	case len(t) <= 253 && strings.Contains(t, ".") && domainChars(t):
		return t, nil
	}
	return "", apperr.InvalidProblems("the tenant is not valid", []apperr.Problem{{Field: "tenant",
		Message: "must be a tenant id (GUID), a domain such as contoso.com, or organizations"}})
}

func domainChars(t string) bool {
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return !strings.HasPrefix(t, ".") && !strings.HasSuffix(t, ".") && !strings.Contains(t, "..")
}
