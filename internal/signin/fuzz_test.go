package signin

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/url"
	"testing"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/store/storetest"
	"github.com/pitcher/connector/internal/tokens"
)

// offlineEntra refuses every code and every confirmation, without a network.
type offlineEntra struct{}

func (offlineEntra) AuthCodeURL(r entra.AuthRequest) string {
	return "https://login.example/authorize?state=" + r.State
}
func (offlineEntra) AdminConsentURL(t, s, r, state string) string {
	return "https://login.example/adminconsent?state=" + state
}
func (offlineEntra) Exchange(context.Context, string, string, string, string, []string) (entra.Token, error) {
	return entra.Token{}, &entra.Error{Status: 400, Code: "invalid_grant", ErrorCodes: []int{9002313}}
}
func (offlineEntra) ClientCredentials(context.Context, string, string) (entra.Token, error) {
	return entra.Token{}, &entra.Error{Status: 400, Code: "unauthorized_client", ErrorCodes: []int{700016}}
}
func (offlineEntra) TenantID(context.Context, string) (string, error) {
	return "", &entra.Error{Status: 400, Code: "invalid_tenant", ErrorCodes: []int{90002}}
}

type refusingVerifier struct{}

func (refusingVerifier) VerifyIDToken(context.Context, string, string) (entra.IDClaims, error) {
	return entra.IDClaims{}, &entra.InvalidTokenError{Reason: "no"}
}

// FuzzCallbackQuery feeds arbitrary query strings to both callbacks, with
// the state of a live flow when useState is set. Whatever Entra (or an
// attacker) sends, the flows must not panic, must end in a result or an
// apperr of a kind a page can show, and must never store a connection or
// an approval. The seed corpus is in testdata/fuzz/FuzzCallbackQuery.
func FuzzCallbackQuery(f *testing.F) {
	for _, q := range []string{
		"code=abc&state=x",
		"error=access_denied&error_description=AADSTS65004%3a+User+declined+to+consent&admin_consent=True&state=x",
		"admin_consent=True&tenant=22222222-2222-4222-8222-222222222222&scope=https%3A%2F%2Fx%2F.default&state=x",
		"error=consent_required&error_description=AADSTS65001&state=x&state=y",
		"state=%00%ff&code=%0d%0a",
	} {
		f.Add(q, true)
		f.Add(q, false)
	}
	f.Fuzz(func(t *testing.T, raw string, useState bool) {
		ring, _ := tokens.NewKeyRing("k", []tokens.Key{{ID: "k", Secret: bytes.Repeat([]byte{1}, 32)}})
		ms := &memStore{flows: map[string]store.AuthFlow{}, tenants: map[string]store.Tenant{}, conns: storetest.NewConnections()}
		policy, _ := NewReturnToPolicy(nil)
		svc := New(Config{DiscoveryURL: discovery, ReturnTo: policy}, Deps{Entra: offlineEntra{}, IDs: refusingVerifier{},
			Flows: ms, Tenants: ms, Conns: ms.conns, Keys: ring, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		ctx := context.Background()
		q, err := url.ParseQuery(raw)
		if err != nil {
			return // the server's query parser drops what it cannot read; r.URL.Query() does the same
		}
		for _, kind := range []string{"login", "consent"} {
			var start string
			if kind == "login" {
				start, _ = svc.StartLogin(ctx, LoginRequest{})
			} else {
				start, _ = svc.StartConsent(ctx, "22222222-2222-4222-8222-222222222222")
			}
			if useState {
				u, _ := url.Parse(start)
				q.Set("state", u.Query().Get("state"))
			}
			if kind == "login" {
				r, err := svc.FinishLogin(ctx, q)
				if r.Outcome == Connected {
					t.Fatalf("FinishLogin(%q) connected", raw)
				}
				checkKind(t, err)
			} else {
				r, err := svc.FinishConsent(ctx, q)
				if r.Next != "" {
					t.Fatalf("FinishConsent(%q) went on to the administrator's sign-in without Entra's confirmation", raw)
				}
				checkKind(t, err)
			}
		}
		if ms.conns.Len() != 0 {
			t.Fatalf("query %q stored a connection", raw)
		}
		for id, tn := range ms.tenants {
			if tn.Consented() {
				t.Fatalf("query %q recorded an approval of %s", raw, id)
			}
		}
	})
}

func checkKind(t *testing.T, err error) {
	t.Helper()
	switch apperr.KindOf(err) {
	case "", apperr.Invalid, apperr.Unauthorized, apperr.Forbidden, apperr.Transient:
	default:
		t.Fatalf("error of kind %s: %v", apperr.KindOf(err), err)
	}
}
