package diagnose

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/pitcher/connector/internal/entra"
	"github.com/pitcher/connector/internal/store"
)

// Check ids of the deployment and the tenant.
const (
	IDConfig      = "config"
	IDMetadata    = "entra.metadata"
	IDCredential  = "entra.credential"
	IDTenant      = "tenant.approved"
	IDTenantUsers = "tenant.connections"
	IDRefresh     = "user.refresh_token"
	IDDNS         = "dynamics.dns"
	IDWhoAmI      = "dataverse.whoami"
	IDStorageTab  = "storage.tables"
	IDStorageBlob = "storage.containers"
	IDUploads     = "uploads"
	// IDInfrastructure is the verdict on the connector's own services in a
	// user's own report (RunOwn), instead of the checks of configuration,
	// Entra metadata, Storage and Service Bus.
	IDInfrastructure = "infrastructure"
)

// IDRead, IDChangeTracking and IDLastSync are the ids of the per-set checks.
func IDRead(set string) string           { return "dataverse.read." + set }
func IDChangeTracking(set string) string { return "dataverse.changetracking." + set }
func IDLastSync(set string) string       { return "sync.last." + set }

// IDQueue and IDDeadLetters are the ids of the per-queue checks.
func IDQueue(role string) string       { return "servicebus.queue." + role }
func IDDeadLetters(role string) string { return "servicebus.deadletters." + role }

func (d *Doctor) configCheck(r *run) {
	r.checkInfra(IDConfig, "Configuration complete and valid", nil, func(context.Context) result {
		if len(d.ConfigProblems) == 0 {
			return pass("every setting is present and valid")
		}
		return fail(fmt.Sprintf("%d setting(s) wrong:\n%s", len(d.ConfigProblems), strings.Join(d.ConfigProblems, "\n")),
			"correct each setting named above (in Azure the Function App's Environment variables, or main.bicep and a redeployment; locally local.settings.json) and restart the app")
	})
}

func (d *Doctor) entraChecks(r *run, t Target) {
	tenant := t.TenantID
	if tenant == "" {
		tenant = "organizations"
	}
	r.checkInfra(IDMetadata, "Entra ID metadata reachable", []string{IDConfig}, func(ctx context.Context) result {
		m, err := d.Entra.Metadata(ctx, tenant)
		var ee *entra.Error
		switch {
		case errors.As(err, &ee) && ee.Has(90002):
			return fail("Entra ID knows no tenant "+tenant+" ("+ee.Reason()+")", "check the tenant id; the organisation's id is on its Entra ID overview page")
		case err != nil:
			return fail(err.Error(), "check ENTRA_AUTHORITY_HOST (https://login.microsoftonline.com in the public cloud) and that the app can reach it (outbound network, DNS, proxy)")
		}
		return pass("issuer %s, %d signing key(s)", m.Issuer, m.Keys)
	})
	d.credentialCheck(r, t)
	d.approvalCheck(r, t)
}

// credentialCheck asks Entra for an app token in the tenant. Not in a
// user's own report: the app's credential is the operator's, and the
// refresh-token check, which uses it too, says when Entra refuses it.
func (d *Doctor) credentialCheck(r *run, t Target) {
	if r.own {
		return
	}
	r.check(IDCredential, "The app's credential accepted", []string{IDMetadata}, func(ctx context.Context) result {
		if t.TenantID == "" {
			return skip("needs a tenant: Entra ID checks the credential in an organisation that approved the app")
		}
		_, err := d.Entra.ClientCredentials(ctx, t.TenantID, d.ConsentScope)
		if err == nil {
			return pass("Entra ID issued an app token in tenant %s", t.TenantID)
		}
		switch entra.Classify(err) {
		case entra.ClientMisconfigured:
			return fail(err.Error(), "the client secret is wrong or expired: create a new secret under the app registration's Certificates & secrets, store its Value (not its ID) as ENTRA_CLIENT_SECRET (the Key Vault secret in Azure), and check ENTRA_CLIENT_ID")
		case entra.ConsentRequired:
			return fail(err.Error(), "the app is not set up in this organisation: "+d.consentFix(t.TenantID))
		}
		return fail(err.Error(), "Entra ID did not answer as expected; try again, and if it persists check Entra ID's service health")
	})
}

