package dataversesim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

// decodeObject parses a JSON object body, numbers kept as json.Number.
func decodeObject(t *table, body []byte) (map[string]any, *apiError) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'%s' ----> InnerException : Microsoft.OData.ODataException: The request body is not a JSON object: %v", t.set, err)
	}
	return m, nil
}

// changeSet is a parsed write body: column values by attribute index.
type changeSet map[int]any

// parseChanges validates a create or update body for t: known columns of
// the right type and length, @odata.bind to existing rows through declared
// navigation properties. System columns are ignored, as Dataverse ignores
// values it sets itself.
func (s *Sim) parseChanges(c *call, t *table, body map[string]any) (changeSet, *apiError) {
	ch := changeSet{}
	for k, v := range body {
		if nav, ok := strings.CutSuffix(k, "@odata.bind"); ok {
			n, declared := t.navs[nav]
			if !declared {
				return nil, errf(http.StatusBadRequest, codePayload,
					"Error identified in Payload provided by the user for Entity :'%s' ----> InnerException : Microsoft.OData.ODataException: An undeclared property '%s' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values.", t.set, nav)
			}
			if v == nil {
				if n.target == "" {
					return nil, errOwnerRequired(t)
				}
				ch[n.attr] = nil
				continue
			}
			ref, isString := v.(string)
			if !isString {
				return nil, errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'%s': the value of '%s' must be an entity reference.", t.set, k)
			}
			target, r, err := s.resolveRef(c, ref)
			if err != nil {
				return nil, err
			}
			if !n.accepts(target.set) {
				return nil, errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'%s': '%s' binds to %s, not %s.", t.set, k, target.set, strings.Join(n.sets(), " or "))
			}
			ch[n.attr] = lookupValue{id: r.id, set: target.set}
			continue
		}
		if strings.HasPrefix(k, "@") || strings.Contains(k, "@") {
			continue // instance annotations such as @odata.type
		}
		if n, ok := t.navs[k]; ok && v == nil {
			if n.target == "" {
				return nil, errOwnerRequired(t)
			}
			ch[n.attr] = nil // {"parentaccountid": null} clears the lookup
			continue
		}
		i, ok := t.attr(k)
		if ok && t.attrs[i].typ == typeParties {
			parties, err := s.parseParties(c, t, t.attrs[i], v)
			if err != nil {
				return nil, err
			}
			ch[i] = parties
			continue
		}
		if !ok || t.attrs[i].typ == typeLookup {
			return nil, errf(http.StatusBadRequest, codeQuery,
				"An error occurred while validating input parameters: Microsoft.Crm.CrmException: Invalid property '%s' was found in entity 'Microsoft.Dynamics.CRM.%s'.", k, t.logical)
		}
		a := t.attrs[i]
		if a.readOnly {
			continue
		}
		val, err := convert(t, a, v)
		if err != nil {
			return nil, err
		}
		ch[i] = val
	}
	if t.set == "annotations" {
		if err := s.checkDocument(t, ch); err != nil {
			return nil, err
		}
	}
	return ch, nil
}

// checkDocument enforces the organization's maxuploadfilesize on the
// Base64 documentbody of a note, and sets filesize.
func (s *Sim) checkDocument(t *table, ch changeSet) *apiError {
	i := t.byJSON["documentbody"]
	v, ok := ch[i]
	if !ok {
		return nil
	}
	body, _ := v.(string)
	if len(body) > s.organization().maxUpload {
		return errf(http.StatusBadRequest, codeFileTooBig, "Attachment file size is too big.")
	}
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'annotations': documentbody is not valid Base64.")
	}
	ch[t.byJSON["filesize"]] = int64(len(raw))
	return nil
}

// resolveRef finds the row an entity reference names: "/accounts(id)",
// "accounts(accountnumber='A1')", an absolute URL, or "$n" in a $batch.
func (s *Sim) resolveRef(c *call, ref string) (*table, *row, *apiError) {
	if strings.HasPrefix(ref, "$") && c.batch != nil {
		target, ok := c.batch.ids[ref]
		if !ok {
			return nil, nil, errf(http.StatusBadRequest, codeNone, "Content-ID Reference: '%s' does not exist in the batch context.", ref)
		}
		ref = target
	}
	if i := strings.Index(ref, "/api/data/"); i >= 0 {
		ref = ref[i+len("/api/data/"):]
		_, ref, _ = strings.Cut(ref, "/")
	}
	ref = strings.TrimPrefix(ref, "/")
	name, parts, hasKey, err := splitResource(ref)
	if err != nil {
		return nil, nil, err
	}
	t, ok := s.st.tables[name]
	if !ok || !hasKey {
		return nil, nil, errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user: '%s' is not a reference to a record.", ref)
	}
	k, err := resolveKey(t, parts)
	if err != nil {
		return nil, nil, err
	}
	r := k.find(t)
	if r == nil {
		return nil, nil, k.notFound(t)
	}
	return t, r, nil
}
