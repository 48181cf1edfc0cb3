package handlers

import (
	"bytes"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/pitcher/connector/internal/apperr"
)

//go:embed pages/pages.html
var pageFiles embed.FS

// pageTemplates renders the pages administrators and users see after a
// redirect from Entra. html/template escapes every echoed value.
var pageTemplates = template.Must(template.ParseFS(pageFiles, "pages/pages.html"))

// page is the data of every page; fields a page does not use stay empty.
type page struct {
	Title, Class, Tenant string
	body                 string
	Name, Scopes, Org    string
	ErrorCode            string
	Description          string
	NotAdmin, Declined   bool
	LoginURL, RetryURL   string
	ConsentURL           string
	Message              string
	Problems             []apperr.Problem
	Choices              []choice
}

type choice struct{ Name, URL, Link string }

// renderPage writes p with status. Pages are never cached, never framed, and
// send no Referer (their URL can carry a code or state).
func renderPage(w http.ResponseWriter, logger *slog.Logger, status int, p page) {
	t, err := pageTemplates.Clone()
	if err == nil {
		_, err = t.New("body").Parse(`{{template "body-` + p.body + `" .}}`)
	}
	var buf bytes.Buffer
	if err == nil {
		err = t.ExecuteTemplate(&buf, "layout", p)
	}
	if err != nil {
		logger.Error("render page", "page", p.body, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// links builds the absolute URLs pages offer.
type links struct{ base string }

func (l links) login() string { return l.base + "/api/login" }

func (l links) consent(tenant string) string {
	if tenant == "" {
		tenant = "organizations"
	}
	return l.base + "/api/consent/start?" + url.Values{"tenant": {tenant}}.Encode()
}

// errorPage shows err to a person: its safe message and problems, with the
// status of the one table (statusFor). Internal errors are described
// generically; their cause goes to the log only. The log line carries
// err.Error(), message and cause, so neither may name the person: messages
// say "you", and the logger (internal/obs) turns object ids into
// pseudonyms and hides e-mail addresses, such as the UPN in Entra's
// descriptions.
func errorPage(w http.ResponseWriter, r *http.Request, logger *slog.Logger, l links, function string, err error) {
	kind := apperr.KindOf(err)
	status, ok := statusFor[kind]
	if !ok {
		status = http.StatusInternalServerError
	}
	p := page{Title: "Something went wrong", Class: "bad", body: "error", LoginURL: l.login(), RetryURL: l.consent(""),
		Message: "An unexpected error occurred; it has been logged. Try again in a few minutes."}
	if e, ok := apperr.As(err); ok && kind != apperr.Internal {
		p.Message, p.Problems = e.Message, e.Problems
	}
	logger.LogAttrs(r.Context(), levelFor(err), "request refused", slog.String("function", function),
		slog.String("outcome", string(kind)), slog.String("error", err.Error()))
	renderPage(w, logger, status, p)
}
