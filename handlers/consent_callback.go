package handlers

import (
	"log/slog"
	"net/http"

	"github.com/pitcher/connector/internal/signin"
)

// adminConsentCallback is AdminConsentCallback: GET /api/consent/callback,
// Entra's redirect after an administrator approved or refused the app. It
// shows what happened and what to do next; after an approval it sends the
// administrator through a sign-in, which records the approval if they are
// an administrator of that organisation.
func adminConsentCallback(logger *slog.Logger, s SignIn, l links) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !boundHere(w, r, s, l) {
			errorPage(w, r, logger, l, "AdminConsentCallback", errOtherBrowser)
			return
		}
		res, err := s.FinishConsent(r.Context(), r.URL.Query())
		if err != nil {
			errorPage(w, r, logger, l, "AdminConsentCallback", err)
			return
		}
		switch {
		case res.Next != "":
			redirectBound(w, s, l, res.Next)
		case res.NotConfirmed:
			renderPage(w, logger, http.StatusConflict, page{Title: "Approval not active yet", Class: "bad", body: "consent-unconfirmed",
				Tenant: res.TenantID, RetryURL: l.consent(res.TenantID)})
		default:
			renderPage(w, logger, http.StatusOK, refusedPage(res, l))
		}
	}
}

func approvedPage(tenant, approver string, l links) page {
	return page{Title: "Pitcher is approved for your organisation", Class: "ok", body: "consent-approved",
		Tenant: tenant, Name: approver, LoginURL: l.login()}
}

func refusedPage(res signin.ConsentResult, l links) page {
	p := page{Title: "Pitcher was not approved", Class: "bad", body: "consent-refused", Tenant: res.TenantID,
		RetryURL: l.consent(res.TenantID)}
	if e := res.Refusal; e != nil {
		p.ErrorCode, p.Description = e.Reason(), e.Explain() // never Entra's description: anyone can write it
		p.NotAdmin = e.Has(90094) || e.Has(90093) || e.Has(90095)
		p.Declined = e.Has(65004) && !p.NotAdmin
	}
	return p
}
