package dataversesim

// The simulated environment's tables. accounts, contacts and appointments
// have change tracking on, leads has it off (the sync falls back to a
// modifiedon watermark there), annotations hold notes and documents, and
// organizations holds the one organization row with its settings.
// accounts, contacts, appointments, leads and annotations are user-owned
// (ownerColumns); businessunits, systemusers and teams are the principals
// that own them (docs/reference/dataverse-webapi.md §6.4).

func str(name string, maxLen int) *attribute {
	return &attribute{logical: name, typ: typeString, maxLen: maxLen}
}
func sys(name string, t attrType) *attribute {
	return &attribute{logical: name, typ: t, readOnly: true}
}
func col(name string, t attrType) *attribute { return &attribute{logical: name, typ: t} }
func lookup(name string, targets ...string) *attribute {
	return &attribute{logical: name, typ: typeLookup, targets: targets}
}

// ownerColumns are the columns of a user-owned table: ownerid, a
// systemuser or a team, set with ownerid@odata.bind; owninguser or
// owningteam, whichever the owner is; and owningbusinessunit, the owner's
// business unit. The last three are kept by the system (store.own).
func ownerColumns() []*attribute {
	return []*attribute{
		{logical: "ownerid", typ: typeLookup, targets: []string{"systemusers", "teams"}, metaName: "Owner"},
		{logical: "owninguser", typ: typeLookup, targets: []string{"systemusers"}, readOnly: true},
		{logical: "owningteam", typ: typeLookup, targets: []string{"teams"}, readOnly: true},
		{logical: "owningbusinessunit", typ: typeLookup, targets: []string{"businessunits"}, readOnly: true},
	}
}

// userOwned declares a user-owned table's columns: attrs, the owner
// columns, the audit columns.
func userOwned(attrs ...*attribute) []*attribute {
	return append(append(attrs, ownerColumns()...), auditColumns()...)
}

// auditColumns are the system columns every table has.
func auditColumns() []*attribute {
	return []*attribute{sys("createdon", typeDateTime), sys("modifiedon", typeDateTime), sys("versionnumber", typeBigInt)}
}

