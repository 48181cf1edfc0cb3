package tokens

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
)

func TestTokenForCachesUntilFiveMinutesBeforeExpiry(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	t1, err := f.vault.TokenFor(ctx, tenant, user, org)
	if err != nil || t1.Token != "at-1" {
		t.Fatalf("TokenFor = %+v, %v", t1, err)
	}
	if got := f.entra.scopes[0]; strings.Join(got, " ") != org+"/user_impersonation offline_access" {
		t.Errorf("refresh scopes = %v, want the resource's user_impersonation and offline_access", got)
	}
	if f.storedRT(t) != "rt-2" {
		t.Errorf("stored refresh token = %q, want the rotated rt-2", f.storedRT(t))
	}
	f.now = f.now.Add(54 * time.Minute) // 6 minutes left: still cached
	if t2, _ := f.vault.TokenFor(ctx, tenant, user, org); t2.Token != "at-1" || f.entra.count() != 1 {
		t.Errorf("TokenFor with 6 minutes left = %q after %d refreshes, want the cached at-1", t2.Token, f.entra.count())
	}
	f.now = f.now.Add(2 * time.Minute) // 4 minutes left: refreshed, with the rotated token
	if t3, _ := f.vault.TokenFor(ctx, tenant, user, org); t3.Token != "at-2" || f.entra.seen[1] != "rt-2" {
		t.Errorf("TokenFor with 4 minutes left = %q using %q, want at-2 from rt-2", t3.Token, f.entra.seen)
	}
	if strings.Contains(f.logs.String(), "rt-") || strings.Contains(f.logs.String(), "at-") {
		t.Errorf("the log contains a token:\n%s", f.logs)
	}
}

func TestConcurrentCallersShareOneRefresh(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	got := make([]string, 20)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := f.vault.TokenFor(context.Background(), tenant, user, org)
			if err != nil {
				t.Error(err)
			}
			got[i] = tok.Token
		}()
	}
	wg.Wait()
	if f.entra.count() != 1 {
		t.Errorf("20 concurrent callers caused %d refreshes, want 1", f.entra.count())
	}
	for i, g := range got {
		if g != "at-1" {
			t.Errorf("caller %d got %q, want at-1", i, g)
		}
	}
}

// TestTwoWorkersNeverLoseTheNewerToken: worker B reads the row, worker A
// refreshes and stores its rotated token meanwhile; B's write is refused
// (ETag) and A's token stays.
func TestTwoWorkersNeverLoseTheNewerToken(t *testing.T) {
	f := newFixture(t)
	a := NewVault(f.conns, &fakeEntra{answer: func(int, string) (entra.Token, error) {
		return entra.Token{AccessToken: "at-A", RefreshToken: "rt-A", ExpiresAt: f.now.Add(time.Hour)}, nil
	}}, f.ring, f.vault.logger)
	f.entra.answer = func(int, string) (entra.Token, error) {
		if _, err := a.TokenFor(context.Background(), tenant, user, org); err != nil { // A finishes first
			t.Error(err)
		}
		return entra.Token{AccessToken: "at-B", RefreshToken: "rt-B", ExpiresAt: f.now.Add(time.Hour)}, nil
	}
	tok, err := f.vault.TokenFor(context.Background(), tenant, user, org)
	if err != nil || tok.Token != "at-B" {
		t.Fatalf("worker B TokenFor = %+v, %v; want its own access token", tok, err)
	}
	if got := f.storedRT(t); got != "rt-A" {
		t.Errorf("stored refresh token = %q, want rt-A (written first; B's write must be refused)", got)
	}
}

