package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/pitcher/connector/internal/app"
	"github.com/pitcher/connector/internal/store"
)

const tenantsUsage = `usage:
  connectorctl tenants list [--json]
  connectorctl tenants show --tenant T [--json]
  connectorctl tenants offboard --tenant T --yes [--timeout 15m] [--no-wait] [--json]`

const connectionsUsage = `usage:
  connectorctl connections list [--tenant T] [--status active|pending|reauth_required|erasing] [--json]
  connectorctl connections erase --user U [--tenant T] --yes [--timeout 15m] [--no-wait] [--json]`

// tenantJSON is a tenant as the commands print it.
type tenantJSON struct {
	TenantID       string     `json:"tenantId"`
	Approved       bool       `json:"approved"`
	ApprovedAt     *time.Time `json:"approvedAt,omitempty"`
	ApprovedBy     string     `json:"approvedBy,omitempty"`
	ApprovedByOID  string     `json:"approvedByOid,omitempty"`
	Scopes         string     `json:"scopes,omitempty"`
	LastRefusalAt  *time.Time `json:"lastRefusalAt,omitempty"`
	LastRefusal    string     `json:"lastRefusal,omitempty"`
	DynamicsURL    string     `json:"dynamicsUrl,omitempty"`
	Connections    int        `json:"connections"`
	ReauthRequired int        `json:"reauthRequired"`
	// OffboardingAt: the tenant's offboarding began then and is not done
	// (tenants offboard, the lifecycle queue or the retention run go on).
	OffboardingAt *time.Time `json:"offboardingAt,omitempty"`
	OffboardingBy string     `json:"offboardingBy,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func runTenants(ctx context.Context, env *environment, args []string) error {
	if len(args) > 0 && args[0] == "offboard" {
		return runOffboard(ctx, env, args[1:])
	}
	if len(args) == 0 || (args[0] != "list" && args[0] != "show") {
		return usagef("tenants needs a subcommand: list, show or offboard\n%s", tenantsUsage)
	}
	sub := args[0]
	f := newFlags("tenants "+sub, tenantsUsage)
	tenant := f.String("tenant", "", "the organisation's Entra tenant id")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	id, err := guid("tenants "+sub, "tenant", *tenant, sub == "show")
	if err != nil {
		return err
	}
	return env.withApp(ctx, func(cfg app.Settings, a *app.App) error {
		tenants, conns := store.NewTenants(a.DB), store.NewConnections(a.DB)
		var list []store.Tenant
		if sub == "show" {
			t, err := tenants.Get(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				return failedf("tenant %s is not known: no administrator has approved the connector and nobody has signed in from it", id)
			}
			if err != nil {
				return err
			}
			list = []store.Tenant{t}
		} else if list, err = tenants.List(ctx); err != nil {
			return err
		}
		cs, err := conns.List(ctx, id)
		if err != nil {
			return err
		}
		out := make([]tenantJSON, 0, len(list))
		for _, t := range list {
			j := tenantJSON{TenantID: t.ID, Approved: t.Consented(), ApprovedAt: timePtr(t.ConsentedAt), ApprovedBy: t.ConsentedByName,
				ApprovedByOID: t.ConsentedByOID, Scopes: t.ConsentScopes, LastRefusalAt: timePtr(t.LastRefusalAt), DynamicsURL: t.DynamicsURL,
				OffboardingAt: timePtr(t.OffboardingAt), OffboardingBy: t.OffboardingBy}
			if t.LastRefusalError != "" {
				j.LastRefusal = t.LastRefusalError + ": " + t.LastRefusalDescription
			}
			for _, c := range cs {
				if c.TenantID == t.ID {
					j.Connections++
					if c.Status == store.StatusReauthRequired {
						j.ReauthRequired++
					}
				}
			}
			out = append(out, j)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].TenantID < out[j].TenantID })
		if f.json {
			if sub == "show" {
				return writeJSON(env.stdout, out[0])
			}
			return writeJSON(env.stdout, out)
		}
		if sub == "show" {
			return printTenant(env, out[0])
		}
		if len(out) == 0 {
			_, err := fmt.Fprintln(env.stdout, "No tenants yet: no administrator has approved the connector.")
			return err
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TENANT\tAPPROVED (UTC)\tAPPROVED BY\tCONNECTIONS\tREAUTH REQUIRED\tLAST REFUSAL")
		for _, t := range out {
			approved := when(t.ApprovedAt)
			if t.OffboardingAt != nil {
				approved = "offboarding since " + when(t.OffboardingAt)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", t.TenantID, approved, dash(t.ApprovedBy), t.Connections, t.ReauthRequired, dash(clip(t.LastRefusal, 50)))
		}
		return tw.Flush()
	})
}

func printTenant(env *environment, t tenantJSON) error {
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Tenant:\t%s\n", t.TenantID)
	fmt.Fprintf(tw, "Approved:\t%v\n", t.Approved)
	if t.OffboardingAt != nil {
		fmt.Fprintf(tw, "Offboarding:\tsince %s UTC, by %s; not done yet (tenants offboard --tenant %s --yes goes on with it)\n", when(t.OffboardingAt), dash(t.OffboardingBy), t.TenantID)
	}
	fmt.Fprintf(tw, "Approved at (UTC):\t%s\n", when(t.ApprovedAt))
	fmt.Fprintf(tw, "Approved by:\t%s\n", dash(t.ApprovedBy+" "+t.ApprovedByOID))
	fmt.Fprintf(tw, "Scopes:\t%s\n", dash(t.Scopes))
	fmt.Fprintf(tw, "Last refusal:\t%s %s\n", when(t.LastRefusalAt), t.LastRefusal)
	fmt.Fprintf(tw, "Dynamics URL:\t%s\n", dash(t.DynamicsURL))
	fmt.Fprintf(tw, "Connections:\t%d (%d must sign in again)\n", t.Connections, t.ReauthRequired)
	return tw.Flush()
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func dash(s string) string {
	if s == "" || s == " " {
		return "-"
	}
	return s
}
