package entrasim

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"

	"github.com/google/uuid"
)

// tokenError is Entra's token-endpoint error body
// (docs/reference/entra-multitenant-oauth.md §2.4).
type tokenError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri"`
	SubError         string `json:"suberror,omitempty"`
	Claims           string `json:"claims,omitempty"`
}

func (s *Sim) newTokenError(code string, aadsts int, msg string) tokenError {
	trace, corr := uuid.NewString(), uuid.NewString()
	ts := s.now().UTC().Format("2006-01-02 15:04:05Z")
	return tokenError{
		Error:            code,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", aadsts, msg, trace, corr, ts),
		ErrorCodes:       []int{aadsts}, Timestamp: ts, TraceID: trace, CorrelationID: corr,
		ErrorURI: s.base + "/error?code=" + strconv.Itoa(aadsts),
	}
}

// writeTokenError answers a token request with Entra's error body. The
// caller holds s.mu.
func (s *Sim) writeTokenError(w http.ResponseWriter, status int, code string, aadsts int, msg string) {
	writeJSON(w, status, s.newTokenError(code, aadsts, msg))
}

// redirectError sends the browser back to the app with error and
// error_description (docs/reference/entra-multitenant-oauth.md §1.1, §2.2),
// plus extra parameters.
func (s *Sim) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state, code string, aadsts int, msg string, extra url.Values) {
	q := url.Values{}
	for k, v := range extra {
		q[k] = v
	}
	q.Set("error", code)
	q.Set("error_description", fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
		aadsts, msg, uuid.NewString(), uuid.NewString(), s.now().UTC().Format("2006-01-02 15:04:05Z")))
	q.Set("error_uri", s.base+"/error?code="+strconv.Itoa(aadsts))
	if state != "" {
		q.Set("state", state)
	}
	http.Redirect(w, r, appendQuery(redirectURI, q), http.StatusFound)
}

func appendQuery(u string, q url.Values) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	cur := p.Query()
	for k, v := range q {
		cur[k] = v
	}
	p.RawQuery = cur.Encode()
	return p.String()
}

var errorPageTmpl = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - error</title></head>
<body><h1>Sorry, but we're having trouble signing you in.</h1>
<p>AADSTS{{.Code}}: {{.Message}}</p>
<p><small>Entra ID simulator (local); the app was not redirected to, as Entra does for this error.</small></p>
</body></html>`))

// errorPage shows an error that must not be redirected to the app (an
// unknown client or a redirect URI that is not registered): Entra shows
// its own page then.
func errorPage(w http.ResponseWriter, aadsts int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = errorPageTmpl.Execute(w, struct {
		Code    int
		Message string
	}{aadsts, msg})
}
