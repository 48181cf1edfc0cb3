// Package obs is the connector's observability: the pseudonyms that stand
// for users in logs, the invocation scope every log line of an invocation
// carries, the slog handler that enforces both, and the counters logged in
// a form Application Insights can chart (docs/operations.md).
package obs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Pseudonyms turn users into stable pseudonyms for logs. A user's
// pseudonym is "u-" and the first 16 hex digits (64 bits) of
// HMAC-SHA256(key, "<tenant id>|<object id>"), ids lower-cased. Without the
// key nobody can tell whose a pseudonym is, nor compute one from an object
// id or UPN found elsewhere; with it (the handler, connectorctl) support
// turns a user into the pseudonym their log lines carry. The zero value
// has no key and must not be used.
type Pseudonyms struct{ key []byte }

// NewPseudonyms returns the pseudonyms made with key (LOG_PSEUDONYM_KEY).
func NewPseudonyms(key []byte) Pseudonyms {
	return Pseudonyms{key: append([]byte(nil), key...)}
}

// User returns the pseudonym of user (an Entra object id) of tenant.
func (p Pseudonyms) User(tenant, user string) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(strings.ToLower(tenant) + "|" + strings.ToLower(user)))
	return "u-" + hex.EncodeToString(m.Sum(nil))[:16]
}

// Tenant returns the pseudonym of a tenant id: "t-" and the first 16 hex
// digits of HMAC-SHA256(key, "tenant|<tenant id>"). The erasure audit names
// tenants by it, so an offboarded organisation's id is kept nowhere.
func (p Pseudonyms) Tenant(tenant string) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte("tenant|" + strings.ToLower(tenant)))
	return "t-" + hex.EncodeToString(m.Sum(nil))[:16]
}

// IsPseudonym reports whether s has the shape of a pseudonym.
func IsPseudonym(s string) bool {
	if len(s) != 18 || !strings.HasPrefix(s, "u-") {
		return false
	}
	_, err := hex.DecodeString(s[2:])
	return err == nil && strings.ToLower(s) == s
}
