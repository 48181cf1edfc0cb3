package diagnose

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/internal/tokens"
)

// userRun holds what the user's checks learn for the next ones.
type userRun struct {
	d      *Doctor
	r      *run
	target Target
	conn   store.Connection
}

func (u *userRun) needUser() (result, bool) {
	switch {
	case u.target.TenantID == "":
		return skip("needs a tenant and a user"), false
	case u.target.UserID == "":
		return skip("needs a user"), false
	}
	return result{}, true
}

func (u *userRun) signInFix() string {
	return "the user signs in again at " + strings.TrimRight(u.d.PublicBaseURL, "/") + "/api/login (from the Pitcher app's Connect Dynamics button); their parked uploads then resume"
}

// erasedAfter says when the retention run erases a connection that waits
// for a sign-in, or "" when no retention is configured.
func (u *userRun) erasedAfter(c store.Connection) string {
	if u.d.RetentionInactive <= 0 {
		return ""
	}
	return fmt.Sprintf("; unless they sign in before %s, their connection and data are erased (RETENTION_INACTIVE)",
		c.StatusChangedAt.Add(u.d.RetentionInactive).UTC().Format("2006-01-02"))
}

// connectionChecks: the connection exists and its refresh token still
// redeems. The check goes through the vault, the only code that redeems
// refresh tokens: a token Entra rotates is stored (under the row's ETag,
// so a newer one written meanwhile wins), as it must be, or the user's
// connection would break when Entra retires the old one. The full view
// redeems every time; the user's own view at most once per
// OwnRefreshEvery (redeem).
func (u *userRun) connectionChecks() {
	u.r.check(IDRefresh, "The user's refresh token still works", []string{IDConfig}, func(ctx context.Context) result {
		if res, ok := u.needUser(); !ok {
			return res
		}
		c, err := u.d.Connections.Get(ctx, u.target.TenantID, u.target.UserID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return fail("user "+u.target.UserID+" of tenant "+u.target.TenantID+" has not connected Dynamics", u.signInFix())
		case err != nil && u.r.own:
			return ownInfraFail("could not read your connection")
		case err != nil:
			return fail("could not read the connection: "+err.Error(), "see the Storage checks below")
		}
		u.conn = c
		switch c.Status {
		case store.StatusReauthRequired:
			return fail(fmt.Sprintf("the connection is reauth_required: Entra ID refused the user's refresh token at %s (%s); nothing syncs until they sign in again%s", c.StatusChangedAt.UTC().Format("2006-01-02 15:04 MST"), c.StatusReason, u.erasedAfter(c)), u.signInFix())
		case store.StatusPending:
			return fail("the user's sign-in did not finish (status pending)"+u.erasedAfter(c), u.signInFix())
		case store.StatusErasing:
			return fail(fmt.Sprintf("the user disconnected (or was erased by %s) at %s; their data is being erased", c.Erasure.By, c.Erasure.RequestedAt.UTC().Format("2006-01-02 15:04 MST")),
				"nothing to fix: the erasure finishes by itself; to connect again, the user signs in once it is complete")
		}
		last, fresh := u.d.redeem(ctx, tokens.Source{Issuer: u.d.Tokens, TenantID: c.TenantID, UserID: c.UserID, Resource: c.OrgURL}, c, !u.r.own)
		res := u.refreshResult(last.err)
		if !fresh {
			ago := fmt.Sprintf(" (%s ago; a user's own diagnostics redeem it at most every %s)", age(u.d.now().Sub(last.at)), OwnRefreshEvery)
			if res.status == Pass {
				res.detail += ago
			} else {
				res.detail = "when last tried" + ago + ": " + res.detail
			}
		}
		return res
	})
	u.r.check(IDDNS, "Dynamics URL resolves", []string{IDRefresh}, func(ctx context.Context) result {
		pu, err := url.Parse(u.conn.OrgURL)
		if err != nil || pu.Hostname() == "" {
			return fail(fmt.Sprintf("the connection's Dynamics URL %q is not a URL", u.conn.OrgURL), u.signInFix())
		}
		host := pu.Hostname()
		if net.ParseIP(host) != nil {
			return pass("%s is an IP address", host)
		}
		resolve := u.d.Resolve
		if resolve == nil {
			resolve = net.DefaultResolver.LookupHost
		}
		addrs, err := resolve(ctx, host)
		if err != nil {
			return fail(err.Error(), "the environment "+u.conn.OrgURL+" may have been deleted or renamed: check it in the Power Platform admin center; the user signs in again to pick up the new one")
		}
		return pass("%s resolves to %s", host, strings.Join(addrs, ", "))
	})
}

// refreshResult is the refresh-token check's result for the redeem's
// error.
func (u *userRun) refreshResult(err error) result {
	var reauth *tokens.ReauthRequiredError
	switch {
	case err == nil:
		return pass("Entra ID issued a Dynamics token for %s with it", u.conn.OrgURL)
	case errors.As(err, &reauth):
		return fail("Entra ID refused the refresh token ("+reauth.Reason+"); the connection is now marked reauth_required", u.signInFix())
	case entra.Classify(err) == entra.ClientMisconfigured && u.r.own:
		return ownInfraFail("Entra ID refused the connector's own credential")
	case entra.Classify(err) == entra.ClientMisconfigured:
		return fail(err.Error(), "fix the app's credential (ENTRA_CLIENT_ID, ENTRA_CLIENT_SECRET; see the credential check)")
	case apperr.KindOf(err) == apperr.Throttled && u.r.own:
		return fail("Entra ID is throttling token requests", "Entra ID is throttling; run the diagnostics again in a few minutes")
	case apperr.KindOf(err) == apperr.Throttled:
		return fail(err.Error(), "Entra ID is throttling; run the diagnostics again in a minute")
	case u.r.own:
		return ownInfraFail("Entra ID or the connector's storage did not answer")
	}
	return fail(err.Error(), "Entra ID or Storage did not answer; run the diagnostics again, and if it persists see the checks above")
}