// newSchema returns the simulator's tables, empty, by entity set name.
func newSchema() map[string]*table {
	ts := []*table{
		{
			logical: "account", set: "accounts", primaryName: "name", tracked: true, hasNotes: true, owned: true, ownership: "UserOwned",
			attrs: userOwned(
				col("accountid", typeGUID), str("name", 160), str("accountnumber", 20), str("telephone1", 50),
				str("emailaddress1", 100), str("address1_city", 80), str("websiteurl", 200), col("description", typeMemo),
				col("revenue", typeMoney), col("numberofemployees", typeInt), col("creditonhold", typeBool),
				col("industrycode", typePicklist), col("statecode", typePicklist), lookup("primarycontactid", "contacts"),
			),
		},
		{
			logical: "contact", set: "contacts", primaryName: "fullname", tracked: true, hasNotes: true, owned: true, ownership: "UserOwned",
			attrs: userOwned(
				col("contactid", typeGUID), str("firstname", 50), str("lastname", 50), sys("fullname", typeString),
				str("emailaddress1", 100), str("telephone1", 50), str("jobtitle", 100), col("birthdate", typeDateTime),
				col("description", typeMemo), col("statecode", typePicklist), lookup("parentcustomerid", "accounts", "contacts"),
			),
		},
		{
			logical: "appointment", set: "appointments", primaryName: "subject", tracked: true, hasNotes: true, owned: true, ownership: "UserOwned",
			attrs: userOwned(
				col("activityid", typeGUID), str("subject", 200), col("description", typeMemo), str("location", 200),
				col("scheduledstart", typeDateTime), col("scheduledend", typeDateTime), col("isalldayevent", typeBool),
				col("statecode", typePicklist), lookup("regardingobjectid", "accounts", "contacts"),
				&attribute{logical: "appointment_activity_parties", typ: typeParties, targets: []string{"contacts", "accounts"}},
			),
		},
		{
			logical: "lead", set: "leads", primaryName: "fullname", tracked: false, hasNotes: true, owned: true, ownership: "UserOwned",
			attrs: userOwned(
				col("leadid", typeGUID), str("subject", 300), str("firstname", 50), str("lastname", 50), sys("fullname", typeString),
				str("companyname", 100), str("emailaddress1", 100), col("statecode", typePicklist),
			),
		},
		{
			logical: "annotation", set: "annotations", primaryName: "subject", tracked: true, owned: true, ownership: "UserOwned",
			attrs: userOwned(
				col("annotationid", typeGUID), str("subject", 500), col("notetext", typeMemo), str("filename", 255),
				str("mimetype", 256), col("documentbody", typeMemo), col("isdocument", typeBool), sys("filesize", typeInt),
				lookup("objectid", "accounts", "contacts", "appointments", "leads"),
				sys("objecttypecode", typeEntityName), // the logical name of objectid's table, kept by the system
			),
		},
		{
			logical: "organization", set: "organizations", primaryName: "name", tracked: false,
			attrs: append([]*attribute{
				col("organizationid", typeGUID), str("name", 160), col("maxuploadfilesize", typeInt),
				col("expirechangetrackingindays", typeInt),
			}, auditColumns()...),
		},
		{
			logical: "businessunit", set: "businessunits", primaryName: "name", ownership: "BusinessOwned",
			attrs: append([]*attribute{
				col("businessunitid", typeGUID), str("name", 160), lookup("parentbusinessunitid", "businessunits"),
			}, auditColumns()...),
		},
		{
			logical: "systemuser", set: "systemusers", primaryName: "fullname", ownership: "BusinessOwned",
			attrs: append([]*attribute{
				col("systemuserid", typeGUID), str("firstname", 256), str("lastname", 256), sys("fullname", typeString),
				str("domainname", 1024), str("internalemailaddress", 100), col("azureactivedirectoryobjectid", typeGUID),
				col("isdisabled", typeBool), lookup("businessunitid", "businessunits"),
			}, auditColumns()...),
		},
		{
			logical: "team", set: "teams", primaryName: "name", ownership: "BusinessOwned",
			attrs: append([]*attribute{
				col("teamid", typeGUID), str("name", 160), lookup("businessunitid", "businessunits"), col("teamtype", typePicklist),
				sys("isdefault", typeBool), // the business unit's default team, whose members are the unit's users
			}, auditColumns()...),
		},
	}
	logicalOf := map[string]string{}
	bySet := map[string]*table{}
	for _, t := range ts {
		t.index()
		logicalOf[t.set] = t.logical
		bySet[t.set] = t
	}
	// The primary key is the first column of every table.
	for _, t := range ts {
		t.pk = 0
	}
	must := func(t *table, name string) int {
		i, ok := t.byJSON[name]
		if !ok {
			panic("dataversesim: no column " + name)
		}
		return i
	}
	acc, con, appt, lead, note := bySet["accounts"], bySet["contacts"], bySet["appointments"], bySet["leads"], bySet["annotations"]
	acc.addNav("primarycontactid", func(string) string { return "primarycontactid" }, logicalOf)
	con.addNav("parentcustomerid", func(l string) string { return "parentcustomerid_" + l }, logicalOf)
	appt.addNav("regardingobjectid", func(l string) string { return "regardingobjectid_" + l + "_appointment" }, logicalOf)
	note.addNav("objectid", func(l string) string { return "objectid_" + l }, logicalOf)
	same := func(name string) func(string) string { return func(string) string { return name } }
	users, teams := bySet["systemusers"], bySet["teams"]
	users.addNav("businessunitid", same("businessunitid"), logicalOf)
	teams.addNav("businessunitid", same("businessunitid"), logicalOf)
	bySet["businessunits"].addNav("parentbusinessunitid", same("parentbusinessunitid"), logicalOf)
	for _, t := range ts {
		if t.owned {
			i := must(t, "_ownerid_value")
			t.navs["ownerid"] = &navigation{name: "ownerid", attr: i, targets: t.attrs[i].targets}
		}
	}
	// teammembership_association, the N:N between systemuser and team, has
	// the same navigation property name on both sides.
	users.relations["teammembership_association"] = &relation{name: "teammembership_association", target: "teams",
		related: func(st *store, user, team string) bool { return st.isMember(team, user) }}
	teams.relations["teammembership_association"] = &relation{name: "teammembership_association", target: "systemusers",
		related: func(st *store, team, user string) bool { return st.isMember(team, user) }}

	acc.keys = []altKey{{name: "accountnumber_key", attrs: []int{must(acc, "accountnumber")}}}
	con.keys = []altKey{{name: "emailaddress1_key", attrs: []int{must(con, "emailaddress1")}}}
	lead.keys = []altKey{{name: "company_email_key", attrs: []int{must(lead, "companyname"), must(lead, "emailaddress1")}}}
	return bySet
}
