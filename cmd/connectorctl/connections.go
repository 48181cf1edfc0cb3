package main

import (
	"context"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/pitcher/connector/internal/app"
	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/store"
)

// connectionJSON is a connection as the commands print it (never its
// refresh token).
type connectionJSON struct {
	TenantID     string     `json:"tenantId"`
	UserID       string     `json:"userId"`
	UserRef      string     `json:"userRef"`
	UserName     string     `json:"userName,omitempty"`
	Status       string     `json:"status"`
	Reason       string     `json:"reauthorizationReason,omitempty"`
	StatusSince  *time.Time `json:"statusSince,omitempty"`
	DynamicsURL  string     `json:"dynamicsUrl,omitempty"`
	ConnectedAt  *time.Time `json:"connectedAt,omitempty"`
	LastSync     *time.Time `json:"lastSync,omitempty"`
	NextSync     *time.Time `json:"nextSync,omitempty"`
	SyncFailures []string   `json:"syncFailures,omitempty"`
	// Erasure, for a connection being erased: its kind and who asked.
	Erasure string `json:"erasure,omitempty"`
}

func runConnections(ctx context.Context, env *environment, args []string) error {
	if len(args) > 0 && args[0] == "erase" {
		return runErase(ctx, env, args[1:])
	}
	if len(args) == 0 || args[0] != "list" {
		return usagef("connections needs a subcommand: list or erase\n%s", connectionsUsage)
	}
	f := newFlags("connections list", connectionsUsage)
	tenant := f.String("tenant", "", "only this organisation's connections")
	status := f.String("status", "", "only connections in this status")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	id, err := guid("connections list", "tenant", *tenant, false)
	if err != nil {
		return err
	}
	switch *status {
	case "", store.StatusActive, store.StatusPending, store.StatusReauthRequired, store.StatusErasing:
	default:
		return usagef("connections list: --status %q is not active, pending, reauth_required or erasing", *status)
	}
	return env.withApp(ctx, func(cfg app.Settings, a *app.App) error {
		cs, err := store.NewConnections(a.DB).List(ctx, id)
		if err != nil {
			return err
		}
		states, refs := store.NewSyncStates(a.DB), obs.NewPseudonyms(cfg.Ops.PseudonymKey)
		out := []connectionJSON{}
		for _, c := range cs {
			if *status != "" && c.Status != *status {
				continue
			}
			j := connectionJSON{TenantID: c.TenantID, UserID: c.UserID, UserRef: refs.User(c.TenantID, c.UserID), UserName: c.UserName, Status: c.Status, StatusSince: timePtr(c.StatusChangedAt),
				DynamicsURL: c.OrgURL, ConnectedAt: timePtr(c.ConnectedAt), NextSync: timePtr(c.NextSyncAt)}
			switch c.Status {
			case store.StatusReauthRequired:
				j.Reason = c.StatusReason
			case store.StatusErasing:
				j.Erasure = c.Erasure.Kind + " erasure asked by " + c.Erasure.By + " at " + when(timePtr(c.Erasure.RequestedAt)) + " UTC"
			}
			sets, err := states.Sets(ctx, c.TenantID, c.UserID)
			if err != nil {
				return err
			}
			j.LastSync, j.SyncFailures = lastSync(sets)
			out = append(out, j)
		}
		sort.Slice(out, func(i, k int) bool {
			if out[i].TenantID != out[k].TenantID {
				return out[i].TenantID < out[k].TenantID
			}
			return out[i].UserID < out[k].UserID
		})
		if f.json {
			return writeJSON(env.stdout, out)
		}
		if len(out) == 0 {
			_, err := fmt.Fprintln(env.stdout, "No connections match.")
			return err
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TENANT\tUSER\tUSER REF (LOGS)\tNAME\tSTATUS\tLAST SYNC (UTC)\tNEXT SYNC (UTC)\tREASON / SYNC FAILURES")
		for _, c := range out {
			note := c.Reason
			if c.Erasure != "" {
				note = c.Erasure
			}
			if note == "" && len(c.SyncFailures) > 0 {
				note = fmt.Sprintf("%d set(s) failing: %s", len(c.SyncFailures), c.SyncFailures[0])
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.TenantID, c.UserID, c.UserRef, dash(c.UserName), c.Status, when(c.LastSync), when(c.NextSync), dash(clip(note, 60)))
		}
		return tw.Flush()
	})
}

// lastSync is the oldest of the sets' last successes (the user is as
// current as their least current set; nil when one never synced) and the
// sets whose last run failed.
func lastSync(sets map[string]store.SetState) (*time.Time, []string) {
	var oldest time.Time
	var failing []string
	never := len(sets) == 0
	for name, st := range sets {
		if st.LastSuccess.IsZero() {
			never = true
		} else if oldest.IsZero() || st.LastSuccess.Before(oldest) {
			oldest = st.LastSuccess
		}
		if st.LastError != "" && !st.LastErrorAt.Before(st.LastSuccess) {
			failing = append(failing, name+": "+st.LastError)
		}
	}
	sort.Strings(failing)
	if never {
		return nil, failing
	}
	return &oldest, failing
}
