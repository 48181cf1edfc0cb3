package signin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
)

// A flow's state travels in URLs anyone can copy and forward. BindBrowser
// and BrowserBound tie a flow to the browser that started it: only that
// browser receives a cookie whose value opens, with the app's keys, to the
// state's hash. A callback opened in another browser (an administrator
// lured to an attacker's copy of a consent link, a victim of login CSRF)
// is refused before its flow is touched.

var bindingAAD = []byte("pitcher-connector/browser-binding/v1")

// BindBrowser returns the cookie value that binds the flow of state to the
// browser it is set in. It is sealed, so it can be neither read nor forged.
func (s *Service) BindBrowser(state string) string {
	sum := sha256.Sum256([]byte(state))
	sealed, keyID := s.Keys.Seal(sum[:], bindingAAD)
	return keyID + "~" + base64.RawURLEncoding.EncodeToString(sealed)
}

// BrowserBound reports whether value, the cookie a callback came with, is
// BindBrowser's value for state.
func (s *Service) BrowserBound(state, value string) bool {
	keyID, enc, ok := strings.Cut(value, "~")
	if !ok || state == "" {
		return false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return false
	}
	got, err := s.Keys.Open(keyID, sealed, bindingAAD)
	if err != nil {
		return false
	}
	want := sha256.Sum256([]byte(state))
	return subtle.ConstantTimeCompare(got, want[:]) == 1
}
