package signin

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/tokens"
)

// LoginRequest is what a user's sign-in starts from.
type LoginRequest struct {
	ReturnTo   string // where to go afterwards; must be on the allow-list
	Org        string // a Dynamics environment URL chosen earlier, if any
	LoginHint  string // optional: the user's sign-in name
	DomainHint string // optional: the user's domain
}

// StartLogin begins a sign-in at the organizations authority with PKCE
// (S256), a nonce and a single-use state, and returns Entra's URL. Bad
// input is an Invalid error naming the parameter; nothing is stored then.
func (s *Service) StartLogin(ctx context.Context, r LoginRequest) (string, error) {
	var problems []apperr.Problem
	rt, err := s.cfg.ReturnTo.Check(r.ReturnTo)
	if err != nil {
		problems = append(problems, apperr.Problem{Field: "return_to", Message: err.Error()})
	}
	org, err := s.checkOrgURL(r.Org)
	if err != nil {
		problems = append(problems, apperr.Problem{Field: "org", Message: err.Error()})
	}
	if len(r.LoginHint) > 256 || len(r.DomainHint) > 253 {
		problems = append(problems, apperr.Problem{Field: "login_hint", Message: "is too long"})
	}
	if len(problems) > 0 {
		return "", apperr.InvalidProblems("the sign-in request is not valid", problems)
	}
	v, n := oauth2.GenerateVerifier(), randomString()
	state, err := s.newFlow(ctx, store.AuthFlow{Kind: kindLogin, Tenant: "organizations", ReturnTo: rt, Org: org}, flowSecret{Verifier: v, Nonce: n})
	if err != nil {
		return "", err
	}
	return s.Entra.AuthCodeURL(entra.AuthRequest{Tenant: "organizations", RedirectURI: s.cfg.LoginRedirectURI,
		Scopes: s.loginScopes(org), State: state, Nonce: n, Verifier: v, LoginHint: r.LoginHint, DomainHint: r.DomainHint}), nil
}

// loginScopes asks for the user's Dynamics environment when it is known,
// else for Global Discovery, which finds it. One resource per request.
func (s *Service) loginScopes(org string) []string {
	resource := s.cfg.DiscoveryURL
	if org != "" {
		resource = org
	}
	return append([]string{"openid", "profile"}, tokens.Scopes(resource)...)
}

// dynamicsDomains are the domains of Dynamics 365 environments in
// Microsoft's clouds: commercial and GCC (dynamics.com), GCC High
// (microsoftdynamics.us), DoD (appsplatform.us) and China (dynamics.cn).
var dynamicsDomains = []string{"dynamics.com", "microsoftdynamics.us", "appsplatform.us", "dynamics.cn"}

