package entra

// explanations are fixed wordings of the AADSTS codes a person meets in the
// connector's flows (docs/reference/entra-multitenant-oauth.md §1.3, §2.6),
// for pages and stored refusals. Entra's error_description is never shown: in
// a redirect anyone can write it.
var explanations = map[int]string{
	65001:  "The app has not been approved for this organisation or this user yet.",
	65004:  "The approval was declined: Cancel was chosen on Entra ID's page.",
	90094:  "Approving the app needs an administrator; the account that signed in may not approve it.",
	90095:  "Your organisation asks users to request approval; an administrator must review the request first.",
	90093:  "A policy of your organisation does not let this account grant the permissions the app asks for.",
	90008:  "The app has not been approved to sign users in.",
	650052: "Your organisation does not have, or has not enabled, a service the app needs (such as Dynamics 365).",
	500011: "The service the app needs (Dynamics 365) is not set up in your organisation.",
	700016: "The app is not set up in your organisation yet.",
	900941: "Entra ID considers the app risky, so an administrator must approve it.",
	900981: "Entra ID considers the app risky, so an administrator must approve it.",
	50020:  "The account that signed in is not a member of this organisation.",
	53003:  "Your organisation's Conditional Access policies blocked this sign-in.",
	50058:  "Nobody is signed in to Entra ID in this browser.",
	50076:  "Your organisation requires multi-factor authentication for this; sign in again.",
	50079:  "Your organisation requires you to register for multi-factor authentication; sign in again.",
	50173:  "The sign-in was revoked (for example after a password change); sign in again.",
	700082: "The sign-in expired after a long time unused; sign in again.",
	70008:  "The sign-in expired; sign in again.",
	50196:  "Entra ID refused requests that repeated too often; wait a minute and try again.",
	90002:  "Entra ID knows no such organisation.",
}

// codeExplanations are fixed wordings of the OAuth error codes, for errors
// without a known AADSTS code. They are also the only codes a redirect's
// error keeps (ParseRedirectError).
var codeExplanations = map[string]string{
	"access_denied":              "The request was denied or cancelled.",
	"consent_required":           "Consent is needed before the app can be used.",
	"interaction_required":       "You need to sign in interactively.",
	"login_required":             "You need to sign in.",
	"account_selection_required": "You need to choose an account.",
	"invalid_request":            "Entra ID found the request invalid.",
	"invalid_resource":           "The resource the app asked for is not known in your organisation.",
	"invalid_scope":              "The permissions the app asked for are not valid.",
	"unauthorized_client":        "The app may not make this request in your organisation.",
	"unsupported_response_type":  "Entra ID does not support the kind of answer the app asked for.",
	"invalid_grant":              "The sign-in could not be completed; start again.",
	"invalid_client":             "The app's own credentials were refused; the connector's operators must fix this.",
	"server_error":               "Entra ID failed; try again in a few minutes.",
	"temporarily_unavailable":    "Entra ID is temporarily unavailable; try again in a few minutes.",
	"permission_denied":          "The administrator cancelled the approval.",
}

// unknownCode replaces an error code of a redirect that is not one of
// codeExplanations'.
const unknownCode = "unknown_error"

// Explain says what e means, in fixed wording chosen by its AADSTS code or
// else its OAuth error code; it never repeats Entra's description, which
// in a redirect anyone can write.
func (e *Error) Explain() string {
	for _, c := range e.ErrorCodes {
		if s, ok := explanations[c]; ok {
			return s
		}
	}
	if s, ok := codeExplanations[e.Code]; ok {
		return s
	}
	return "Entra ID refused the request."
}
