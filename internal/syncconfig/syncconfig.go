// Package syncconfig holds what the downstream sync copies from Dynamics:
// which entity sets, which columns, an optional filter for the first load,
// the page size, and the notes (annotations) of the rows synced, with a cap
// on the documents the app may download. It is a JSON document (the
// SYNC_CONFIG setting), read and validated once at start; without it the
// defaults apply.
package syncconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/rowfilter"
)

// Config is the validated sync configuration.
type Config struct {
	// EntitySets are synced in this order.
	EntitySets []EntitySet `json:"entitySets"`
	// Notes are the notes synced with the sets' rows (see Notes).
	Notes Notes `json:"notes,omitzero"`
}

// Notes configures the notes (annotations) the sync copies: only those
// regarding a row of a set whose Notes switch is on and which the user's
// mirror holds, after that set's rows. The document of a note is never
// part of its row; the app downloads it (GET /api/documents/{id}).
type Notes struct {
	// MaxFileSize caps the documents the app may download, in bytes; 0
	// means the organization's maxuploadfilesize.
	MaxFileSize int64 `json:"maxFileSize,omitempty"`
	// PageSize is the odata.maxpagesize of the notes' reads (1–5000).
	PageSize int `json:"pageSize,omitempty"`
}

// NotesSet is the entity set of notes; it cannot be one of EntitySets.
const NotesSet = "annotations"

// NoteColumns are the columns of a synced note: its text and its file's
// metadata, never the document (documentbody).
var NoteColumns = []string{"annotationid", "subject", "notetext", "filename", "mimetype", "filesize",
	"isdocument", "_objectid_value", "objecttypecode", "modifiedon"}

// MaxNoteFileSize is the largest MaxFileSize: Dataverse's own ceiling for
// maxuploadfilesize (131,072,000 bytes).
const MaxNoteFileSize = 131072000

// RowFilter is the set's filter, parsed; nil when it has none.
func (es EntitySet) RowFilter() *rowfilter.Filter { return es.filter }

// NotesOn reports whether notes regarding es's rows are synced.
func (es EntitySet) NotesOn() bool { return es.Notes == nil || *es.Notes }

// NotesOn reports whether any set's notes are synced.
func (c Config) NotesOn() bool {
	for _, es := range c.EntitySets {
		if es.NotesOn() {
			return true
		}
	}
	return false
}

// NotesEntitySet is the set the sync reads notes with, after EntitySets.
func (c Config) NotesEntitySet() EntitySet {
	return EntitySet{Name: NotesSet, Select: NoteColumns, PageSize: c.Notes.PageSize}
}

// EntitySet is one Dataverse entity set to mirror for every connected user.
type EntitySet struct {
	// Name is the entity set name as the Web API spells it (accounts).
	Name string `json:"name"`
	// Select lists the columns to copy ($select). Lookups are spelled as the
	// Web API returns them (_parentcustomerid_value).
	Select []string `json:"select"`
	// Filter, if set, keeps only the rows it matches: the user's offline
	// profile. Dataverse refuses $filter together with change tracking
	// (docs/reference/dataverse-webapi.md §3.3), so the connector evaluates
	// it on every row it reads (internal/rowfilter: a subset of OData
	// $filter with @me, @myteams and @mybusinessunit).
	Filter string `json:"filter,omitempty"`
	// filter is Filter parsed.
	filter *rowfilter.Filter
	// PageSize is the odata.maxpagesize preference (1–5000).
	PageSize int `json:"pageSize,omitempty"`
	// Notes: false keeps the notes regarding this set's rows out of the
	// sync; they are synced when it is absent or true.
	Notes *bool `json:"notes,omitempty"`
	// RelatedTo limits the set to the rows that belong to a row of an
	// earlier set the user's mirror holds (contacts of the user's accounts).
	RelatedTo *Related `json:"relatedTo,omitempty"`
}

// Related names the parent of a set's rows: the set, and the lookup column
// of the child naming the parent row (_parentcustomerid_value).
type Related struct {
	Set    string `json:"set"`
	Lookup string `json:"lookup"`
}

// DefaultPageSize is used when an entity set names none. Dataverse pages
// hold at most 5,000 rows; 1,000 keeps a page's memory small while a sync of
// 100,000 rows still takes only 100 requests.
const DefaultPageSize = 1000

// MaxPageSize is Dataverse's largest page.
const MaxPageSize = 5000

