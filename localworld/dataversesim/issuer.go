package dataversesim

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestIssuer signs RS256 access tokens and serves their JWKS, standing in
// for Entra ID in tests that run the simulator with token verification.
// Close it when done.
type TestIssuer struct {
	key    *rsa.PrivateKey
	kid    string
	server *httptest.Server
}

// NewTestIssuer generates a signing key and serves its JWKS on a loopback port.
func NewTestIssuer() (*TestIssuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	iss := &TestIssuer{key: key, kid: "sim-test-key"}
	doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": iss.kid,
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}}})
	iss.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	return iss, nil
}

// JWKSURL is the URL to give AuthOptions.JWKSURL.
func (i *TestIssuer) JWKSURL() string { return i.server.URL }

// Close stops the JWKS server.
func (i *TestIssuer) Close() { i.server.Close() }

// Token returns an access token for user oid of tenant tid with audience
// aud, issued at now and valid for ttl.
func (i *TestIssuer) Token(tid, oid, aud string, now time.Time, ttl time.Duration) string {
	claims := jwt.MapClaims{
		"iss": "https://sts.windows.net/" + tid + "/", "aud": aud, "tid": tid, "oid": oid,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(), "scp": "user_impersonation",
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = i.kid
	s, err := t.SignedString(i.key)
	if err != nil {
		panic("dataversesim: sign token: " + err.Error()) // cannot happen with an RSA key
	}
	return s
}
