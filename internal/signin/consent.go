package signin

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
)

// StartConsent begins an administrator's approval for tenant (a tenant id,
// a domain, or organizations when unknown) and returns the URL of Entra's
// v2 admin-consent page. A domain is resolved to its tenant id first, so the
// flow is bound to a tenant whenever the administrator said which.
func (s *Service) StartConsent(ctx context.Context, tenant string) (string, error) {
	t, err := validTenantParam(tenant)
	if err != nil {
		return "", err
	}
	if t != "organizations" && !isGUID(t) {
		if t, err = s.tenantOfDomain(ctx, t); err != nil {
			return "", err
		}
	}
	state, err := s.newFlow(ctx, store.AuthFlow{Kind: kindConsent, Tenant: t}, flowSecret{})
	if err != nil {
		return "", err
	}
	s.Logger.Info("admin consent started", "tenant", t)
	return s.Entra.AdminConsentURL(t, s.ConsentScope(), s.cfg.ConsentRedirectURI, state), nil
}

// tenantOfDomain resolves a domain to its tenant id through Entra.
func (s *Service) tenantOfDomain(ctx context.Context, domain string) (string, error) {
	tid, err := s.Entra.TenantID(ctx, domain)
	var e *entra.Error
	switch {
	case errors.As(err, &e) && e.Status >= 400 && e.Status < 500:
		return "", apperr.InvalidProblems("the tenant is not valid", []apperr.Problem{{Field: "tenant",
			Message: "no organisation in Entra ID has the domain " + domain + "; use your tenant id or another verified domain"}})
	case err != nil:
		return "", apperr.Wrap(apperr.Transient, err, "could not look up the organisation of "+domain+"; try again")
	}
	return tid, nil
}

// ConsentResult is the outcome of Entra's answer to an approval. The
// approval is not recorded yet: Entra's answer can be forged by anyone who
// starts a flow (the bare tenant parameter proves nothing,
// docs/reference/entra-multitenant-oauth.md §1.1), and an app-only token
// for the tenant proves only that someone there used the app (same file,
// §1.3, AADSTS700016). It is recorded when the administrator's
// sign-in at Next shows who they are (FinishLogin, ApproverRecorded).
type ConsentResult struct {
	// TenantID is the approving or refusing tenant, when known.
	TenantID string
	// Refusal is Entra's error when the approval was refused or failed.
	Refusal *entra.Error
	// NotConfirmed: Entra reported success, but the app is not usable in
	// the tenant yet (consent can take a moment to take effect).
	NotConfirmed bool
	// Next, when set, is where to send the administrator: a sign-in to the
	// tenant that records the approval if they may approve apps there.
	Next string
}

// FinishConsent handles Entra's redirect back from admin consent. It trusts
// only its own single-use state, never the bare tenant parameter
// (docs/reference/entra-multitenant-oauth.md §1.1): the tenant must be the
// one the flow was bound to (when it was), and the app must be usable there
// (a client-credentials token). Then it sends the administrator to sign in to
// that tenant; nothing is recorded here but a refusal of a bound flow to a
// tenant without an approval (refused). An invalid state is an Invalid
// error and changes nothing.
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
		s.refused(ctx, f.Tenant, bound, e)
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
	v, n := oauth2.GenerateVerifier(), randomString()
	state, err := s.newFlow(ctx, store.AuthFlow{Kind: kindConsentSignIn, Tenant: tid}, flowSecret{Verifier: v, Nonce: n})
	if err != nil {
		return ConsentResult{}, err
	}
	s.Logger.Info("admin consent answered; the administrator signs in to record it", "tenant", tid)
	return ConsentResult{TenantID: tid, Next: s.Entra.AuthCodeURL(entra.AuthRequest{Tenant: tid, RedirectURI: s.cfg.LoginRedirectURI,
		Scopes: []string{"openid", "profile"}, State: state, Nonce: n, Verifier: v})}, nil
}

// refused logs a refused approval and, when the flow was bound to a tenant
// whose row holds no approval, notes it there for diagnostics. Anyone can
// start a flow and answer it with a made-up refusal, so it is noted nowhere
// else: no tenants row is created by it and no approval changed
// (store.Tenants.RecordRefusal). Entra's code and fixed wording only: the
// description of a redirect is anyone's to write. The person sees the
// refusal whether or not it could be noted.
func (s *Service) refused(ctx context.Context, flowTenant, bound string, e *entra.Error) {
	recorded := false
	if bound != "" {
		var err error
		if recorded, err = s.Tenants.RecordRefusal(ctx, bound, e.Reason(), e.Explain(), s.now()); err != nil {
			s.Logger.Warn("could not note the refused approval on the tenant", "tenant", bound, "error", err.Error())
		}
	}
	s.Logger.Warn("admin consent refused", "tenant", flowTenant, "reason", e.Reason(), "recorded", recorded)
}

func isGUID(s string) bool { return entra.IsGUID(s) }
