package entra

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// signingKey is one RSA key of the JWKS with the issuer it may sign for
// (Entra's "issuer" member: a template with {tenantid}, or one tenant's
// issuer; empty when the document has none).
type signingKey struct {
	key    *rsa.PublicKey
	issuer string
}

// KeySet caches the signing keys published at a JWKS URL. Keys are fetched
// on first use and again after MaxAge (Microsoft suggests checking every 24
// hours), and at once when a token names a key id the cache does not have
// (key rotation), but not more often than MinRefetch, so forged key ids
// cannot turn into a flood of requests. It is safe for concurrent use.
type KeySet struct {
	url        string
	client     *http.Client
	now        func() time.Time
	MaxAge     time.Duration
	MinRefetch time.Duration

	sf      singleflight.Group
	mu      sync.Mutex
	keys    map[string]signingKey
	fetched time.Time
}

// NewKeySet returns a key set for the JWKS at url, fetched with client.
func NewKeySet(url string, client *http.Client) *KeySet {
	return &KeySet{url: url, client: client, now: time.Now, MaxAge: 24 * time.Hour, MinRefetch: 10 * time.Second}
}

// errUnknownKey is returned when no published key has the token's key id.
var errUnknownKey = errors.New("the token is signed with a key that is not published in the JWKS")

// key returns the key with id kid, fetching the JWKS when the cache is
// empty, stale, or lacks kid.
func (s *KeySet) key(ctx context.Context, kid string) (signingKey, error) {
	s.mu.Lock()
	k, ok := s.keys[kid]
	age := s.now().Sub(s.fetched)
	s.mu.Unlock()
	if ok && age < s.MaxAge {
		return k, nil
	}
	if !ok && s.keys != nil && age < s.MinRefetch {
		return signingKey{}, errUnknownKey
	}
	if err := s.refresh(ctx); err != nil {
		if ok { // keep using a known key while the JWKS is unreachable
			return k, nil
		}
		return signingKey{}, err
	}
	s.mu.Lock()
	k, ok = s.keys[kid]
	s.mu.Unlock()
	if !ok {
		return signingKey{}, errUnknownKey
	}
	return k, nil
}

// refresh fetches the JWKS once for all concurrent callers.
func (s *KeySet) refresh(ctx context.Context) error {
	_, err, _ := s.sf.Do("jwks", func() (any, error) {
		keys, err := s.fetch(ctx)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.keys, s.fetched = keys, s.now()
		s.mu.Unlock()
		return nil, nil
	})
	return err
}

type jwksDoc struct {
	Keys []struct {
		Kty    string `json:"kty"`
		Use    string `json:"use"`
		Kid    string `json:"kid"`
		N      string `json:"n"`
		E      string `json:"e"`
		Issuer string `json:"issuer"`
	} `json:"keys"`
}

// KeyFetchError says the JWKS could not be fetched or used: the token may
// be fine, but it cannot be checked now (a transient condition).
type KeyFetchError struct {
	URL string
	Err error
}

func (e *KeyFetchError) Error() string {
	return "fetch signing keys from " + e.URL + ": " + e.Err.Error()
}
func (e *KeyFetchError) Unwrap() error { return e.Err }

func (s *KeySet) fetch(ctx context.Context) (map[string]signingKey, error) {
	keys, err := s.fetchKeys(ctx)
	if err != nil {
		return nil, &KeyFetchError{URL: s.url, Err: err}
	}
	return keys, nil
}

func (s *KeySet) fetchKeys(ctx context.Context) (map[string]signingKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var doc jwksDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	keys := map[string]signingKey{}
	for _, k := range doc.Keys {
		if k.Kty != "RSA" || k.Kid == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(n) < 256 || len(e) == 0 || len(e) > 4 {
			continue // malformed or shorter than 2048 bits: never trust it
		}
		keys[k.Kid] = signingKey{
			key:    &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())},
			issuer: k.Issuer,
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable RSA signing keys")
	}
	return keys, nil
}
