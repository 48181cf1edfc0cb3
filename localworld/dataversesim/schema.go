package dataversesim

import "sort"

// attrType is a column's Dataverse AttributeType.
type attrType int

const (
	typeString attrType = iota
	typeMemo
	typeGUID // Uniqueidentifier (the primary key)
	typeInt
	typeBigInt
	typeMoney
	typeDouble
	typeBool
	typeDateTime
	typeLookup // also Customer and Owner lookups
	typePicklist
	typeParties    // the activity parties of an activity: a collection, not a column
	typeEntityName // a table's logical name, e.g. annotation.objecttypecode
)

// metadataName is the AttributeType name EntityDefinitions reports for a
// column of type t (attribute.metaName overrides it).
func (t attrType) metadataName() string {
	return [...]string{"String", "Memo", "Uniqueidentifier", "Integer", "BigInt", "Money", "Double", "Boolean", "DateTime", "Lookup", "Picklist", "Virtual", "EntityName"}[t]
}

// attribute is one column. Lookups are exposed in JSON as _<logical>_value.
type attribute struct {
	logical  string   // logical name, e.g. "primarycontactid"
	typ      attrType //
	maxLen   int      // strings: the maximum length; 0 means unlimited
	targets  []string // lookups: the entity sets it may point to
	readOnly bool     // set by the system (createdon, modifiedon, fullname, ...)
	metaName string   // the AttributeType EntityDefinitions reports, when not the type's (ownerid: "Owner")
}

// isColumn reports whether a is a column, which $select, $filter and
// $orderby can name, rather than the activity-parties collection.
func (a *attribute) isColumn() bool { return a.typ != typeParties }

// isText reports whether a's values are strings, which the $filter string
// functions take.
func (a *attribute) isText() bool {
	return a.typ == typeString || a.typ == typeMemo || a.typ == typeEntityName
}

// jsonName is the property name in the Web API's JSON.
func (a *attribute) jsonName() string {
	if a.typ == typeLookup {
		return "_" + a.logical + "_value"
	}
	return a.logical
}

// navigation is a single-valued navigation property that sets a lookup,
// e.g. primarycontactid, parentcustomerid_account or
// regardingobjectid_account_appointment. An owner's ownerid is one
// navigation to either of two sets (its type is principal, which systemuser
// and team derive from): target is empty and targets names them.
type navigation struct {
	name    string
	attr    int      // index of the lookup attribute
	target  string   // entity set it points to; "" for ownerid
	targets []string // ownerid: the entity sets it may point to
}

// sets are the entity sets the navigation may point to.
func (n *navigation) sets() []string {
	if n.target != "" {
		return []string{n.target}
	}
	return n.targets
}

// accepts reports whether the navigation may point to a row of set.
func (n *navigation) accepts(set string) bool {
	if n.target != "" {
		return n.target == set
	}
	return containsString(n.targets, set)
}

// relation is a collection-valued navigation property of a many-to-many
// relationship, e.g. systemusers(<id>)/teammembership_association: the
// rows of target related to a row of the table it is declared on.
type relation struct {
	name    string
	target  string                                // entity set of the related rows
	related func(st *store, from, to string) bool // whether row to of target is related to row from
}

// altKey is an alternate key: a set of columns unique in the table.
type altKey struct {
	name  string
	attrs []int
}

// table is one entity set with its metadata and rows.
type table struct {
	logical     string // e.g. "account"
	set         string // e.g. "accounts"
	pk          int    // index of the primary key attribute
	primaryName string // e.g. "name"
	tracked     bool   // ChangeTrackingEnabled
	attrs       []*attribute
	byJSON      map[string]int // JSON property name -> attribute index
	navs        map[string]*navigation
	keys        []altKey
	hasNotes    bool
	ownership   string               // OwnershipType: "UserOwned", "BusinessOwned"; "" when not reported
	owned       bool                 // has ownerid, owninguser, owningteam and owningbusinessunit
	relations   map[string]*relation // collection-valued navigation properties by name

	rows       map[string]*row // by lower-case id
	ids        []string        // lower-case ids, sorted: the default order
	tombstones []tombstone     // in version order
}

func (t *table) pkName() string { return t.attrs[t.pk].logical }

// attr returns the attribute with JSON name n.
func (t *table) attr(n string) (int, bool) {
	i, ok := t.byJSON[n]
	return i, ok
}

// index builds the lookup maps once the attributes are declared.
func (t *table) index() {
	t.byJSON = make(map[string]int, len(t.attrs))
	for i, a := range t.attrs {
		t.byJSON[a.jsonName()] = i
	}
	t.rows = map[string]*row{}
	if t.navs == nil {
		t.navs = map[string]*navigation{}
	}
	if t.relations == nil {
		t.relations = map[string]*relation{}
	}
}

// addNav declares navigation properties for lookup attribute logical; for a
// lookup with several targets (Customer, Regarding) one per target, named
// by nameFor.
func (t *table) addNav(logical string, nameFor func(targetLogical string) string, sets map[string]string) {
	i, ok := t.byJSON["_"+logical+"_value"]
	if !ok {
		panic("dataversesim: no lookup " + logical)
	}
	for _, target := range t.attrs[i].targets {
		n := nameFor(sets[target])
		t.navs[n] = &navigation{name: n, attr: i, target: target}
	}
}

// key returns the alternate key made of exactly the attributes in names.
func (t *table) key(names []string) (altKey, bool) {
	want := append([]string(nil), names...)
	sort.Strings(want)
	for _, k := range t.keys {
		if len(k.attrs) != len(want) {
			continue
		}
		got := make([]string, len(k.attrs))
		for i, a := range k.attrs {
			got[i] = t.attrs[a].jsonName()
		}
		sort.Strings(got)
		same := true
		for i := range got {
			if got[i] != want[i] {
				same = false
			}
		}
		if same {
			return k, true
		}
	}
	return altKey{}, false
}
