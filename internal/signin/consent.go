package signin

import (
	"context"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
)

// StartConsent begins an administrator's approval for tenant (a tenant id,
// a domain, or organizations when unknown) and returns the URL of Entra's
// v2 admin-consent page.
func (s *Service) StartConsent(ctx context.Context, tenant string) (string, error) {
	t, err := validTenantParam(tenant)
	if err != nil {
		return "", err
	}
	state, err := s.newFlow(ctx, store.AuthFlow{Kind: kindConsent, Tenant: t}, flowSecret{})
	if err != nil {
		return "", err
	}
	s.Logger.Info("admin consent started", "tenant", t)
	return s.Entra.AdminConsentURL(t, s.ConsentScope(), s.cfg.ConsentRedirectURI, state), nil
}

// ConsentResult is the outcome of an approval.
type ConsentResult struct {
	// Approved: Entra reported the approval and a token request for the
	// tenant confirmed it; it is recorded.
	Approved bool
	// TenantID is the approved or refusing tenant, when known.
	TenantID string
	// Refusal is Entra's error when the approval was refused or failed.
	Refusal *entra.Error
	// NotConfirmed: Entra reported success, but the app is not usable in
	// the tenant yet (consent can take a moment to take effect).
	NotConfirmed bool
	// Next, when set, is where to send the administrator: a sign-in that
	// records who approved.
	Next string
}

// FinishConsent handles Entra's redirect back from admin consent. It trusts
// only its own single-use state, never the bare tenant parameter (reference
// §1.1): the approval is confirmed with a client-credentials token request
// to the tenant before it is recorded. An invalid state is an Invalid error
// and changes nothing.
func (s *Service) FinishConsent(ctx context.Context, q url.Values) (ConsentResult, error) {
	f, _, err := s.takeFlow(ctx, q.Get("state"), kindConsent)
	if err != nil {
		return ConsentResult{}, err
	}
	bound := ""
	if isGUID(f.Tenant) {
		bound = f.Tenant
	}
	if e := entra.ParseRedirectError(q); e != nil {
		s.Logger.Warn("admin consent refused", "tenant", f.Tenant, "reason", e.Reason())
		if bound != "" {
			if err := s.Tenants.RecordRefusal(ctx, bound, e.Code, e.Description, s.now()); err != nil {
				return ConsentResult{}, apperr.Wrap(apperr.Transient, err, "could not record the refusal; try again")
			}
		}
		return ConsentResult{TenantID: bound, Refusal: e}, nil
	}
	tid := strings.ToLower(q.Get("tenant"))
	switch {
	case !strings.EqualFold(q.Get("admin_consent"), "true"):
		return ConsentResult{}, apperr.E(apperr.Invalid, "Entra's answer says neither approved nor refused (admin_consent is missing); start again")
	case !isGUID(tid):
		return ConsentResult{}, apperr.InvalidProblems("Entra's answer is not valid", []apperr.Problem{{Field: "tenant", Message: "must be the approving tenant's id (a GUID)"}})
	case bound != "" && tid != bound:
		s.Logger.Warn("admin consent answer names another tenant", "started", bound, "answered", tid)
		return ConsentResult{}, apperr.E(apperr.Invalid, "the approval was started for tenant %s but the answer names tenant %s; start again", bound, tid)
	}
	if _, err := s.Entra.ClientCredentials(ctx, tid, s.ConsentScope()); err != nil {
		if entra.Classify(err) == entra.ConsentRequired {
			s.Logger.Warn("admin consent not confirmed by Entra", "tenant", tid, "error", err.Error())
			return ConsentResult{TenantID: tid, NotConfirmed: true}, nil
		}
		return ConsentResult{}, apperr.Wrap(apperr.Transient, err, "could not confirm the approval with Entra; try again in a minute")
	}
	scopes := q.Get("scope")
	if len(scopes) > 1024 {
		scopes = scopes[:1024]
	}
	if scopes == "" {
		scopes = s.ConsentScope()
	}
	if err := s.Tenants.RecordConsent(ctx, tid, scopes, s.now()); err != nil {
		return ConsentResult{}, apperr.Wrap(apperr.Transient, err, "could not record the approval; try again")
	}
	s.Logger.Info("admin consent recorded", "tenant", tid)
	res := ConsentResult{Approved: true, TenantID: tid}
	// Entra does not say who approved; a sign-in of the same browser does.
	v, n := oauth2.GenerateVerifier(), randomString()
	state, err := s.newFlow(ctx, store.AuthFlow{Kind: kindConsentSignIn, Tenant: tid}, flowSecret{Verifier: v, Nonce: n})
	if err != nil {
		return res, nil // approved and recorded; only the name of the approver is lost
	}
	res.Next = s.Entra.AuthCodeURL(entra.AuthRequest{Tenant: tid, RedirectURI: s.cfg.LoginRedirectURI,
		Scopes: []string{"openid", "profile"}, State: state, Nonce: n, Verifier: v})
	return res, nil
}

func isGUID(s string) bool { return entra.IsGUID(s) }
