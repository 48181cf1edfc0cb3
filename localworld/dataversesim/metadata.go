package dataversesim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// serviceDocument answers GET /api/data/v9.2/: the entity sets.
func (s *Sim) serviceDocument(c *call) *response {
	if c.method != http.MethodGet {
		return errorResponse(errNoHTTPResource(c.rawURL))
	}
	var sets []map[string]string
	for _, name := range s.setNames() {
		sets = append(sets, map[string]string{"name": name, "kind": "EntitySet", "url": name})
	}
	b, _ := json.Marshal(map[string]any{"@odata.context": c.base + "$metadata", "value": sets})
	return jsonResponse(http.StatusOK, b)
}

func (s *Sim) setNames() []string {
	var names []string
	for n := range s.st.tables {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// entityDefinition is the EntityMetadata the simulator reports.
func entityDefinition(t *table, withAttrs bool, tables map[string]*table) map[string]any {
	d := map[string]any{
		"MetadataId": uuid.NewSHA1(OrganizationID, []byte(t.logical)), "LogicalName": t.logical, "SchemaName": strings.ToUpper(t.logical[:1]) + t.logical[1:],
		"EntitySetName": t.set, "PrimaryIdAttribute": t.pkName(), "PrimaryNameAttribute": t.primaryName,
		"ChangeTrackingEnabled": t.tracked, "CanChangeTrackingBeEnabled": map[string]any{"Value": true, "CanBeChanged": !t.tracked},
		"IsOptimisticConcurrencyEnabled": true, "HasNotes": t.hasNotes,
	}
	if t.ownership != "" {
		d["OwnershipType"] = t.ownership
	}
	if withAttrs {
		var attrs []map[string]any
		for _, a := range t.attrs {
			if !a.isColumn() {
				continue
			}
			typ := a.typ.metadataName()
			if a.metaName != "" {
				typ = a.metaName
			}
			attrs = append(attrs, map[string]any{"LogicalName": a.logical, "AttributeType": typ, "MaxLength": a.maxLen, "Targets": targetsLogical(a, tables)})
		}
		d["Attributes"] = attrs
	}
	return d
}

func targetsLogical(a *attribute, tables map[string]*table) []string {
	var out []string
	for _, set := range a.targets {
		out = append(out, tables[set].logical)
	}
	return out
}

// entityDefinitions answers EntityDefinitions, EntityDefinitions(LogicalName='x')
// with $select (ignored: every property is returned), $expand=Attributes and a
// $filter on ChangeTrackingEnabled.
func (s *Sim) entityDefinitions(c *call) *response {
	if c.method != http.MethodGet || len(c.segs) > 1 {
		return errorResponse(errNoHTTPResource(c.rawURL))
	}
	withAttrs := strings.Contains(c.query.Get("$expand"), "Attributes")
	ctx := c.base + "$metadata#EntityDefinitions"
	name, parts, hasKey, err := splitResource(c.segs[0])
	if err != nil || name != "EntityDefinitions" {
		return errorResponse(errNoSegment(c.segs[0]))
	}
	if hasKey {
		if len(parts) != 1 || parts[0].name != "LogicalName" || !parts[0].quoted {
			return errorResponse(errf(http.StatusBadRequest, codeQuery, "EntityDefinitions is addressed by MetadataId or LogicalName='<name>'."))
		}
		for _, t := range s.st.tables {
			if t.logical == parts[0].value {
				d := entityDefinition(t, withAttrs, s.st.tables)
				d["@odata.context"] = ctx + "/$entity"
				b, _ := json.Marshal(d)
				return jsonResponse(http.StatusOK, b)
			}
		}
		return errorResponse(errf(http.StatusNotFound, "0x80040217", "Could not find entity with name '%s'.", parts[0].value))
	}
	filter := strings.ReplaceAll(c.query.Get("$filter"), " ", "")
	var out []map[string]any
	for _, n := range s.setNames() {
		t := s.st.tables[n]
		switch filter {
		case "", "ChangeTrackingEnabledeqtrue":
			if filter != "" && !t.tracked {
				continue
			}
		case "ChangeTrackingEnabledeqfalse":
			if t.tracked {
				continue
			}
		default:
			return errorResponse(errf(http.StatusBadRequest, codeQuery, "The simulator filters EntityDefinitions only on ChangeTrackingEnabled, not %q.", c.query.Get("$filter")))
		}
		out = append(out, entityDefinition(t, withAttrs, s.st.tables))
	}
	b, _ := json.Marshal(map[string]any{"@odata.context": ctx, "value": out})
	return jsonResponse(http.StatusOK, b)
}