// tokens are the user's access tokens for their environment. In the
// user's own view, a token Dataverse refuses is not dropped from the vault
// (ownIssuer): the redeem that would follow is the refresh-token check's,
// limited to one per OwnRefreshEvery.
func (u *userRun) tokens() tokens.Source {
	var issuer tokens.Issuer = u.d.Tokens
	if u.r.own {
		issuer = ownIssuer{issuer}
	}
	return tokens.Source{Issuer: issuer, TenantID: u.conn.TenantID, UserID: u.conn.UserID, Resource: u.conn.OrgURL}
}

func (u *userRun) syncChecks() {
	var states map[string]store.SetState
	var readErr error
	read := false
	for _, s := range u.d.Sets {
		u.r.check(IDLastSync(s.Name), "Last sync of "+s.Name, nil, func(ctx context.Context) result {
			if res, ok := u.needUser(); !ok {
				return res
			}
			if !read {
				states, readErr = u.d.SyncStates.Sets(ctx, u.target.TenantID, u.target.UserID)
				read = true
			}
			switch {
			case readErr != nil && u.r.own:
				return ownInfraFail("could not read your sync state")
			case readErr != nil:
				return fail("could not read the sync state: "+readErr.Error(), "see the Storage checks")
			}
			return u.lastSync(s.Name, states[s.Name])
		})
	}
}

func (u *userRun) lastSync(set string, st store.SetState) result {
	now := u.d.now()
	stale := time.Duration(StaleAfter) * u.d.SyncInterval
	failing := st.LastError != "" && !st.LastErrorAt.Before(st.LastSuccess)
	switch {
	case st.LastSuccess.IsZero() && failing:
		return fail(fmt.Sprintf("%s has never synced; the last attempt, at %s, failed: %s", set, st.LastErrorAt.UTC().Format(time.RFC3339), st.LastError), "fix what the error names (see the Dataverse checks above), then run connectorctl sync now")
	case st.LastSuccess.IsZero():
		return fail(set+" has never synced", "the first sync is queued at sign-in; if it does not come, check the Service Bus checks and run connectorctl sync now --tenant "+u.target.TenantID+" --user "+u.target.UserID)
	case failing:
		return fail(fmt.Sprintf("the last sync of %s, at %s, failed: %s (last success %s ago)", set, st.LastErrorAt.UTC().Format(time.RFC3339), st.LastError, age(now.Sub(st.LastSuccess))), "fix what the error names (see the checks above); the next sync retries")
	case stale > 0 && now.Sub(st.LastSuccess) > stale:
		return fail(fmt.Sprintf("the last successful sync of %s was %s ago; syncs should run every %s", set, age(now.Sub(st.LastSuccess)), u.d.SyncInterval), "check that the SyncScheduler timer runs (Function App → Functions) and the Service Bus checks; run connectorctl sync now to sync at once")
	}
	return pass("synced %s ago (%s mode, %d upserted, %d deleted)", age(now.Sub(st.LastSuccess)), st.Mode, st.Upserted, st.Deleted)
}

func age(d time.Duration) string {
	if d < time.Second {
		return "0s"
	}
	return d.Truncate(time.Second).String()
}

// uploadStates are the upload states that need someone to act.
var uploadStates = []struct{ status, fix string }{
	{store.UploadParked, "parked uploads resume when the user signs in again"},
	{store.UploadFailed, "Dynamics refused these; see connectorctl uploads show for its error, fix the data or the user's privileges, and upload again"},
	{store.UploadDeadLettered, "every delivery failed; after fixing the cause, connectorctl dlq resubmit --queue <the uploads queue> --all"},
}

func (u *userRun) uploadChecks() {
	u.r.check(IDUploads, "Uploads parked, failed or dead-lettered", nil, func(ctx context.Context) result {
		if res, ok := u.needUser(); !ok {
			return res
		}
		var found, fixes []string
		for _, s := range uploadStates {
			ups, err := u.d.Uploads.ListByStatus(ctx, u.target.TenantID, u.target.UserID, s.status)
			switch {
			case err != nil && u.r.own:
				return ownInfraFail("could not read your uploads")
			case err != nil:
				return fail("could not read the uploads: "+err.Error(), "see the Storage checks")
			}
			if len(ups) == 0 {
				continue
			}
			sort.Slice(ups, func(i, j int) bool { return ups[i].UpdatedAt.After(ups[j].UpdatedAt) })
			last := ups[0]
			f := fmt.Sprintf("%d %s (latest %s", len(ups), s.status, last.UploadID)
			if last.ErrorCode != "" || last.ErrorMessage != "" {
				f += ": " + strings.TrimSpace(last.ErrorCode+" "+last.ErrorMessage)
			}
			found = append(found, f+")")
			fixes = append(fixes, s.fix)
		}
		if len(found) > 0 {
			return fail(strings.Join(found, "; "), strings.Join(fixes, "; "))
		}
		return pass("none parked, failed or dead-lettered")
	})
}
