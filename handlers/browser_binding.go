package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"

	"github.com/pitcher/connector/internal/apperr"
)

// flowCookieName names the cookie that binds the flow of state to a
// browser; one per flow, so flows in several tabs do not disturb each other.
func flowCookieName(state string) string {
	sum := sha256.Sum256([]byte(state))
	return "pitcher_flow_" + hex.EncodeToString(sum[:8])
}

// redirectBound redirects to Entra at u and gives the browser the cookie that
// binds u's flow (its state) to it.
func redirectBound(w http.ResponseWriter, s SignIn, l links, u string) {
	if p, err := url.Parse(u); err == nil {
		if state := p.Query().Get("state"); state != "" {
			http.SetCookie(w, &http.Cookie{Name: flowCookieName(state), Value: s.BindBrowser(state), Path: "/api/",
				MaxAge: 600, HttpOnly: true, Secure: strings.HasPrefix(l.base, "https://"), SameSite: http.SameSiteLaxMode})
		}
	}
	redirect(w, u)
}

// errOtherBrowser: the callback came to a browser that did not start its flow.
var errOtherBrowser = apperr.E(apperr.Invalid, "this sign-in was started in another browser, or more than 10 minutes ago; start again from the beginning, in this browser")

// boundHere checks that the callback r comes to the browser that started
// its flow, and clears that flow's cookie.
func boundHere(w http.ResponseWriter, r *http.Request, s SignIn, l links) bool {
	state := r.URL.Query().Get("state")
	c, err := r.Cookie(flowCookieName(state))
	if err != nil {
		return false
	}
	http.SetCookie(w, &http.Cookie{Name: c.Name, Value: "", Path: "/api/", MaxAge: -1, HttpOnly: true,
		Secure: strings.HasPrefix(l.base, "https://"), SameSite: http.SameSiteLaxMode})
	return s.BrowserBound(state, c.Value)
}