func TestInvalidGrantMarksTheConnection(t *testing.T) {
	f := newFixture(t)
	f.entra.answer = func(int, string) (entra.Token, error) {
		return entra.Token{}, &entra.Error{Status: 400, Code: "invalid_grant", ErrorCodes: []int{700082}, Description: "AADSTS700082: expired"}
	}
	_, err := f.vault.TokenFor(context.Background(), tenant, user, org)
	var re *ReauthRequiredError
	if !errors.As(err, &re) || re.Reason != "invalid_grant AADSTS700082" {
		t.Fatalf("TokenFor = %v, want ReauthRequiredError with the reason", err)
	}
	c, _ := f.conns.Get(context.Background(), tenant, user)
	if c.Status != store.StatusReauthRequired || c.StatusReason != "invalid_grant AADSTS700082" || !c.StatusChangedAt.Equal(f.now) {
		t.Errorf("connection = %s %q %v, want reauth_required with the reason", c.Status, c.StatusReason, c.StatusChangedAt)
	}
	if _, err := f.vault.TokenFor(context.Background(), tenant, user, org); !errors.As(err, &re) || f.entra.count() != 1 {
		t.Errorf("TokenFor after the mark = %v after %d refreshes; want the same error without asking Entra again", err, f.entra.count())
	}
}

// TestInvalidGrantDuringAnErasure: an upload finishing while its user is
// erased may refresh the token; when Entra refuses it, the caller is told
// to sign in again, but the connection stays erasing, so the erasure goes
// on (reauth_required would hide it from its own continuations).
func TestInvalidGrantDuringAnErasure(t *testing.T) {
	f := newFixture(t)
	c, _ := f.conns.Get(context.Background(), tenant, user)
	c.Status = store.StatusErasing
	f.conns.Set(c)
	f.entra.answer = func(int, string) (entra.Token, error) {
		return entra.Token{}, &entra.Error{Status: 400, Code: "invalid_grant", ErrorCodes: []int{700082}, Description: "AADSTS700082: expired"}
	}
	_, err := f.vault.TokenFor(context.Background(), tenant, user, org)
	var re *ReauthRequiredError
	if !errors.As(err, &re) {
		t.Fatalf("TokenFor = %v, want ReauthRequiredError", err)
	}
	if c, _ := f.conns.Get(context.Background(), tenant, user); c.Status != store.StatusErasing {
		t.Errorf("connection = %s, want it still erasing", c.Status)
	}
}

// TestSignInDuringAFailedRefreshWins: the user signs in again while an old
// refresh token fails; the connection must stay active with the new token.
func TestSignInDuringAFailedRefreshWins(t *testing.T) {
	f := newFixture(t)
	f.entra.answer = func(n int, rt string) (entra.Token, error) {
		if rt == "rt-1" {
			f.connect("rt-fresh") // the new sign-in lands first
			return entra.Token{}, &entra.Error{Status: 400, Code: "invalid_grant", ErrorCodes: []int{50173}}
		}
		return entra.Token{AccessToken: "at-fresh", ExpiresAt: f.now.Add(time.Hour)}, nil
	}
	tok, err := f.vault.TokenFor(context.Background(), tenant, user, org)
	if err != nil || tok.Token != "at-fresh" {
		t.Fatalf("TokenFor = %+v, %v; want a token from the fresh sign-in", tok, err)
	}
	if c, _ := f.conns.Get(context.Background(), tenant, user); c.Status != store.StatusActive {
		t.Errorf("connection status = %s, want active", c.Status)
	}
}

func TestStoredTokenThatDoesNotOpenChangesNothing(t *testing.T) {
	for name, prepare := range map[string]func(f *fixture){
		"unknown key id": func(f *fixture) {
			other, _ := NewKeyRing("retired", []Key{key("retired", 9)})
			sealed, kid := other.Seal([]byte("rt-1"), aad(tenant, user))
			f.conns.Set(store.Connection{TenantID: tenant, UserID: user, Status: store.StatusActive, RefreshToken: sealed, KeyID: kid})
		},
		"copied from another user": func(f *fixture) {
			sealed, kid := f.vault.SealRefreshToken(tenant, "bbbbbbbb-0000-4000-8000-000000000002", "rt-other")
			f.conns.Set(store.Connection{TenantID: tenant, UserID: user, Status: store.StatusActive, RefreshToken: sealed, KeyID: kid})
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			prepare(f)
			before, _ := f.conns.Get(context.Background(), tenant, user)
			_, err := f.vault.TokenFor(context.Background(), tenant, user, org)
			var uk *UnknownKeyError
			if err == nil || !(errors.As(err, &uk) || errors.Is(err, ErrTampered)) {
				t.Fatalf("TokenFor = %v, want UnknownKeyError or ErrTampered", err)
			}
			after, _ := f.conns.Get(context.Background(), tenant, user)
			if f.entra.count() != 0 || after.ETag != before.ETag {
				t.Errorf("Entra asked %d times, row changed %s -> %s; want nothing", f.entra.count(), before.ETag, after.ETag)
			}
		})
	}
}

