package signin

import (
	"context"
	"errors"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/tokens"
)

// connect finishes a user's sign-in: approved tenant, refresh token stored
// (sealed), environment found, WhoAmI answered, connection active, first
// sync queued. Users are keyed by tenant id + object id
// (docs/reference/entra-multitenant-oauth.md §3.2).
func (s *Service) connect(ctx context.Context, f store.AuthFlow, c entra.IDClaims, tok entra.Token) (LoginResult, error) {
	tid, oid := c.TenantID, c.ObjectID
	obs.SetUser(ctx, tid, oid)
	log := s.Logger.With("tenant", tid, "user", oid)
	tenant, err := s.Tenants.Get(ctx, tid)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return LoginResult{}, apperr.Wrap(apperr.Transient, err, "could not read your organisation's approval; try again")
	}
	if !tenant.Consented() {
		log.Info("sign-in from a tenant that has not approved the app")
		return LoginResult{Outcome: NeedsConsent, TenantID: tid, UserName: c.Name}, nil
	}
	if tok.RefreshToken == "" {
		return LoginResult{}, apperr.E(apperr.Permanent, "Entra issued no refresh token (offline_access was not granted); the app cannot sync without one")
	}
	if err := s.storeRefreshToken(ctx, tid, oid, c.Name, tok.RefreshToken); err != nil {
		return LoginResult{}, err
	}
	first := s.cfg.DiscoveryURL
	if f.Org != "" {
		first = f.Org
	}
	s.Vault.Remember(tid, oid, first, tokens.AccessToken{Token: tok.AccessToken, ExpiresAt: tok.ExpiresAt})

	org := f.Org
	if org == "" {
		org = tenant.DynamicsURL
	}
	if org == "" {
		at, err := s.Vault.TokenFor(ctx, tid, oid, s.cfg.DiscoveryURL)
		if err != nil {
			return LoginResult{}, err
		}
		list, err := s.Dynamics.Instances(ctx, s.cfg.DiscoveryURL, at.Token)
		if err != nil {
			return LoginResult{}, apperr.Wrap(apperr.KindOf(err), err, "Global Discovery did not list your Dynamics environments; try again")
		}
		usable := list[:0]
		for _, in := range list {
			if in.OrgURL() != "" {
				usable = append(usable, in)
			}
		}
		switch len(usable) {
		case 0:
			log.Info("user can reach no Dynamics environment")
			return LoginResult{Outcome: NoEnvironment, TenantID: tid, UserName: c.Name}, nil
		case 1:
			org = usable[0].OrgURL()
		default:
			return LoginResult{Outcome: ChooseEnvironment, TenantID: tid, UserName: c.Name, ReturnTo: f.ReturnTo, Instances: usable}, nil
		}
	}
	at, err := s.Vault.TokenFor(ctx, tid, oid, org) // a refresh for the environment's resource
	if err != nil {
		return LoginResult{}, err
	}
	who, err := s.Dynamics.WhoAmI(ctx, org, at.Token)
	if err != nil {
		return LoginResult{}, apperr.Wrap(apperr.KindOf(err), err, "Dynamics did not recognise you at "+org+" (WhoAmI failed)")
	}
	connectedAt, err := s.activate(ctx, tid, oid, org, who.UserID)
	if err != nil {
		return LoginResult{}, err
	}
	if s.Queue == nil {
		log.Info("connection active; the scheduler will run its first sync")
	} else if err := s.Queue.EnqueueFirstSync(ctx, tid, oid, connectedAt); err != nil {
		log.Warn("could not queue the first sync; the scheduler will run it", "error", err.Error())
	}
	if s.Parked != nil {
		if err := s.Parked.ResumeParked(ctx, tid, oid); err != nil {
			log.Warn("could not resume parked uploads; they are resumed at the next sign-in", "error", err.Error())
		}
	}
	log.Info("connection active", "org", org)
	return LoginResult{Outcome: Connected, TenantID: tid, UserName: c.Name, OrgURL: org, ReturnTo: f.ReturnTo}, nil
}

