package entra

import (
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

type mapClaims = jwt.MapClaims

func newParser() *jwt.Parser { return jwt.NewParser() }

func TestParseTokenError(t *testing.T) {
	body := `{"error":"invalid_grant","error_description":"AADSTS700082: The refresh token has expired due to inactivity.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2026-01-01 00:00:00Z","error_codes":[700082],"timestamp":"2026-01-01 00:00:00Z","trace_id":"t","correlation_id":"c","error_uri":"https://login.microsoftonline.com/error?code=700082"}`
	e := parseTokenError(400, nil, []byte(body))
	if e.Code != "invalid_grant" || !e.Has(700082) || e.TraceID != "t" || e.CorrelationID != "c" || Classify(e) != ReauthRequired {
		t.Errorf("parseTokenError = %+v", e)
	}
	if got := e.Error(); strings.Contains(got, "\n") || !strings.Contains(got, "AADSTS700082") {
		t.Errorf("Error() = %q, want one line naming the code", got)
	}
	for _, tc := range []struct {
		status int
		body   string
		code   string
		class  Class
	}{
		{502, `<html>Bad gateway</html>`, "server_error", Transient},
		{400, `not json`, "invalid_response", Transient},
		{429, `<html>Too many requests</html>`, "invalid_response", Throttled},
		{429, `{"error":"temporarily_unavailable","error_codes":[50196]}`, "temporarily_unavailable", Throttled},
		{400, `{"error":"invalid_grant","error_description":"AADSTS50196: The server terminated an operation because it encountered a client request loop."}`, "invalid_grant", Throttled},
		{400, `{"error":"invalid_request","error_codes":[900144]}`, "invalid_request", Other},
		{400, `{"error":"invalid_grant","error_description":"AADSTS50173: revoked"}`, "invalid_grant", ReauthRequired},
		{400, `{"error":"invalid_request","error_codes":[53003]}`, "invalid_request", Blocked},
		{401, `{"error":"invalid_client","error_codes":[7000222]}`, "invalid_client", ClientMisconfigured},
		{400, `{"error":"temporarily_unavailable"}`, "temporarily_unavailable", Transient},
	} {
		e := parseTokenError(tc.status, nil, []byte(tc.body))
		if e.Code != tc.code || Classify(e) != tc.class {
			t.Errorf("parseTokenError(%d, %s) = %+v class %d, want %s class %d", tc.status, tc.body, e, Classify(e), tc.code, tc.class)
		}
	}
}

// TestParseRedirectError: the redirects of
// docs/reference/entra-multitenant-oauth.md §1.1-§1.4.
func TestParseRedirectError(t *testing.T) {
	tests := []struct {
		query string
		code  string
		aad   int
		class Class
	}{
		{"code=abc&state=s", "", 0, Other},
		{"error=access_denied&error_description=AADSTS65004%3a+User+declined+to+consent&admin_consent=True&state=s", "access_denied", 65004, ConsentRequired},
		{"error=consent_required&error_description=AADSTS65001%3A+not+consented", "consent_required", 65001, ConsentRequired},
		{"error=access_denied&error_description=AADSTS90094%3A+Admin+consent+is+required", "access_denied", 90094, ConsentRequired},
		{"error=interaction_required&error_description=AADSTS50076%3A+MFA", "interaction_required", 50076, ReauthRequired},
		{"error=permission_denied&error_description=The+admin+canceled+the+request", "permission_denied", 0, Other},
		{"error=%0d%0aforged+log+line&error_description=%1b[31mred", "unknown_error", 0, Other},
		{"error=call_0800_FRAUD_now&error_description=AADSTS65004", "unknown_error", 65004, ConsentRequired},
	}
	for _, tc := range tests {
		q, _ := url.ParseQuery(tc.query)
		e := ParseRedirectError(q)
		if tc.code == "" {
			if e != nil {
				t.Errorf("ParseRedirectError(%s) = %+v, want nil", tc.query, e)
			}
			continue
		}
		if e == nil || e.Code != tc.code || (tc.aad != 0 && !e.Has(tc.aad)) || Classify(e) != tc.class {
			t.Errorf("ParseRedirectError(%s) = %+v, want %q AADSTS%d class %d", tc.query, e, tc.code, tc.aad, tc.class)
		}
		if e != nil && strings.ContainsAny(e.Code+e.Description, "\r\n\x1b") {
			t.Errorf("ParseRedirectError(%s) kept control characters: %q", tc.query, e.Code+e.Description)
		}
	}
}

func TestAuthority(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://login.microsoftonline.com/", "https://login.microsoftonline.com"},
		{"http://127.0.0.1:7072", "http://127.0.0.1:7072"},
		{"http://login.example.com", ""},
		{"https://login.microsoftonline.com/common", ""},
		{"ftp://x", ""},
		{"https://login.microsoftonline.com?x=1", ""},
	} {
		a, err := NewAuthority(tc.in)
		if (err == nil) != (tc.want != "") || a.Host() != tc.want {
			t.Errorf("NewAuthority(%q) = %q, %v; want %q", tc.in, a.Host(), err, tc.want)
		}
	}
	a, _ := NewAuthority("https://login.microsoftonline.us")
	if a.TokenURL("organizations") != "https://login.microsoftonline.us/organizations/oauth2/v2.0/token" ||
		a.Issuer(contoso) != "https://login.microsoftonline.us/"+contoso+"/v2.0" ||
		a.AdminConsentURL(contoso) != "https://login.microsoftonline.us/"+contoso+"/v2.0/adminconsent" {
		t.Errorf("US Gov endpoints: %s %s %s", a.TokenURL("organizations"), a.Issuer(contoso), a.AdminConsentURL(contoso))
	}
}

// TestExplainNeverEchoesTheDescription: what a person is shown about an
// Entra error is fixed wording chosen by its codes; the description, which
// anyone can write into a redirect, never appears.
func TestExplainNeverEchoesTheDescription(t *testing.T) {
	const forged = "Your account is locked: call +1 555 0100 with your password"
	for _, tc := range []struct {
		query string
		want  string
	}{
		{"error=access_denied&error_description=AADSTS90094: " + forged, "needs an administrator"},
		{"error=access_denied&error_description=AADSTS53003: " + forged, "Conditional Access"},
		{"error=access_denied&error_description=" + forged, "denied or cancelled"},
		{"error=whatever&error_description=AADSTS1234567: " + forged, "refused the request"},
	} {
		q, _ := url.ParseQuery(strings.ReplaceAll(tc.query, " ", "+"))
		e := ParseRedirectError(q)
		got := e.Explain() + " " + e.Reason()
		if strings.Contains(got, "0100") || strings.Contains(got, "password") || !strings.Contains(e.Explain(), tc.want) {
			t.Errorf("ParseRedirectError(%s): Explain %q, Reason %q; want fixed wording with %q and nothing of the description", tc.query, e.Explain(), e.Reason(), tc.want)
		}
	}
}
