package diagnose

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/dataverse"
)

// dataverseRetry: a diagnostic retries little and never waits out a long
// Retry-After; a throttled environment is reported as such.
var dataverseRetry = dataverse.RetryPolicy{MaxAttempts: 2, BaseDelay: 200 * time.Millisecond, MaxDelay: time.Second, MaxRetryAfter: time.Second}

// dataverseChecks: WhoAmI, then read privilege and change tracking of each
// synced entity set. Every request is a GET.
func (u *userRun) dataverseChecks() {
	var client *dataverse.Client
	u.r.check(IDWhoAmI, "WhoAmI in Dynamics", []string{IDDNS}, func(ctx context.Context) result {
		c, err := dataverse.New(u.conn.OrgURL, u.tokens(), &dataverse.Options{HTTPClient: u.d.DataverseHTTP, Retry: dataverseRetry, UserAgent: "pitcher-connector-diagnostics"})
		if err != nil {
			return fail(err.Error(), u.signInFix())
		}
		w, err := c.WhoAmI(ctx)
		if err != nil {
			return fail(err.Error(), dataverseFix(err, u.conn.OrgURL))
		}
		client = c
		return pass("user %s in organisation %s (business unit %s)", w.UserID, w.OrganizationID, w.BusinessUnitID)
	})
	for _, s := range u.d.Sets {
		u.r.check(IDRead(s.Name), "Read privilege on "+s.Name, []string{IDWhoAmI}, func(ctx context.Context) result {
			p := client.NewListPager(s.Name, &dataverse.Query{Select: s.Select, Top: 1}, &dataverse.ListOptions{MaxPageSize: 1})
			page, err := p.NextPage(ctx)
			if err != nil {
				return fail(err.Error(), readFix(err, s.Name))
			}
			return pass("read %d row(s) of %s", len(page.Rows), s.Name)
		})
	}
	var defs map[string]dataverse.EntityDefinition
	var defsErr error
	for _, s := range u.d.Sets {
		u.r.check(IDChangeTracking(s.Name), "Change tracking on "+s.Name, []string{IDWhoAmI}, func(ctx context.Context) result {
			if defs == nil && defsErr == nil {
				list, err := client.EntityDefinitions(ctx, false)
				if defsErr = err; err == nil {
					defs = map[string]dataverse.EntityDefinition{}
					for _, d := range list {
						defs[d.EntitySetName] = d
					}
				}
			}
			if defsErr != nil {
				return fail("could not read the tables' metadata: "+defsErr.Error(), dataverseFix(defsErr, u.conn.OrgURL))
			}
			d, ok := defs[s.Name]
			switch {
			case !ok:
				return fail("Dynamics has no entity set "+s.Name, "fix SYNC_CONFIG: entity set names are the plural Web API names, e.g. accounts")
			case !d.ChangeTrackingEnabled:
				return fail(fmt.Sprintf("change tracking is off for table %s: the sync falls back to a modifiedon watermark, which reads more and sees deletions only at the periodic full comparison", d.LogicalName),
					"in Power Apps (make.powerapps.com) open Tables → "+d.LogicalName+" → Properties → Advanced options, tick Track changes, and save")
			}
			return pass("table %s tracks changes", d.LogicalName)
		})
	}
}

// dataverseFix says what to do about a failed Dataverse request, by the
// failure's apperr class.
func dataverseFix(err error, org string) string {
	var de *dataverse.Error
	switch apperr.KindOf(err) {
	case apperr.Unauthorized:
		return "Dynamics refused the user's token: check that the user has a Dynamics 365 licence and is enabled in the environment " + org + " (Power Platform admin center → Environments → Users)"
	case apperr.Forbidden:
		return "the user is not allowed in " + org + ": add them to the environment's security group and give them a security role (Power Platform admin center → Environments → Users)"
	case apperr.Throttled:
		return "Dynamics is throttling the user's requests; run the diagnostics again after a few minutes"
	case apperr.Transient:
		if errors.As(err, &de) && de.StatusCode == 0 {
			return "the app cannot reach " + org + ": check outbound network and that the environment exists in the Power Platform admin center"
		}
	}
	return "Dynamics failed; try again, and if it persists check the environment's health in the Power Platform admin center"
}

func readFix(err error, set string) string {
	var de *dataverse.Error
	switch {
	case apperr.KindOf(err) == apperr.Forbidden:
		return "the user's security role lacks the read privilege named above on " + set + ": in the Power Platform admin center (Environments → Settings → Users + permissions → Security roles) give their role Read on that table at the scope they need, or assign them a role that has it"
	case errors.As(err, &de) && (de.StatusCode == 400 || de.StatusCode == 404):
		return "fix the entry of " + set + " in SYNC_CONFIG: Dynamics refused its entity set or columns"
	}
	return dataverseFix(err, "the environment")
}