// Default is the configuration used when SYNC_CONFIG is empty: the records
// a field rep needs offline, with columns every Dataverse environment has
// (and the simulator serves; a test in internal/syncer reads them there).
func Default() Config {
	return Config{Notes: Notes{PageSize: DefaultPageSize}, EntitySets: []EntitySet{
		{Name: "accounts", PageSize: DefaultPageSize, Select: []string{
			"accountid", "name", "accountnumber", "telephone1", "emailaddress1", "websiteurl",
			"address1_city", "statecode", "_primarycontactid_value", "modifiedon"}},
		{Name: "contacts", PageSize: DefaultPageSize, Select: []string{
			"contactid", "fullname", "firstname", "lastname", "jobtitle", "emailaddress1", "telephone1",
			"statecode", "_parentcustomerid_value", "modifiedon"}},
		{Name: "appointments", PageSize: DefaultPageSize, Select: []string{
			"activityid", "subject", "scheduledstart", "scheduledend", "location", "description",
			"_regardingobjectid_value", "statecode", "modifiedon"}},
	}}
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// Parse decodes and validates a SYNC_CONFIG document; "" means Default().
// The error is an apperr Invalid error listing every problem, each naming
// its place in the document (entitySets[1].select[0]).
func Parse(doc string) (Config, error) {
	if strings.TrimSpace(doc) == "" {
		return Default(), nil
	}
	var c Config
	if p := apperr.DecodeStrict([]byte(doc), &c, "the fields are entitySets[].name, select, filter, pageSize, notes, relatedTo.set, relatedTo.lookup, and notes.maxFileSize, notes.pageSize"); p != "" {
		return Config{}, apperr.InvalidProblems("sync configuration is not valid", []apperr.Problem{{Field: "(document)", Message: p}})
	}
	var problems apperr.Problems
	add := problems.Add
	if len(c.EntitySets) == 0 {
		add("entitySets", "is empty; list at least one entity set, or leave the setting empty for the defaults")
	}
	seen := map[string]bool{}
	for i := range c.EntitySets {
		es := &c.EntitySets[i]
		at := fmt.Sprintf("entitySets[%d]", i)
		switch {
		case !identifier.MatchString(es.Name):
			add(at+".name", "%q is not an entity set name (letters, digits and _, e.g. accounts)", es.Name)
		case seen[strings.ToLower(es.Name)]:
			add(at+".name", "%q is listed twice", es.Name)
		case strings.EqualFold(es.Name, NotesSet):
			add(at+".name", "annotations are synced as the notes of the other sets' rows; remove this entry and use \"notes\" (per set, and the top-level notes.maxFileSize)")
		}
		seen[strings.ToLower(es.Name)] = true
		if len(es.Select) == 0 {
			add(at+".select", "is empty; list the columns to copy (syncing every column is slow and unbounded)")
		}
		cols := map[string]bool{}
		for j, col := range es.Select {
			switch {
			case !identifier.MatchString(col):
				add(fmt.Sprintf("%s.select[%d]", at, j), "%q is not a column name", col)
			case cols[strings.ToLower(col)]:
				add(fmt.Sprintf("%s.select[%d]", at, j), "%q is listed twice", col)
			}
			cols[strings.ToLower(col)] = true
		}
		if rel := es.RelatedTo; rel != nil {
			rel.Lookup = strings.ToLower(rel.Lookup) // as the Web API returns it
			parent := slices.IndexFunc(c.EntitySets[:i], func(p EntitySet) bool { return strings.EqualFold(p.Name, rel.Set) })
			switch {
			case parent < 0:
				add(at+".relatedTo.set", "%q is not a set listed before %s (a set's parents are synced before it)", rel.Set, es.Name)
			case !identifier.MatchString(rel.Lookup):
				add(at+".relatedTo.lookup", "%q is not a column name; name the lookup as the Web API returns it (_parentcustomerid_value)", rel.Lookup)
			default:
				rel.Set = c.EntitySets[parent].Name // as the parent spells it
			}
		}
		if es.Filter != "" {
			f, err := rowfilter.Parse(es.Filter)
			if err != nil {
				add(at+".filter", "the filter of %s, %s", es.Name, err.Error())
			}
			es.filter = f
		}
		switch {
		case es.PageSize == 0:
			es.PageSize = DefaultPageSize
		case es.PageSize < 1 || es.PageSize > MaxPageSize:
			add(at+".pageSize", "%d is not from 1 to %d", es.PageSize, MaxPageSize)
		}
	}
	n := &c.Notes
	if n.MaxFileSize < 0 || n.MaxFileSize > MaxNoteFileSize {
		add("notes.maxFileSize", "%d is not from 0 (the organization's maxuploadfilesize) to %d bytes", n.MaxFileSize, MaxNoteFileSize)
	}
	switch {
	case n.PageSize == 0:
		n.PageSize = DefaultPageSize
	case n.PageSize < 1 || n.PageSize > MaxPageSize:
		add("notes.pageSize", "%d is not from 1 to %d", n.PageSize, MaxPageSize)
	}
	if err := problems.Err("sync configuration is not valid"); err != nil {
		return Config{}, err
	}
	return c, nil
}

// String renders the configuration as compact JSON (for logs and diagnostics).
func (c Config) String() string {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(c)
	return strings.TrimSpace(b.String())
}
