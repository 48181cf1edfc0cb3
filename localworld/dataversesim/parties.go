package dataversesim

import (
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// activityParty is one entry of an activity's <activity>_activity_parties:
// a party (contact or account) and its role
// (docs/reference/dataverse-webapi.md §6.3).
type activityParty struct {
	id   string
	who  lookupValue
	mask int64
}

// appointmentRoles are the participationtypemask values an appointment
// accepts: RequiredAttendee, OptionalAttendee, Organizer.
var appointmentRoles = map[int64]bool{5: true, 6: true, 7: true}

// parseParties reads the array of a deep insert or update, e.g.
// [{"partyid_contact@odata.bind":"/contacts(<id>)","participationtypemask":5}].
// The array replaces the activity's parties.
func (s *Sim) parseParties(c *call, t *table, a *attribute, v any) ([]activityParty, *apiError) {
	items, ok := v.([]any)
	bad := func(format string, args ...any) *apiError {
		return errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'%s' ----> %s: "+format, append([]any{t.set, a.logical}, args...)...)
	}
	if !ok {
		return nil, bad("the value must be an array of activity parties")
	}
	var out []activityParty
	for i, item := range items {
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, bad("item %d is not an object", i)
		}
		p := activityParty{id: uuid.NewString()}
		for k, val := range obj {
			switch {
			case k == "participationtypemask":
				n, err := convert(t, &attribute{logical: k, typ: typeInt}, val)
				if err != nil {
					return nil, err
				}
				p.mask = n.(int64)
			case strings.HasPrefix(k, "partyid_") && strings.HasSuffix(k, "@odata.bind"):
				ref, _ := val.(string)
				target, r, err := s.resolveRef(c, ref)
				if err != nil {
					return nil, err
				}
				if "partyid_"+target.logical+"@odata.bind" != k || !containsString(a.targets, target.set) {
					return nil, bad("item %d: %s cannot refer to %s", i, k, target.set)
				}
				p.who = lookupValue{id: r.id, set: target.set}
			case strings.HasPrefix(k, "@"):
			default:
				return nil, bad("item %d: an undeclared property '%s'", i, k)
			}
		}
		if p.who.id == "" {
			return nil, bad("item %d has no partyid_<table>@odata.bind", i)
		}
		if !appointmentRoles[p.mask] {
			return nil, errf(http.StatusBadRequest, codeValidation, "A validation error occurred. The participationtypemask %d is not valid for an appointment (5 required, 6 optional attendee, 7 organizer).", p.mask)
		}
		out = append(out, p)
	}
	return out, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// appendParties writes an expanded activity-parties collection.
func appendParties(b []byte, v any) []byte {
	parties, _ := v.([]activityParty)
	b = append(b, '[')
	for i, p := range parties {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"activitypartyid":`...)
		b = appendJSONString(b, p.id)
		b = append(b, `,"_partyid_value":`...)
		b = appendJSONString(b, p.who.id)
		b = append(b, `,"participationtypemask":`...)
		b = appendValue(b, p.mask)
		b = append(b, '}')
	}
	return append(b, ']')
}
