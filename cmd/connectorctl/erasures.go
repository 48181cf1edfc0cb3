package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pitcher/connector/internal/app"
	"github.com/pitcher/connector/internal/obs"
	"github.com/pitcher/connector/internal/store"
)

const erasuresUsage = `usage:
  connectorctl erasures [--since 2026-12-01] [--tenant T [--user U]] [--kind K] [--json]

Lists the audit of completed erasures, oldest first: kind (disconnect,
offboard, retention, operator, retention-uploads), when it completed, the
tenant's and the user's pseudonyms, who asked, and what was deleted. The
audit holds pseudonyms only: --tenant (and --user) select the rows of that
organisation (user) by computing their pseudonyms with LOG_PSEUDONYM_KEY.`

// erasureRecordJSON is an audit row as the commands print it.
type erasureRecordJSON struct {
	Kind        string           `json:"kind"`
	RequestedAt *time.Time       `json:"requestedAt,omitempty"`
	CompletedAt *time.Time       `json:"completedAt,omitempty"`
	TenantRef   string           `json:"tenantRef,omitempty"`
	UserRef     string           `json:"userRef,omitempty"`
	By          string           `json:"by"`
	Counts      map[string]int64 `json:"counts"`
}

var erasureKinds = []string{store.ErasureDisconnect, store.ErasureOffboard, store.ErasureRetention, store.ErasureOperator, store.ErasureUploads}

func runErasures(ctx context.Context, env *environment, args []string) error {
	f := newFlags("erasures", erasuresUsage)
	sinceFlag := f.String("since", "", "only erasures completed on or after this day (2026-12-01) or time (RFC 3339)")
	tenant := f.String("tenant", "", "only erasures of this organisation (its Entra tenant id)")
	user := f.String("user", "", "only erasures of this user (their Entra object id; needs --tenant)")
	kind := f.String("kind", "", "only erasures of this kind")
	if err := f.parse(args); err != nil {
		return err
	}
	var since time.Time
	if *sinceFlag != "" {
		var err error
		if since, err = time.Parse("2006-01-02", *sinceFlag); err != nil {
			if since, err = time.Parse(time.RFC3339, *sinceFlag); err != nil {
				return usagef("erasures: --since %q is not a day (2026-12-01) or an RFC 3339 time (2026-12-01T09:00:00Z)", *sinceFlag)
			}
		}
	}
	tid, err := guid("erasures", "tenant", *tenant, false)
	if err != nil {
		return err
	}
	uid, err := guid("erasures", "user", *user, false)
	if err != nil {
		return err
	}
	if uid != "" && tid == "" {
		return usagef("erasures: --user needs --tenant (a user's pseudonym depends on their tenant, and the erased connection that said which is gone)")
	}
	if *kind != "" && !slices.Contains(erasureKinds, *kind) {
		return usagef("erasures: --kind %q is not one of %s", *kind, strings.Join(erasureKinds, ", "))
	}
	return env.withApp(ctx, func(cfg app.Settings, a *app.App) error {
		recs, err := store.NewErasures(a.DB).List(ctx, since)
		if err != nil {
			return err
		}
		refs := obs.NewPseudonyms(cfg.Ops.PseudonymKey)
		var tenantRef, userRef string
		if tid != "" {
			tenantRef = refs.Tenant(tid)
		}
		if uid != "" {
			userRef = refs.User(tid, uid)
		}
		out := []erasureRecordJSON{}
		for _, r := range recs {
			if (tenantRef != "" && r.Tenant != tenantRef) || (userRef != "" && r.Subject != userRef) || (*kind != "" && r.Kind != *kind) {
				continue
			}
			counts := map[string]int64{}
			_ = json.Unmarshal([]byte(r.Counts), &counts) // counts are for people: a damaged value shows as none
			out = append(out, erasureRecordJSON{Kind: r.Kind, RequestedAt: timePtr(r.RequestedAt), CompletedAt: timePtr(r.CompletedAt),
				TenantRef: r.Tenant, UserRef: r.Subject, By: r.By, Counts: counts})
		}
		sort.SliceStable(out, func(i, j int) bool { return when(out[i].CompletedAt) < when(out[j].CompletedAt) })
		if f.json {
			return writeJSON(env.stdout, out)
		}
		if len(out) == 0 {
			what := "No erasures"
			switch {
			case userRef != "":
				what += fmt.Sprintf(" of user %s of tenant %s (%s in the audit)", uid, tid, userRef)
			case tenantRef != "":
				what += fmt.Sprintf(" of tenant %s (%s in the audit)", tid, tenantRef)
			}
			if !since.IsZero() {
				what += " since " + since.UTC().Format("2006-01-02 15:04:05")
			}
			_, err := fmt.Fprintln(env.stdout, what+".")
			return err
		}
		if tenantRef != "" {
			fmt.Fprintf(env.stdout, "Tenant %s is %s in the audit.\n", tid, tenantRef)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "COMPLETED (UTC)\tKIND\tTENANT REF\tUSER REF\tBY\tDELETED")
		for _, r := range out {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", when(r.CompletedAt), r.Kind, dash(r.TenantRef), dash(r.UserRef), dash(r.By), dash(countsText(r.Counts)))
		}
		return tw.Flush()
	})
}
