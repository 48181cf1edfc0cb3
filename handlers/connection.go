package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/pitcher/connector/internal/apiauth"
	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/lifecycle"
	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/queue"
	"github.com/pitcher/connector/internal/store"
)

// Lifecycle erases users and tenants (internal/lifecycle).
type Lifecycle interface {
	EraseUser(ctx context.Context, tenant, user string, req lifecycle.Request) (lifecycle.Result, error)
	OffboardTenant(ctx context.Context, tenant, by string) (lifecycle.Result, error)
	ContinueOffboarding(ctx context.Context, tenant string) (lifecycle.Result, error)
	Retain(ctx context.Context, r lifecycle.Retention) (lifecycle.RetentionReport, error)
}

// LifecycleQueue schedules the continuation of an erasure.
type LifecycleQueue interface {
	ScheduleAt(ctx context.Context, at time.Time, msgs ...queue.Lifecycle) ([]int64, error)
}

// Identifier names the user of an access token without requiring a
// connection (apiauth.Authenticator.Identify).
type Identifier interface {
	Identify(ctx context.Context, authorization string) (apiauth.Caller, error)
}

// ConnectionReader reads a user's connection.
type ConnectionReader interface {
	Get(ctx context.Context, tenant, user string) (store.Connection, error)
}

var (
	_ Lifecycle        = (*lifecycle.Eraser)(nil)
	_ LifecycleQueue   = (*queue.Sender[queue.Lifecycle])(nil)
	_ Identifier       = (*apiauth.Authenticator)(nil)
	_ ConnectionReader = (*store.Connections)(nil)
)

// LifecycleDeps serve the Connection, LifecycleWorker and Retention
// functions.
type LifecycleDeps struct {
	Eraser      Lifecycle
	Queue       LifecycleQueue
	Identify    Identifier
	Connections ConnectionReader
	Pseudonyms  obs.Pseudonyms
	Retention   lifecycle.Retention
}

// disconnectBudget is how long DELETE /api/connection erases before it
// answers 202 and lets the lifecycle queue go on.
const disconnectBudget = 20 * time.Second

// connectionView is the body of GET /api/connection (and of a 202 to DELETE).
type connectionView struct {
	Status      string     `json:"status"`
	OrgURL      string     `json:"orgUrl,omitempty"`
	ConnectedAt *time.Time `json:"connectedAt,omitempty"`
	// Reason says why a connection needs the user to sign in again.
	Reason string `json:"reason,omitempty"`
	// DisconnectRequestedAt is when the user (or an operator) asked for the
	// erasure that is going on.
	DisconnectRequestedAt *time.Time `json:"disconnectRequestedAt,omitempty"`
	// EraseAfter: a connection waiting for a sign-in is erased by the
	// retention run after this time, unless the user signs in before.
	EraseAfter *time.Time `json:"eraseAfter,omitempty"`
}

// Connection statuses the API shows (the erasing status reads as disconnecting).
const statusDisconnecting = "disconnecting"

func viewOf(c store.Connection, inactive time.Duration) connectionView {
	v := connectionView{Status: c.Status, OrgURL: c.OrgURL}
	switch c.Status {
	case store.StatusErasing:
		v = connectionView{Status: statusDisconnecting, DisconnectRequestedAt: timePtr(c.Erasure.RequestedAt)}
	case store.StatusReauthRequired:
		v.Reason = "sign in again: Microsoft Entra ID no longer accepts the connector's sign-in"
	}
	if (c.Status == store.StatusReauthRequired || c.Status == store.StatusPending) && inactive > 0 && !c.StatusChangedAt.IsZero() {
		v.EraseAfter = timePtr(c.StatusChangedAt.Add(inactive))
	}
	if c.Status != store.StatusErasing && !c.ConnectedAt.IsZero() {
		v.ConnectedAt = timePtr(c.ConnectedAt)
	}
	return v
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (l links) connection() string { return l.base + "/api/connection" }

// identified guards the Connection function: a valid access token for this
// app, whatever the caller's connection.
func identified(id Identifier, function string, h authedFunc) http.Handler {
	return guarded(id.Identify, function, h)
}

// connectionGet is GET /api/connection: the caller's connection, or 404
// not_found when there is none (after a disconnect: its erasure is complete).
func connectionGet(d LifecycleDeps) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, caller apiauth.Caller) {
		c, err := d.Connections.Get(r.Context(), caller.TenantID, caller.UserID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			writeError(w, apperr.E(apperr.NotFound, "you are not connected to Dynamics 365; sign in to connect"), "Connection", r.Header.Get("X-Azure-Functions-InvocationId"))
		case err != nil:
			writeError(w, apperr.Wrap(apperr.Transient, err, "could not read your connection; try again"), "Connection", r.Header.Get("X-Azure-Functions-InvocationId"))
		default:
			writeJSON(w, http.StatusOK, viewOf(c, d.Retention.Inactive))
		}
	}
}

// connectionDelete is DELETE /api/connection, the app's "Disconnect
// Dynamics": it stops the caller's syncs at once and erases everything the
// connector holds for them. 204 when the erasure is complete (or there was
// nothing to erase); 202 with Location /api/connection while it goes on in
// the background (a large mirror, an upload being written, a sync that was
// running). Repeating it is harmless.
func connectionDelete(d LifecycleDeps, l links) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, caller apiauth.Caller) {
		inv := r.Header.Get("X-Azure-Functions-InvocationId")
		ctx, cancel := context.WithTimeout(r.Context(), disconnectBudget)
		defer cancel()
		req := lifecycle.Request{Kind: store.ErasureDisconnect, By: "user:" + d.Pseudonyms.User(caller.TenantID, caller.UserID)}
		res, err := d.Eraser.EraseUser(ctx, caller.TenantID, caller.UserID, req)
		if err == nil && res.Done {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		c, gerr := d.Connections.Get(r.Context(), caller.TenantID, caller.UserID)
		switch {
		case err == nil && errors.Is(gerr, store.ErrNotFound):
			w.WriteHeader(http.StatusNoContent) // finished meanwhile
			return
		case err != nil && (gerr != nil || c.Status != store.StatusErasing):
			// It did not begin (or we cannot tell): nothing goes on in the
			// background, so the app must ask again.
			writeError(w, apperr.Wrap(apperr.Transient, err, "the disconnection could not begin; send DELETE /api/connection again"), "Connection", inv)
			return
		}
		at := res.RetryAt
		if err != nil {
			at = time.Now() // the budget ran out or Storage failed: go on in the background at once
		}
		// Repeated DELETEs within a second send the same MessageId.
		cont := queue.EraseUser(caller.TenantID, caller.UserID).ContinueAt(at)
		if _, qerr := d.Queue.ScheduleAt(r.Context(), at, cont); qerr != nil {
			writeError(w, apperr.Wrap(apperr.Transient, qerr, "the disconnection has begun but could not be handed to the background; send DELETE /api/connection again"), "Connection", inv)
			return
		}
		w.Header().Set("Location", l.connection())
		w.Header().Set("Retry-After", "5")
		v := connectionView{Status: statusDisconnecting}
		if gerr == nil {
			v = viewOf(c, d.Retention.Inactive)
		}
		writeJSON(w, http.StatusAccepted, v)
	}
}
