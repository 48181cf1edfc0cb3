package diagnose

import (
	"net/url"
	"regexp"
	"strings"
)

// ownInfraFix is the fix, in a user's own report, of what only the
// connector's operator can repair.
const ownInfraFix = "nothing to do on your side: this is the connector's own service, which its operator repairs (Pitcher support sees the details); run the diagnostics again later, and tell Pitcher support if it lasts"

// ownInfraFail is a user's check that failed on the connector's own
// infrastructure: what could not be done, and no error text (which would
// name storage endpoints and the like).
func ownInfraFail(what string) result {
	return fail(what+": the connector's own services did not answer (see "+IDInfrastructure+")", ownInfraFix)
}

// infraKinds name, for people, what each kind of infrastructure check
// concerns, in the order the verdict lists them.
var infraKinds = []struct{ prefix, name string }{
	{IDConfig, "its configuration"},
	{IDMetadata, "Entra ID"},
	{"storage.", "its storage"},
	{"servicebus.", "its message queues"},
}

// ownView turns a run's report into the user's own: the infrastructure
// checks become one verdict in the place of the first (pass "ok", or fail
// "degraded" with the kinds of service affected, never their names), the
// reasons of checks skipped because of one of them say so without its
// id, and no detail or fix keeps an address of the connector's
// infrastructure (scrub). orgURL is the user's Dynamics environment, whose
// address stays.
func (d *Doctor) ownView(r *run, orgURL string) Report {
	rep := r.report
	verdict := Check{ID: IDInfrastructure, Title: "The connector's own services", Status: Pass}
	var broken []string
	var checks []Check
	at := -1
	for _, c := range rep.Checks {
		if !r.infra[c.ID] {
			checks = append(checks, c)
			continue
		}
		if at < 0 {
			at = len(checks)
		}
		verdict.DurationMs += c.DurationMs
		if c.Status != Pass {
			verdict.Status = Fail
			for _, k := range infraKinds {
				if strings.HasPrefix(c.ID, k.prefix) && !contains(broken, k.name) {
					broken = append(broken, k.name)
				}
			}
		}
	}
	if at < 0 {
		at = 0
	}
	if verdict.Status == Pass {
		verdict.Detail = "ok: the connector's configuration, Entra ID, storage and message queues answer"
	} else {
		verdict.Detail = "degraded: the connector's own services are not all working (" + strings.Join(broken, ", ") + ")"
		verdict.Fix = ownInfraFix
	}
	checks = append(checks[:at], append([]Check{verdict}, checks[at:]...)...)

	s := d.scrubber(orgURL)
	rep.OK = true
	for i := range checks {
		c := &checks[i]
		for id := range r.infra {
			c.Detail = strings.ReplaceAll(c.Detail, "not checked: "+id+" did not pass", "not checked: the connector's own services are degraded (see "+IDInfrastructure+")")
		}
		c.Detail, c.Fix = s(c.Detail), s(c.Fix)
		if c.Status == Fail {
			rep.OK = false
		}
	}
	rep.Checks = checks
	return rep
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// anyURL matches an absolute URL (http, https, sb, amqps, …).
var anyURL = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.\-]*://[^\s"'<>()]+`)

// withheld stands for an address taken out of a user's own report.
const withheld = "(a service of the connector)"

// scrubber returns what clears a text of a user's own report of the
// connector's infrastructure: every URL but those of the user's Dynamics
// environment and of the connector's public pages, and every host (with
// its port) that the Storage and Service Bus descriptions name, wherever
// it appears (e.g. "dial tcp 10.0.0.4:443" after an error).
func (d *Doctor) scrubber(orgURL string) func(string) string {
	keep := map[string]bool{}
	for _, u := range []string{orgURL, d.PublicBaseURL} {
		if pu, err := url.Parse(u); err == nil && pu.Host != "" {
			keep[strings.ToLower(pu.Host)] = true
		}
	}
	var hosts []*regexp.Regexp
	var where []string
	if d.Storage != nil {
		where = append(where, d.Storage.Where())
	}
	if d.Queues != nil {
		where = append(where, d.Queues.Where())
	}
	for _, w := range where {
		for _, raw := range anyURL.FindAllString(w, -1) {
			if pu, err := url.Parse(raw); err == nil && pu.Host != "" && !keep[strings.ToLower(pu.Host)] {
				hosts = append(hosts, regexp.MustCompile(`(?i)`+regexp.QuoteMeta(pu.Host)))
			}
		}
		// An identity-based namespace is named without a scheme:
		// "identity-based (sb-x.servicebus.windows.net)".
		if _, rest, ok := strings.Cut(w, "("); ok {
			if h := strings.TrimSuffix(strings.TrimSpace(rest), ")"); h != "" && !strings.ContainsAny(h, " /") && !keep[strings.ToLower(h)] {
				hosts = append(hosts, regexp.MustCompile(`(?i)`+regexp.QuoteMeta(h)))
			}
		}
	}
	return func(s string) string {
		s = anyURL.ReplaceAllStringFunc(s, func(raw string) string {
			if pu, err := url.Parse(strings.TrimRight(raw, ".,;:")); err == nil && keep[strings.ToLower(pu.Host)] {
				return raw
			}
			return withheld
		})
		for _, h := range hosts {
			s = h.ReplaceAllLiteralString(s, withheld)
		}
		return s
	}
}
