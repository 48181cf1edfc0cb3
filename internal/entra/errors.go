package entra

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Error is an error answered by Entra: a token-endpoint error body
// (docs/reference/entra-multitenant-oauth.md §2.4) or an error redirect from
// /authorize or /adminconsent. Branch on Code and ErrorCodes, never on
// Description. Show a person Reason and Explain, never Description: in a
// redirect anyone can write it. It never contains a token or a code.
type Error struct {
	// Status is the HTTP status of a token-endpoint answer; 0 for a redirect.
	Status int
	// Code is the OAuth error ("invalid_grant", "access_denied", ...).
	Code string
	// Description is Entra's error_description ("AADSTS700082: ...").
	Description string
	// ErrorCodes are the AADSTS numbers: error_codes of the body, or the
	// AADSTS number at the start of Description.
	ErrorCodes []int
	// SubError, Claims, TraceID and CorrelationID are copied from the body.
	SubError      string
	Claims        string
	TraceID       string
	CorrelationID string
	// RetryAfter is the token endpoint's Retry-After, when it sent one.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("entra: ")
	b.WriteString(e.Code)
	if len(e.ErrorCodes) > 0 {
		fmt.Fprintf(&b, " (AADSTS%d)", e.ErrorCodes[0])
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " HTTP %d", e.Status)
	}
	if d := firstLine(e.Description); d != "" {
		b.WriteString(": ")
		b.WriteString(d)
	}
	return b.String()
}

// Has reports whether Entra answered with AADSTS code n.
func (e *Error) Has(n int) bool {
	for _, c := range e.ErrorCodes {
		if c == n {
			return true
		}
	}
	return false
}

// Reason is a short, stable description for logs and stored status:
// the OAuth error and the AADSTS code, e.g. "invalid_grant AADSTS700082".
func (e *Error) Reason() string {
	if len(e.ErrorCodes) > 0 {
		return e.Code + " AADSTS" + strconv.Itoa(e.ErrorCodes[0])
	}
	return e.Code
}

// Class is what a caller should do about an Entra error.
type Class int

const (
	// Other: not one of the classes below (a bug, a bad request); retrying
	// the same request will not help.
	Other Class = iota
	// ReauthRequired: the user's grant is gone (expired, revoked, MFA or a
	// Conditional Access check needed); only an interactive sign-in helps.
	ReauthRequired
	// ConsentRequired: the tenant (or user) has not approved the app.
	ConsentRequired
	// ClientMisconfigured: the app's own credentials or registration are
	// wrong (invalid_client, expired secret); an operator must act.
	ClientMisconfigured
	// Blocked: a policy blocks the sign-in (Conditional Access); retrying
	// or signing in again will not help until an administrator acts.
	Blocked
	// Transient: Entra failed (5xx, temporarily_unavailable, an answer
	// that is not OAuth's); retry later.
	Transient
	// Throttled: Entra is throttling the app (HTTP 429, AADSTS50196);
	// retry after RetryAfter, or later.
	Throttled
)

// consentCodes are the AADSTS codes that mean "not approved"
// (docs/reference/entra-multitenant-oauth.md §1.3).
var consentCodes = []int{65001, 65004, 90094, 90095, 90093, 90008, 650052, 500011, 700016, 900941, 900981}

// reauthCodes are the codes that end a grant: those of
// docs/reference/entra-multitenant-oauth.md §2.6, 700084 (a refresh token
// past its fixed lifetime, §2.5) and 50158 (an external security challenge
// not satisfied: the user must sign in interactively).
var reauthCodes = []int{700082, 70008, 50173, 70043, 50076, 50079, 50072, 50074, 50089, 700084, 50158}

// Classify says what to do about err. It looks at the OAuth error and the
// AADSTS codes, never the description text.
func Classify(err error) Class {
	var e *Error
	if !errors.As(err, &e) {
		return Other
	}
	switch {
	case e.Has(53003):
		return Blocked
	case e.Status == http.StatusTooManyRequests || e.Has(50196):
		return Throttled
	case anyOf(e, consentCodes) || e.Code == "consent_required":
		return ConsentRequired
	case e.Code == "invalid_client" || e.Has(7000215) || e.Has(7000222) || e.Has(700027):
		return ClientMisconfigured
	case anyOf(e, reauthCodes) || e.Code == "invalid_grant" || e.Code == "interaction_required" || e.Code == "login_required":
		return ReauthRequired
	case e.Code == "temporarily_unavailable" || e.Code == "server_error" || e.Code == codeInvalidResponse || e.Status >= 500:
		return Transient
	}
	return Other
}

func anyOf(e *Error, codes []int) bool {
	for _, c := range codes {
		if e.Has(c) {
			return true
		}
	}
	return false
}

// tokenErrorBody is Entra's token-endpoint error shape
// (docs/reference/entra-multitenant-oauth.md §2.4).
type tokenErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	SubError         string `json:"suberror"`
	Claims           string `json:"claims"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
}

// codeInvalidResponse is the Code of an answer that is not OAuth's (a
// proxy's page, a body without "error").
const codeInvalidResponse = "invalid_response"

// parseTokenError builds an *Error from a token-endpoint answer with the
// given status and headers. A body that is not Entra's JSON still yields an
// error naming the status.
func parseTokenError(status int, header http.Header, body []byte) *Error {
	var e *Error
	var b tokenErrorBody
	if json.Unmarshal(body, &b) != nil || b.Error == "" {
		code := "server_error"
		if status < 500 {
			code = codeInvalidResponse
		}
		e = &Error{Status: status, Code: code, Description: fmt.Sprintf("the token endpoint answered HTTP %d without an OAuth error body", status)}
	} else {
		e = &Error{Status: status, Code: b.Error, Description: b.ErrorDescription, ErrorCodes: b.ErrorCodes,
			SubError: b.SubError, Claims: b.Claims, TraceID: b.TraceID, CorrelationID: b.CorrelationID}
		if len(e.ErrorCodes) == 0 {
			e.ErrorCodes = codesFromDescription(b.ErrorDescription)
		}
	}
	e.RetryAfter = retryAfter(header.Get("Retry-After"))
	return e
}

// retryAfter reads a Retry-After value in seconds or as an HTTP date; 0
// when absent or unreadable.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// ParseRedirectError returns the error an /authorize or /adminconsent
// redirect carries in its query, or nil when it carries none. Anyone can
// craft these values: an error code that is not a known OAuth one becomes
// "unknown_error", and the description is bounded and stripped of control
// characters; it is for logs only (pages show Reason and Explain).
func ParseRedirectError(q url.Values) *Error {
	code := q.Get("error")
	if code == "" {
		return nil
	}
	if _, ok := codeExplanations[code]; !ok {
		code = unknownCode
	}
	e := &Error{Code: code, Description: clean(q.Get("error_description"), 1024)}
	e.ErrorCodes = codesFromDescription(q.Get("error_description"))
	return e
}

var aadsts = regexp.MustCompile(`AADSTS(\d{4,7})`)

func codesFromDescription(d string) []int {
	m := aadsts.FindStringSubmatch(d)
	if m == nil {
		return nil
	}
	n, _ := strconv.Atoi(m[1])
	return []int{n}
}

// clean bounds s to max bytes and replaces control characters (CR, LF,
// escapes) with spaces, so an echoed value cannot forge log lines.
func clean(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	s = strings.ToValidUTF8(s, "?")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\r")
	s, _, _ = strings.Cut(s, "\n")
	return s
}
