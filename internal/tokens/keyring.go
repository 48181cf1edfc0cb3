// Package tokens is the token vault: refresh tokens sealed with AES-256-GCM
// under a key ring, and TokenFor, which hands out access tokens for a user
// and a resource, refreshing (and persisting the rotated refresh token)
// when needed.
package tokens

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
)

// Key is one token-encryption key: 32 random bytes and a short id that is
// stored with every record it seals.
type Key struct {
	ID     string
	Secret []byte
}

// KeyRing seals with its active key and opens with any of its keys, so
// keys can be rotated: add a new key and make it active, and remove an old
// key only when no record sealed by it is left. It is safe for concurrent use.
type KeyRing struct {
	active string
	aeads  map[string]cipher.AEAD
}

// UnknownKeyError: a record was sealed with a key that is not configured.
type UnknownKeyError struct{ KeyID string }

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("the record was encrypted with key id %q, which is not in the configured key ring; add that key back to TOKEN_ENCRYPTION_KEYS", e.KeyID)
}

// ErrTampered: the sealed bytes or their binding (tenant and user) do not
// match; the record was altered or copied from another row.
var ErrTampered = errors.New("the sealed record does not open: it was altered or belongs to another row")

// NewKeyRing returns a key ring whose active key is active.
func NewKeyRing(active string, keys []Key) (*KeyRing, error) {
	r := &KeyRing{active: active, aeads: map[string]cipher.AEAD{}}
	for _, k := range keys {
		if len(k.Secret) != 32 {
			return nil, fmt.Errorf("key %q is %d bytes, want 32 (AES-256)", k.ID, len(k.Secret))
		}
		if _, dup := r.aeads[k.ID]; dup || k.ID == "" {
			return nil, fmt.Errorf("key id %q is empty or used twice", k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, err
		}
		r.aeads[k.ID] = aead
	}
	if r.aeads[active] == nil {
		return nil, fmt.Errorf("the active key %q is not among the keys", active)
	}
	return r, nil
}

// ActiveKeyID is the id of the key new records are sealed with.
func (r *KeyRing) ActiveKeyID() string { return r.active }

// Seal encrypts plaintext bound to aad with the active key; it returns the
// sealed bytes (random nonce, ciphertext, tag) and the key id to store.
func (r *KeyRing) Seal(plaintext, aad []byte) ([]byte, string) {
	return r.aeads[r.active].Seal(nil, nil, plaintext, aad), r.active
}

// Open decrypts sealed with key id, checking it is bound to aad. The error
// is an *UnknownKeyError or ErrTampered.
func (r *KeyRing) Open(keyID string, sealed, aad []byte) ([]byte, error) {
	aead := r.aeads[keyID]
	if aead == nil {
		return nil, &UnknownKeyError{KeyID: keyID}
	}
	out, err := aead.Open(nil, nil, sealed, aad)
	if err != nil {
		return nil, ErrTampered
	}
	return out, nil
}