// approvalCheck: the tenant's approval, when and by whom. A user's own
// report says when, not who (the approver is another person), and not the
// text of a refused attempt (which anyone who started a flow could cause).
func (d *Doctor) approvalCheck(r *run, t Target) {
	r.check(IDTenant, "Tenant approved", []string{IDConfig}, func(ctx context.Context) result {
		if t.TenantID == "" {
			return skip("needs a tenant")
		}
		tn, err := d.Tenants.Get(ctx, t.TenantID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return fail("no administrator of tenant "+t.TenantID+" has approved the connector", d.consentFix(t.TenantID))
		case err != nil && r.own:
			return ownInfraFail("could not read your organisation's approval")
		case err != nil:
			return fail("could not read the approval: "+err.Error(), "see the Storage checks below")
		case !tn.Consented() && r.own:
			return fail("your organisation has not approved the connector (or no longer does)", d.consentFix(t.TenantID))
		case !tn.Consented():
			detail := "tenant " + t.TenantID + " has not approved the connector"
			if !tn.LastRefusalAt.IsZero() {
				detail += fmt.Sprintf("; the last attempt, at %s, failed: %s %s", tn.LastRefusalAt.UTC().Format("2006-01-02 15:04 MST"), tn.LastRefusalError, tn.LastRefusalDescription)
			}
			return fail(detail, d.consentFix(t.TenantID))
		}
		at := tn.ConsentedAt.UTC().Format("2006-01-02 15:04 MST")
		if r.own {
			return pass("approved at %s by an administrator of your organisation", at)
		}
		by := "an administrator (not recorded: they have not signed in since)"
		if tn.ConsentedByName != "" || tn.ConsentedByOID != "" {
			by = strings.TrimSpace(tn.ConsentedByName + " (" + tn.ConsentedByOID + ")")
		}
		return pass("approved at %s by %s", at, by)
	})
}

// tenantConnections, for an organisation's run (no user): how many of its
// users are connected, and which must sign in again or did not finish.
func (d *Doctor) tenantConnections(r *run, t Target) {
	if t.TenantID == "" || t.UserID != "" {
		return
	}
	r.check(IDTenantUsers, "Connections of the tenant", []string{IDConfig}, func(ctx context.Context) result {
		cs, err := d.Connections.List(ctx, t.TenantID)
		if err != nil {
			return fail("could not read the connections: "+err.Error(), "see the Storage checks below")
		}
		var broken []string
		for _, c := range cs {
			if c.Status != store.StatusActive {
				broken = append(broken, fmt.Sprintf("%s %s (%s)", c.UserID, c.Status, c.StatusReason))
			}
		}
		switch {
		case len(cs) == 0:
			return pass("no user of tenant %s has connected Dynamics yet", t.TenantID)
		case len(broken) > 0:
			n, more := len(broken), ""
			if n > 5 {
				broken, more = broken[:5], fmt.Sprintf(" and %d more", n-5)
			}
			return fail(fmt.Sprintf("%d of %d connection(s) do not work: %s%s", n, len(cs), strings.Join(broken, "; "), more),
				"each of these users signs in again (connectorctl connections list --tenant "+t.TenantID+" lists them with the reason); connectorctl doctor --tenant "+t.TenantID+" --user <id> checks one")
		}
		return pass("%d connection(s), all active", len(cs))
	})
}

func (d *Doctor) consentFix(tenant string) string {
	return "an administrator of the organisation (Global, Cloud Application or Application Administrator) approves the connector at " +
		strings.TrimRight(d.PublicBaseURL, "/") + "/api/consent/start?tenant=" + url.QueryEscape(tenant)
}
