package tokens_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"golang.org/x/oauth2"

	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/tokens"
	"github.com/pitcher/connector/localworld/entrasim"
	"github.com/pitcher/connector/localworld/testenv"
)

const (
	clientID = "5a1c0f3e-7b2d-4c8e-9f10-2b3c4d5e6f70"
	contoso  = "11111111-1111-4111-8111-111111111111"
	bob      = "aaaaaaaa-0000-4000-8000-000000000003"
	dyn      = "https://contoso.crm.dynamics.com"
)

// connectBob signs Bob in at the simulator and stores his connection in
// Azurite, as the sign-in would.
func connectBob(t *testing.T) (*store.Connections, *entra.Client, *tokens.KeyRing, string) {
	t.Helper()
	ctx := context.Background()
	svc, err := aztables.NewServiceClientFromConnectionString(testenv.Storage(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := store.NewDB(svc, testenv.TablePrefix(t))
	if err := db.CreateTables(ctx, store.ConnectionsTable); err != nil {
		t.Fatal(err)
	}
	_, srv := entrasim.Start(t, entrasim.DefaultSeed())
	a, _ := entra.NewAuthority(srv.URL)
	client := entra.NewClient(a, clientID, "local-entra-sim-secret", srv.Client())
	scopes := []string{"openid", "profile", "offline_access", dyn + "/user_impersonation"}
	v := oauth2.GenerateVerifier()
	redirect := "http://127.0.0.1:7071/api/auth/callback"
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(client.AuthCodeURL(entra.AuthRequest{Tenant: "organizations", RedirectURI: redirect, Scopes: scopes,
		State: "s", Nonce: "n", Verifier: v, LoginHint: "bob@contoso.example"}))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	tok, err := client.Exchange(ctx, "organizations", redirect, loc.Query().Get("code"), v, scopes)
	if err != nil {
		t.Fatal(err)
	}
	ring, _ := tokens.NewKeyRing("k1", []tokens.Key{{ID: "k1", Secret: make([]byte, 32)}})
	conns := store.NewConnections(db)
	vault := tokens.NewVault(conns, client, ring, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sealed, kid := vault.SealRefreshToken(contoso, bob, tok.RefreshToken)
	if _, err := conns.Put(ctx, store.Connection{TenantID: contoso, UserID: bob, Status: store.StatusActive, RefreshToken: sealed, KeyID: kid}); err != nil {
		t.Fatal(err)
	}
	return conns, client, ring, srv.URL
}

// TestGrantRevokedBetweenSyncs: the first sync's refresh works; the user's
// grant is revoked; the next refresh marks the connection reauth_required
// with Entra's reason, in the real table.
func TestGrantRevokedBetweenSyncs(t *testing.T) {
	conns, client, ring, sim := connectBob(t)
	ctx := context.Background()
	vault := tokens.NewVault(conns, client, ring, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := vault.TokenFor(ctx, contoso, bob, dyn); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	resp, err := http.Post(sim+"/_sim/users/bob@contoso.example/revoke", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	vault.Forget(contoso, bob, dyn) // as after Dataverse answered 401
	_, err = vault.TokenFor(ctx, contoso, bob, dyn)
	var re *tokens.ReauthRequiredError
	if !errors.As(err, &re) || re.Reason != "invalid_grant AADSTS50173" {
		t.Fatalf("second sync = %v, want reauthorization required (AADSTS50173)", err)
	}
	c, err := conns.Get(ctx, contoso, bob)
	if err != nil || c.Status != store.StatusReauthRequired || c.StatusReason != "invalid_grant AADSTS50173" {
		t.Errorf("connection = %+v, %v; want reauth_required with the reason", c, err)
	}
}

// TestTwoProcessesRefreshAtOnce: two vaults (two workers) refresh the same
// user at once against Azurite; both get tokens, and the stored refresh
// token still works afterwards.
func TestTwoProcessesRefreshAtOnce(t *testing.T) {
	conns, client, ring, _ := connectBob(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := tokens.NewVault(conns, client, ring, slog.New(slog.NewTextHandler(io.Discard, nil)))
			_, errs[i] = v.TokenFor(ctx, contoso, bob, dyn)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	later := tokens.NewVault(conns, client, ring, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := later.TokenFor(ctx, contoso, bob, "https://fabrikam.crm.dynamics.com"); err != nil {
		t.Errorf("the stored refresh token no longer works: %v", err)
	}
}
