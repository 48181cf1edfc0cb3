package entrasim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"

	"github.com/golang-jwt/jwt/v5"
)

// rotateKeys makes a new RSA key the active signing key. Old keys stay
// published (tokens they signed remain verifiable), unless retire is set.
// The caller holds s.mu or owns s exclusively.
func (s *Sim) rotateKeys(retire bool) error {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(priv.PublicKey.N.Bytes())
	k := signingKey{kid: base64.RawURLEncoding.EncodeToString(sum[:12]), priv: priv}
	if retire {
		s.keys = nil
	}
	s.keys = append(s.keys, k)
	return nil
}

// sign signs claims with the active key. The caller holds s.mu.
func (s *Sim) sign(claims jwt.MapClaims) string {
	k := s.keys[len(s.keys)-1]
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = k.kid
	raw, err := t.SignedString(k.priv)
	if err != nil {
		panic("entrasim: sign: " + err.Error()) // RSA signing of a valid key cannot fail
	}
	return raw
}

// SignToken signs arbitrary claims with the active key, for tests that need
// a token the real Entra would never issue (wrong issuer, expired, ...).
func (s *Sim) SignToken(claims map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sign(jwt.MapClaims(claims))
}

// Issuer returns the v2 issuer of tenant tid at this simulator.
func (s *Sim) Issuer(tid string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issuer(tid)
}

// jwks publishes every signing key with Entra's issuer template member.
func (s *Sim) jwks(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type jwk struct {
		Kty    string `json:"kty"`
		Use    string `json:"use"`
		Kid    string `json:"kid"`
		N      string `json:"n"`
		E      string `json:"e"`
		Issuer string `json:"issuer"`
	}
	keys := []jwk{}
	for _, k := range s.keys {
		keys = append(keys, jwk{Kty: "RSA", Use: "sig", Kid: k.kid,
			N:      base64.RawURLEncoding.EncodeToString(k.priv.PublicKey.N.Bytes()),
			E:      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.priv.PublicKey.E)).Bytes()),
			Issuer: s.base + "/{tenantid}/v2.0"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// metadata serves OpenID metadata: a tenant's own issuer, or the {tenantid}
// template for organizations and common
// (docs/reference/entra-multitenant-oauth.md §3.1).
func (s *Sim) metadata(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seg := r.PathValue("tenant")
	t, ok := s.resolveTenant(seg)
	if !ok {
		s.writeTokenError(w, http.StatusBadRequest, "invalid_tenant", 90002, "Tenant '"+seg+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
		return
	}
	issuer, path := s.base+"/{tenantid}/v2.0", seg
	if t != nil {
		issuer, path = s.issuer(t.ID), t.ID
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                issuer,
		"authorization_endpoint":                s.base + "/" + path + "/oauth2/v2.0/authorize",
		"token_endpoint":                        s.base + "/" + path + "/oauth2/v2.0/token",
		"jwks_uri":                              s.base + "/" + path + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"code_challenge_methods_supported":      []string{"plain", "S256"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nonce", "name", "preferred_username", "oid", "tid", "ver"},
		"tenant_region_scope":                   "EU",
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