func TestTransientAndUnknownUser(t *testing.T) {
	f := newFixture(t)
	f.entra.answer = func(int, string) (entra.Token, error) {
		return entra.Token{}, &entra.Error{Status: 503, Code: "temporarily_unavailable"}
	}
	if _, err := f.vault.TokenFor(context.Background(), tenant, user, org); apperr.KindOf(err) != apperr.Transient {
		t.Errorf("TokenFor when Entra is down = %v (%s), want transient", err, apperr.KindOf(err))
	}
	if c, _ := f.conns.Get(context.Background(), tenant, user); c.Status != store.StatusActive {
		t.Errorf("connection status after a transient failure = %s, want active", c.Status)
	}
	if _, err := f.vault.TokenFor(context.Background(), tenant, "cccccccc-0000-4000-8000-000000000009", org); apperr.KindOf(err) != apperr.NotFound {
		t.Errorf("TokenFor of a user who never connected = %v, want not found", err)
	}
}

// TestEntraThrottlingIsNotARefusal: Entra's 429 (whatever its body) and its
// request-loop code AADSTS50196 mean "wait", not "the refresh was refused":
// an upload must not fail for good, and the connection stays active.
func TestEntraThrottlingIsNotARefusal(t *testing.T) {
	for _, answer := range []*entra.Error{
		{Status: 429, Code: "invalid_response", Description: "the token endpoint answered HTTP 429 without an OAuth error body", RetryAfter: 12 * time.Second},
		{Status: 400, Code: "invalid_grant", ErrorCodes: []int{50196}},
	} {
		f := newFixture(t)
		f.entra.answer = func(int, string) (entra.Token, error) { return entra.Token{}, answer }
		_, err := f.vault.TokenFor(context.Background(), tenant, user, org)
		ae, _ := apperr.As(err)
		if apperr.KindOf(err) != apperr.Throttled || ae.RetryAfter != answer.RetryAfter {
			t.Errorf("TokenFor when Entra answers %v = %v (%s), want throttled with Retry-After %s", answer, err, apperr.KindOf(err), answer.RetryAfter)
		}
		if c, _ := f.conns.Get(context.Background(), tenant, user); c.Status != store.StatusActive {
			t.Errorf("connection status after Entra throttled = %s, want active", c.Status)
		}
	}
}

// TestCallerStopsWaitingAtItsDeadline: a caller whose time is up stops
// waiting for a refresh Entra is slow to answer, while the refresh goes on;
// its rotated refresh token is stored and its access token served next.
func TestCallerStopsWaitingAtItsDeadline(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	answer := f.entra.answer
	f.entra.answer = func(n int, rt string) (entra.Token, error) {
		<-release
		return answer(n, rt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := f.vault.TokenFor(ctx, tenant, user, org)
	if apperr.KindOf(err) != apperr.Transient || !strings.Contains(err.Error(), "did not answer the refresh") {
		t.Fatalf("TokenFor past its deadline = %v, want a transient error saying Entra did not answer", err)
	}
	close(release)
	tok, err := f.vault.TokenFor(context.Background(), tenant, user, org)
	if err != nil || tok.Token != "at-1" || f.entra.count() != 1 {
		t.Errorf("TokenFor after the slow refresh finished = %q, %v with %d refreshes; want its token at-1 from that one refresh", tok.Token, err, f.entra.count())
	}
	if rt := f.storedRT(t); rt != "rt-2" {
		t.Errorf("stored refresh token = %q, want the rotated rt-2: the refresh finished after its caller left", rt)
	}
}
