package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pitcher/connector/internal/config"
	"github.com/pitcher/connector/internal/diagnose"
)

const doctorUsage = `usage:
  connectorctl doctor [--tenant T] [--user U] [--timeout 10s] [--json]

Runs every check of GET /api/diagnostics from here: the deployment alone,
an organisation (--tenant), or one user's connection (--user, with --tenant
when the user is connected in several tenants).
Exit status 1 when any check fails.`

func runDoctor(ctx context.Context, env *environment, args []string) error {
	f := newFlags("doctor", doctorUsage)
	tenant := f.String("tenant", "", "the organisation's Entra tenant id")
	user := f.String("user", "", "the user's Entra object id")
	timeout := f.Duration("timeout", 10*time.Second, "the longest each check may take")
	if err := f.parse(args); err != nil {
		return err
	}
	var t diagnose.Target
	var err error
	if t.TenantID, err = guid("doctor", "tenant", *tenant, false); err != nil {
		return err
	}
	if t.UserID, err = guid("doctor", "user", *user, false); err != nil {
		return err
	}
	if *timeout <= 0 {
		return usagef("doctor: --timeout must be positive, e.g. 10s")
	}
	var rep diagnose.Report
	cfg, err := env.loadConfig()
	var ce *config.Error
	switch {
	case errors.As(err, &ce):
		problems := make([]string, len(ce.Problems))
		for i, p := range ce.Problems {
			problems[i] = p.String()
		}
		rep = diagnose.ConfigReport(t, problems)
	case err != nil:
		return err
	default:
		a, closeApp, err := env.openApp(ctx, cfg)
		if err != nil {
			return err
		}
		defer closeApp()
		if t.UserID != "" && t.TenantID == "" {
			if t.TenantID, err = tenantOfUser(ctx, a, "doctor", t.UserID); err != nil {
				return err
			}
		}
		a.Doctor.Timeout = *timeout
		rep = a.Doctor.Run(ctx, t)
	}
	if f.json {
		err = writeJSON(env.stdout, rep)
	} else {
		err = printReport(env.stdout, rep)
	}
	if err != nil {
		return err
	}
	if n := len(rep.Failed()); n > 0 {
		return failedf("%d check(s) failed", n)
	}
	return nil
}

var mark = map[diagnose.Status]string{diagnose.Pass: "✓", diagnose.Fail: "✗", diagnose.Skip: "-"}

func printReport(w io.Writer, rep diagnose.Report) error {
	what := "the deployment"
	switch {
	case rep.UserID != "":
		what = "user " + rep.UserID + " of tenant " + rep.TenantID
	case rep.TenantID != "":
		what = "tenant " + rep.TenantID
	}
	fmt.Fprintf(w, "Diagnostics of %s at %s\n\n", what, rep.At.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	counts := map[diagnose.Status]int{}
	for _, c := range rep.Checks {
		counts[c.Status]++
		lines := strings.Split(c.Detail, "\n")
		fmt.Fprintf(tw, "%s\t%s\t%s\n", mark[c.Status], c.Title, oneLine(lines[0]))
		for _, l := range lines[1:] {
			fmt.Fprintf(tw, "\t\t  - %s\n", oneLine(l))
		}
		if c.Fix != "" {
			fmt.Fprintf(tw, "\t\tfix: %s\n", oneLine(c.Fix))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d passed, %d failed, %d skipped\n", counts[diagnose.Pass], counts[diagnose.Fail], counts[diagnose.Skip])
	return err
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