// checkOrgURL accepts only a Dynamics 365 environment as the resource of a
// sign-in, since the user's token for it is sent there: a host under one of
// dynamicsDomains, or of the same family as Global Discovery's (its host
// without the first label; any loopback host when Discovery is a local
// simulator). A crafted link can then not send a user's sign-in elsewhere.
func (s *Service) checkOrgURL(org string) (string, error) {
	if org == "" {
		return "", nil
	}
	u, err := url.Parse(org)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" ||
		!(u.Scheme == "https" || u.Scheme == "http" && entra.IsLoopback(u.Hostname())) || !s.isDynamicsHost(strings.ToLower(u.Hostname())) {
		return "", errors.New("must be a Dynamics 365 environment URL such as https://contoso.crm.dynamics.com")
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

func (s *Service) isDynamicsHost(host string) bool {
	disco, _ := url.Parse(s.cfg.DiscoveryURL)
	discoHost := strings.ToLower(disco.Hostname())
	if entra.IsLoopback(discoHost) && entra.IsLoopback(host) {
		return true // the local simulator
	}
	for _, d := range dynamicsDomains {
		if strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	// Global Discovery of another cloud: its host without the first label.
	_, family, _ := strings.Cut(discoHost, ".")
	return net.ParseIP(discoHost) == nil && strings.Contains(family, ".") && strings.HasSuffix(host, "."+family)
}

// Outcome says how a sign-in ended.
type Outcome int

const (
	// Connected: the connection is stored and the first sync queued.
	Connected Outcome = iota + 1
	// NeedsConsent: the user's organisation has not approved the app.
	NeedsConsent
	// ChooseEnvironment: the user can reach several environments.
	ChooseEnvironment
	// NoEnvironment: the user can reach no Dynamics environment.
	NoEnvironment
	// ApproverRecorded: the sign-in that follows an approval showed an
	// administrator of the approving tenant; the approval is recorded, with
	// who approved.
	ApproverRecorded
)

// LoginResult is the outcome of a sign-in, for the page that shows it.
type LoginResult struct {
	Outcome  Outcome
	TenantID string // "" when Entra did not say
	UserName string
	OrgURL   string
	ReturnTo string
	// Instances are the environments to choose from (ChooseEnvironment).
	Instances []Instance
	// EntraError is Entra's reason for NeedsConsent, if it gave one.
	EntraError *entra.Error
}

// FinishLogin handles Entra's redirect back from a sign-in: it redeems the
// code with the PKCE verifier, validates the ID token (nonce included),
// sends an unapproved tenant to admin consent, finds the user's Dynamics
// environment, calls WhoAmI, stores the connection and queues the first
// sync. Invalid input is an Invalid or Unauthorized error and changes nothing.
func (s *Service) FinishLogin(ctx context.Context, q url.Values) (LoginResult, error) {
	f, sec, err := s.takeFlow(ctx, q.Get("state"), kindLogin, kindConsentSignIn)
	if err != nil {
		return LoginResult{}, err
	}
	if e := entra.ParseRedirectError(q); e != nil {
		return s.signInRefused(f, e)
	}
	code := q.Get("code")
	if code == "" || len(code) > 8192 {
		return LoginResult{}, apperr.InvalidProblems("Entra's answer is not valid", []apperr.Problem{{Field: "code", Message: "missing or too long"}})
	}
	scopes := s.loginScopes(f.Org)
	if f.Kind == kindConsentSignIn {
		scopes = []string{"openid", "profile"}
	}
	tok, err := s.Entra.Exchange(ctx, f.Tenant, s.cfg.LoginRedirectURI, code, sec.Verifier, scopes)
	if err != nil {
		var e *entra.Error
		errors.As(err, &e)
		switch entra.Classify(err) {
		case entra.ConsentRequired, entra.Blocked:
			return s.signInRefused(f, e)
		case entra.ReauthRequired, entra.Other:
			return LoginResult{}, apperr.Wrap(apperr.Invalid, err, "Entra did not accept the sign-in (the code may have expired or been used); sign in again")
		case entra.ClientMisconfigured:
			return LoginResult{}, apperr.Wrap(apperr.Internal, err, "the app's Entra credentials are wrong")
		case entra.Throttled:
			return LoginResult{}, &apperr.Error{Kind: apperr.Throttled, Message: "Entra is busy; sign in again in a minute", RetryAfter: e.RetryAfter, Err: err}
		}
		return LoginResult{}, apperr.Wrap(apperr.Transient, err, "could not reach Entra; try again")
	}
	claims, err := s.IDs.VerifyIDToken(ctx, tok.IDToken, sec.Nonce)
	if err != nil {
		var it *entra.InvalidTokenError
		if errors.As(err, &it) {
			s.Logger.Warn("ID token rejected", "reason", it.Reason)
			return LoginResult{}, apperr.Wrap(apperr.Unauthorized, err, "the sign-in could not be verified ("+it.Reason+"); sign in again")
		}
		return LoginResult{}, apperr.Wrap(apperr.Transient, err, "could not verify the sign-in now; try again")
	}
	if f.Kind == kindConsentSignIn {
		return s.recordApprover(ctx, f, claims)
	}
	return s.connect(ctx, f, claims, tok)
}

// signInRefused turns an error redirect or a refusal at redemption into the
// admin-consent route (docs/reference/entra-multitenant-oauth.md §1.4:
// consent codes, or an access_denied without any AADSTS code, as when a user
// leaves "Need admin approval"), a Forbidden error for a Conditional Access
// block, or an Unauthorized error. What the person is told is Entra's code
// and fixed wording, never Entra's description (anyone can write it in a
// redirect).
func (s *Service) signInRefused(f store.AuthFlow, e *entra.Error) (LoginResult, error) {
	tid := ""
	if isGUID(f.Tenant) {
		tid = f.Tenant
	}
	if f.Kind == kindConsentSignIn {
		s.Logger.Warn("administrator's sign-in after an approval refused", "tenant", tid, "reason", e.Reason())
		return LoginResult{}, apperr.Wrap(apperr.Unauthorized, e, "the approval is not recorded: Entra did not sign in the administrator ("+e.Reason()+"); approve again and sign in with your administrator account")
	}
	switch class := entra.Classify(e); {
	case class == entra.ConsentRequired || e.Code == "access_denied" && len(e.ErrorCodes) == 0:
		s.Logger.Info("sign-in needs admin consent", "reason", e.Reason())
		return LoginResult{Outcome: NeedsConsent, TenantID: tid, EntraError: e}, nil
	case class == entra.Blocked:
		s.Logger.Warn("sign-in blocked by a Conditional Access policy", "reason", e.Reason())
		return LoginResult{}, &apperr.Error{Kind: apperr.Forbidden, Err: e,
			Message: e.Explain() + " (" + e.Reason() + ") Ask your IT administrator which policy applies, then sign in again."}
	}
	s.Logger.Warn("sign-in refused by Entra", "reason", e.Reason())
	return LoginResult{}, &apperr.Error{Kind: apperr.Unauthorized, Message: "Entra did not sign you in (" + e.Reason() + "): " + e.Explain(), Err: e}
}

// recordApprover records an approval once the sign-in that follows it
// shows an administrator of the approving tenant who may approve apps
// there (a directory role in wids): only then is Entra's answer, which
// anyone can forge, believed.
func (s *Service) recordApprover(ctx context.Context, f store.AuthFlow, c entra.IDClaims) (LoginResult, error) {
	if c.TenantID != f.Tenant {
		return LoginResult{}, apperr.E(apperr.Forbidden, "you signed in to tenant %s, but the approval was for tenant %s; nothing was recorded", c.TenantID, f.Tenant)
	}
	if !c.CanApproveForOrganisation() {
		s.Logger.Warn("approval not recorded: the signed-in user may not approve apps", "tenant", c.TenantID, "user", c.ObjectID,
			"directoryRolesInToken", len(c.DirectoryRoles))
		// The message names no one: it is logged as well as shown.
		return LoginResult{}, apperr.E(apperr.Forbidden, "the account you signed in with may not approve apps for the organisation, so the approval is not recorded; "+
			"an administrator (Global Administrator, Privileged Role Administrator, Cloud Application Administrator or Application Administrator) must approve and sign in")
	}
	// Who first: a row with an approver but no approval is not approved.
	if err := s.Tenants.RecordConsentedBy(ctx, c.TenantID, c.Name, c.ObjectID); err != nil {
		return LoginResult{}, apperr.Wrap(apperr.Transient, err, "could not record the approval; approve again")
	}
	if err := s.Tenants.RecordConsent(ctx, c.TenantID, s.ConsentScope(), s.now()); err != nil {
		return LoginResult{}, apperr.Wrap(apperr.Transient, err, "could not record the approval; approve again")
	}
	s.Logger.Info("admin consent recorded", "tenant", c.TenantID, "approver", c.ObjectID)
	return LoginResult{Outcome: ApproverRecorded, TenantID: c.TenantID, UserName: c.Name}, nil
}
