package entrasim

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

// sessionCookie remembers who signed in last, like Entra's session cookie,
// so a second redirect (consent, then sign-in) needs no second pick.
const sessionCookie = "entrasim_session"

// pickUser decides who is signing in to the flow of app (a client id; ""
// for admin consent) in tenant (nil: any): login_hint naming a seeded user,
// else the session cookie (unless prompt asks for a fresh choice). ok is
// false when something was written instead: the picker, or one of Entra's
// answers through fail (the user cancelled: 65004; a silent request found
// nobody: 50058; the user is not of tenant: 50020). The caller holds s.mu.
func (s *Sim) pickUser(w http.ResponseWriter, r *http.Request, tenant *Tenant, app string, fail func(code string, aadsts int, msg string)) (*User, bool) {
	q := r.URL.Query()
	if q.Get("sim_cancel") != "" {
		fail("access_denied", 65004, "User declined to consent to access the app.")
		return nil, false
	}
	u := s.users[strings.ToLower(q.Get("login_hint"))]
	prompt := q.Get("prompt")
	if c, err := r.Cookie(sessionCookie); u == nil && err == nil && prompt != "login" && prompt != "select_account" {
		u = s.users[strings.ToLower(c.Value)]
	}
	switch {
	case u == nil && prompt == "none":
		fail("login_required", 50058, "A silent sign-in request was sent but no user is signed in.")
		return nil, false
	case u == nil:
		s.picker(w, r, tenant)
		return nil, false
	case tenant != nil && u.tenant != tenant:
		msg := "User account '" + u.UPN + "' from identity provider does not exist in tenant '" + tenant.Name + "'"
		if app != "" {
			msg += " and cannot access the application '" + app + "' in that tenant"
		}
		fail("access_denied", 50020, msg+".")
		return nil, false
	}
	return u, true
}

func setSession(w http.ResponseWriter, u *User) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: u.UPN, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

var pickerTmpl = template.Must(template.New("picker").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pick an account</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}li{margin:.4em 0}</style></head>
<body><h1>Pick an account</h1>
<p>Entra ID simulator: choose a seeded user to sign in as{{if .Tenant}} ({{.Tenant}}){{end}}.</p>
{{if .Hint}}<p>No seeded user is called <b>{{.Hint}}</b>.</p>{{end}}
<ul>{{range .Users}}<li><a href="{{.Link}}">{{.Name}}</a> &lt;{{.UPN}}&gt;{{if .Admin}} (administrator){{end}}</li>{{end}}</ul>
<p><a href="{{.Cancel}}">Cancel</a></p>
</body></html>`))

// picker lists the users who may sign in here, each a link to the same
// request with login_hint set.
func (s *Sim) picker(w http.ResponseWriter, r *http.Request, tenant *Tenant) {
	type entry struct {
		Name, UPN, Link string
		Admin           bool
	}
	var users []entry
	for _, t := range s.sortedTenants() {
		if tenant != nil && t != tenant {
			continue
		}
		for _, u := range t.Users {
			q := r.URL.Query()
			q.Set("login_hint", u.UPN)
			q.Del("prompt")
			users = append(users, entry{Name: u.Name, UPN: u.UPN, Admin: u.Admin, Link: r.URL.Path + "?" + q.Encode()})
		}
	}
	cq := r.URL.Query()
	cq.Set("sim_cancel", "1")
	name := ""
	if tenant != nil {
		name = tenant.Name
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = pickerTmpl.Execute(w, map[string]any{"Tenant": name, "Hint": r.URL.Query().Get("login_hint"), "Users": users,
		"Cancel": r.URL.Path + "?" + cq.Encode()})
}

// checkRequest resolves the tenant of the path and checks the client and
// its redirect URI, answering with Entra's own page when they are wrong.
// The caller holds s.mu.
func (s *Sim) checkRequest(w http.ResponseWriter, seg string, q url.Values) (*Tenant, *Client, bool) {
	tenant, ok := s.resolveTenant(seg)
	if !ok {
		errorPage(w, 90002, "Tenant '"+seg+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
		return nil, nil, false
	}
	client, ok := s.checkClient(w, q)
	return tenant, client, ok
}

// checkClient validates client_id and redirect_uri; errors that must not be
// redirected get Entra's own error page. The caller holds s.mu.
func (s *Sim) checkClient(w http.ResponseWriter, q url.Values) (*Client, bool) {
	id := q.Get("client_id")
	c := s.clients[id]
	if c == nil {
		errorPage(w, 700016, "Application with identifier '"+id+"' was not found in the directory.")
		return nil, false
	}
	redirect := q.Get("redirect_uri")
	for _, u := range c.RedirectURIs {
		if u == redirect {
			return c, true
		}
	}
	errorPage(w, 50011, "The redirect URI '"+redirect+"' specified in the request does not match the redirect URIs configured for the application '"+id+"'.")
	return nil, false
}
