package handlers

import (
	"log/slog"
	"net/http"
	"net/url"

	"github.com/pitcher/connector/internal/signin"
)

// loginCallback is LoginCallback: GET /api/auth/callback, Entra's redirect
// after a sign-in. A connected user is sent to the allow-listed return_to
// (or shown a page); a user whose organisation has not approved the app is
// shown the way to admin consent; every failure gets a page that says what
// to do.
func loginCallback(logger *slog.Logger, s SignIn, l links) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !boundHere(w, r, s, l) {
			errorPage(w, r, logger, l, "LoginCallback", errOtherBrowser)
			return
		}
		res, err := s.FinishLogin(r.Context(), r.URL.Query())
		if err != nil {
			errorPage(w, r, logger, l, "LoginCallback", err)
			return
		}
		switch res.Outcome {
		case signin.Connected:
			if res.ReturnTo != "" {
				redirect(w, res.ReturnTo)
				return
			}
			renderPage(w, logger, http.StatusOK, page{Title: "Dynamics 365 is connected", Class: "ok", body: "connected",
				Tenant: res.TenantID, Name: res.UserName, Org: res.OrgURL})
		case signin.NeedsConsent:
			p := page{Title: "Your organisation has not approved Pitcher yet", Class: "bad", body: "needs-consent",
				Tenant: res.TenantID, Name: res.UserName, ConsentURL: l.consent(res.TenantID), LoginURL: l.login()}
			if res.EntraError != nil {
				p.Description = res.EntraError.Reason()
			}
			renderPage(w, logger, http.StatusForbidden, p)
		case signin.ChooseEnvironment:
			p := page{Title: "Choose your Dynamics 365 environment", body: "choose", Tenant: res.TenantID, Name: res.UserName}
			for _, in := range res.Instances {
				q := url.Values{"org": {in.OrgURL()}}
				if res.ReturnTo != "" {
					q.Set("return_to", res.ReturnTo)
				}
				name := in.FriendlyName
				if name == "" {
					name = in.UniqueName
				}
				p.Choices = append(p.Choices, choice{Name: name, URL: in.OrgURL(), Link: l.login() + "?" + q.Encode()})
			}
			renderPage(w, logger, http.StatusOK, p)
		case signin.NoEnvironment:
			renderPage(w, logger, http.StatusNotFound, page{Title: "No Dynamics 365 environment found", Class: "bad", body: "no-environment",
				Tenant: res.TenantID, Name: res.UserName, LoginURL: l.login()})
		case signin.ApproverRecorded:
			renderPage(w, logger, http.StatusOK, approvedPage(res.TenantID, res.UserName, l))
		default:
			errorPage(w, r, logger, l, "LoginCallback", errNotImplemented("LoginCallback outcome"))
		}
	}
}