// storeRefreshToken keeps the refresh token of a new sign-in. A working
// (active) connection keeps its status and environment until activate: a
// second sign-in that does not finish (several environments, WhoAmI
// failing, a crafted org=) must not stop its syncs. Only the token is
// merged in, on the row's ETag, re-read when it changed. Without a working
// connection the row is replaced by a pending one; a connection Entra ended
// (reauth_required) keeps its environment in it, so the user's uploads and
// changes go on being accepted (apiauth) while, or if, this sign-in does
// not finish, as they were while it was reauth_required.
func (s *Service) storeRefreshToken(ctx context.Context, tid, oid, name, rt string) error {
	sealed, keyID := s.Vault.SealRefreshToken(tid, oid, rt)
	for attempt := 0; attempt < 3; attempt++ {
		conn, err := s.Conns.Get(ctx, tid, oid)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return apperr.Wrap(apperr.Transient, err, "could not read the connection; sign in again")
		}
		if err == nil && conn.Status == store.StatusErasing {
			return apperr.E(apperr.Conflict, "your earlier disconnection from Dynamics 365 is still being completed; sign in again in a few minutes")
		}
		if err == nil && conn.Status == store.StatusActive {
			_, err = s.Conns.UpdateRefreshToken(ctx, tid, oid, sealed, keyID, conn.ETag)
		} else {
			now := s.now()
			next := store.Connection{TenantID: tid, UserID: oid, Status: store.StatusPending, StatusChangedAt: now,
				RefreshToken: sealed, KeyID: keyID, UserName: name, ConnectedAt: now}
			if err == nil {
				next.ETag = conn.ETag // replace only the row read: an erasure may have begun since
				if conn.Status == store.StatusReauthRequired {
					next.OrgURL, next.DataverseUserID = conn.OrgURL, conn.DataverseUserID
				}
			}
			_, err = s.Conns.Put(ctx, next)
		}
		if !errors.Is(err, store.ErrConflict) {
			if err != nil {
				return apperr.Wrap(apperr.Transient, err, "could not store the connection; sign in again")
			}
			return nil
		}
	}
	return apperr.E(apperr.Transient, "the connection kept changing while it was stored; sign in again")
}

// activate marks the connection active with its environment, due for sync
// now, and returns when the connection was made. Update files the
// connection in the scheduler's due index at NextSyncAt, after the row
// (store.SyncDueTable); a failure to file it fails the sign-in, and the
// scheduler's hourly reconciliation files it if the user does not sign in
// again. The refresh above may have rotated the token (a new ETag), so it
// re-reads and retries when the row changed under it.
func (s *Service) activate(ctx context.Context, tid, oid, org, dataverseUser string) (time.Time, error) {
	for attempt := 0; attempt < 3; attempt++ {
		conn, err := s.Conns.Get(ctx, tid, oid)
		if err != nil {
			return time.Time{}, apperr.Wrap(apperr.Transient, err, "could not read the connection; sign in again")
		}
		if conn.Status == store.StatusErasing {
			return time.Time{}, apperr.E(apperr.Conflict, "you disconnected from Dynamics 365 while this sign-in ran; sign in again in a few minutes")
		}
		now := s.now()
		conn.Status, conn.StatusReason, conn.StatusChangedAt = store.StatusActive, "", now
		conn.OrgURL, conn.DataverseUserID, conn.NextSyncAt = org, dataverseUser, now
		if _, err := s.Conns.Update(ctx, conn); !errors.Is(err, store.ErrConflict) {
			if err != nil {
				return time.Time{}, apperr.Wrap(apperr.Transient, err, "could not store the connection; sign in again")
			}
			return conn.ConnectedAt, nil
		}
	}
	return time.Time{}, apperr.E(apperr.Transient, "the connection kept changing while it was stored; sign in again")
}
