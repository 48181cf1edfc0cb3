package report

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/uploadconfig"
)

// Bounds of a report that do not depend on configuration. Text lengths
// follow Dataverse's column limits where they are fixed (the appointment's
// subject and location: 200; a note's subject: 500, its text 100,000).
const (
	MaxNotes          = 50
	MaxCustomers      = 50
	maxSubject        = 200
	maxLocation       = 200
	maxDescription    = 100000
	maxNoteSubject    = 500
	maxNoteText       = 100000
	maxDocumentName   = 255
	maxMimeType       = 256
	maxKeyValueLength = 4000
	maxETag           = 70
)

// Limits are the configurable bounds Decode enforces.
type Limits struct {
	// MaxDocuments bounds the number of documents.
	MaxDocuments int
	// MaxDocumentBase64 is the organization's maxuploadfilesize: the
	// longest Base64 text of one document Dataverse accepts. 0 means it is
	// not known, and then it is not checked (Dataverse will say so).
	MaxDocumentBase64 int64
}

// uploadIDPattern bounds upload ids so that no id needs escaping in a
// table key or a log line.
var uploadIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// ValidUploadID reports whether id can be an upload id: 1-100 letters,
// digits, '.', '_' or '-', starting with a letter or digit. The API checks
// client-generated ids with it, and the uploads queue's messages too.
func ValidUploadID(id string) bool { return uploadIDPattern.MatchString(id) }

// Decode reads a report strictly from body, once, as it arrives: unknown
// fields are refused, and so are fields given twice; every value is
// checked against its rules and the allow-list, and every problem is
// reported at once in an apperr Invalid error whose Problems name each
// field (meeting.start, customers[0].fields.foo). Times are returned in
// UTC. Each document's content is decoded as it is read, into spool (nil:
// only hashed) and its SHA-256, so Decode holds one buffer of it at a
// time, never a document; the Document has its size and SHA-256.
//
// Other errors: a failure to read body (wrapping its error, e.g. the
// caller's limit of the body's size), or of the spool.
func Decode(body io.Reader, allow uploadconfig.Config, lim Limits, spool Spool) (*Report, error) {
	var p apperr.Problems
	parsed, err := parse(body, lim, spool)
	if err != nil {
		var bp bodyProblem
		if errors.As(err, &bp) {
			p.Add("(body)", "%s", string(bp))
			return nil, invalid(p)
		}
		return nil, err
	}
	if parsed.top == nil {
		p.Add("(body)", "must be a JSON object")
		return nil, invalid(p)
	}
	top := &object{m: parsed.top, taken: map[string]bool{}, p: &p}
	top.twice(parsed.dups)
	r := &Report{UploadID: top.str("uploadId", true, 100)}
	if r.UploadID != "" && !ValidUploadID(r.UploadID) {
		p.Add("uploadId", "must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	customers := top.array("customers", MaxCustomers)
	if m := top.object("meeting", true); m != nil {
		r.Meeting = decodeMeeting(m, allow, len(customers))
	}
	for i, n := range top.array("notes", MaxNotes) {
		if o := newObject(n, Item("notes", i), Item("notes", i)+".", &p); o != nil {
			r.Notes = append(r.Notes, Note{Subject: o.str("subject", false, maxNoteSubject), Text: o.str("text", true, maxNoteText)})
			o.done("subject, text")
		}
	}
	for i, c := range customers {
		if o := newObject(c, Item("customers", i), Item("customers", i)+".", &p); o != nil {
			r.Customers = append(r.Customers, decodeCustomer(o, allow))
		}
	}
	switch docs := parsed.docs; {
	case docs == nil:
		top.array("documents", lim.MaxDocuments) // absent, or not an array
	case docs.n > lim.MaxDocuments:
		top.taken["documents"] = true
		p.Add("documents", "has %d elements; at most %d are allowed", docs.n, lim.MaxDocuments)
	default:
		top.taken["documents"] = true
		for i, d := range docs.items {
			name := Item("documents", i)
			if d.m == nil {
				newObject(d.raw, name, name+".", &p) // says it is not an object
				continue
			}
			o := &object{m: d.m, path: name + ".", taken: map[string]bool{}, p: &p}
			o.twice(d.dups)
			r.Documents = append(r.Documents, decodeDocument(o, lim, d.content))
		}
	}
	top.done("uploadId, meeting, notes, customers, documents")
	if len(p) > 0 {
		return nil, invalid(p)
	}
	return r, nil
}

func invalid(p apperr.Problems) error {
	return apperr.InvalidProblems(fmt.Sprintf("the meeting report has %d problem(s); fix them all and send it again", len(p)), p)
}

func decodeMeeting(o *object, allow uploadconfig.Config, customers int) Meeting {
	m := Meeting{
		Subject:     o.str("subject", true, maxSubject),
		Start:       o.time("start"),
		End:         o.time("end"),
		Location:    o.str("location", false, maxLocation),
		Description: o.str("description", false, maxDescription),
	}
	if !m.Start.IsZero() && !m.End.IsZero() && m.End.Before(m.Start) {
		o.p.Add(o.field("end"), "is before meeting.start")
	}
	if ref := o.object("regarding", false); ref != nil {
		m.Regarding = decodeReference(ref, allow, customers)
	}
	o.done("subject, start, end, location, description, regarding")
	return m
}

// time takes a required RFC 3339 time with its offset.
func (o *object) time(key string) time.Time {
	s := o.str(key, true, 64)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		o.p.Add(o.field(key), "is not an RFC 3339 time with an offset, e.g. 2026-03-02T09:30:00Z")
		return time.Time{}
	}
	return t.UTC()
}

func decodeReference(o *object, allow uploadconfig.Config, customers int) *Reference {
	ref := &Reference{}
	if v, ok := o.raw("customer"); ok {
		var i int
		switch err := json.Unmarshal(v, &i); {
		case err != nil:
			o.p.Add(o.field("customer"), "must be the index of one of the report's customers")
		case i < 0 || i >= customers:
			o.p.Add(o.field("customer"), "is %d, but the report has %d customer(s)", i, customers)
		default:
			ref.Customer = &i
		}
		for _, other := range []string{"entitySet", "id", "key"} {
			if _, ok := o.raw(other); ok {
				o.p.Add(o.field(other), "must not be set with customer; the customer says which record it is")
			}
		}
		o.done("customer, or entitySet with id or key")
		return ref
	}
	es, ok := entitySet(o, allow)
	ref.EntitySet = es.Name
	ref.ID, ref.Key = idOrKey(o, es, ok)
	if ref.ID == "" && ref.Key == nil && !o.hasProblemsUnder() {
		o.p.Add(o.path[:len(o.path)-1], "names no record; give its id, its key, or customer (the index of one of the report's customers)")
	}
	o.done("customer, or entitySet with id or key")
	return ref
}

// hasProblemsUnder reports problems already found inside this object.
func (o *object) hasProblemsUnder() bool {
	for _, pr := range *o.p {
		if strings.HasPrefix(pr.Field, o.path) {
			return true
		}
	}
	return false
}

// entitySet takes entitySet and finds it in the allow-list.
func entitySet(o *object, allow uploadconfig.Config) (uploadconfig.EntitySet, bool) {
	name := o.str("entitySet", true, 128)
	if name == "" {
		return uploadconfig.EntitySet{}, false
	}
	es, ok := allow.EntitySet(name)
	if !ok {
		o.p.Add(o.field("entitySet"), "%q is not an entity set reports may write; the allowed ones are %s", name, strings.Join(allow.SetNames(), ", "))
	}
	return es, ok
}

// idOrKey takes the optional id (a GUID) and key (an alternate key of es),
// at most one of them.
func idOrKey(o *object, es uploadconfig.EntitySet, known bool) (string, map[string]any) {
	id := o.str("id", false, 64)
	if id != "" {
		if u, err := uuid.Parse(id); err != nil || len(id) != 36 {
			o.p.Add(o.field("id"), "is not a GUID like 00000000-0000-0000-0000-000000000000")
			id = ""
		} else {
			id = u.String()
		}
	}
	key, ok := o.values("key")
	if !ok {
		return id, nil
	}
	if id != "" {
		o.p.Add(o.field("key"), "must not be set with id; name the record one way")
		return id, nil
	}
	names := slices.Sorted(maps.Keys(key))
	for _, k := range names {
		v := key[k]
		f := o.field("key." + k)
		switch x := v.(type) {
		case string:
			if x == "" || len(x) > maxKeyValueLength {
				o.p.Add(f, "must be a non-empty string of at most %d characters", maxKeyValueLength)
			}
		case json.Number:
			if _, err := x.Int64(); err != nil {
				o.p.Add(f, "must be a string or a whole number")
			}
		default:
			o.p.Add(f, "must be a string or a whole number")
		}
	}
	if !known {
		return "", key
	}
	if len(key) == 0 {
		o.p.Add(o.field("key"), "is empty; name the columns of an alternate key of %s", es.Name)
	} else if _, ok := es.Key(names); !ok {
		o.p.Add(o.field("key"), "is not an alternate key of %s; its keys are %s", es.Name, describeKeys(es.Keys))
	}
	return "", key
}

func describeKeys(keys [][]string) string {
	if len(keys) == 0 {
		return "none (address its rows by id)"
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = "(" + strings.Join(k, ", ") + ")"
	}
	return strings.Join(parts, ", ")
}

func decodeCustomer(o *object, allow uploadconfig.Config) Customer {
	es, known := entitySet(o, allow)
	c := Customer{EntitySet: es.Name}
	c.ID, c.Key = idOrKey(o, es, known)
	fields, ok := o.values("fields")
	switch {
	case !ok && !o.reported("fields"):
		o.p.Add(o.field("fields"), "missing; give the columns to write")
	case ok && len(fields) == 0:
		o.p.Add(o.field("fields"), "is empty; give the columns to write")
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		v := fields[name]
		f := o.field("fields." + name)
		switch v.(type) {
		case string, json.Number, bool, nil:
		default:
			o.p.Add(f, "must be a string, number, boolean or null")
			continue
		}
		if !known {
			continue
		}
		if _, inKey := c.Key[name]; inKey {
			o.p.Add(f, "is part of the key; the key already sets it")
		} else if !es.AllowsField(name) {
			o.p.Add(f, "is not a column reports may write in %s; the allowed ones are %s", es.Name, strings.Join(es.Fields, ", "))
		}
	}
	c.Fields = fields
	if c.IfMatch = o.str("ifMatch", false, maxETag); c.IfMatch != "" {
		switch {
		case !etagPattern.MatchString(c.IfMatch):
			o.p.Add(o.field("ifMatch"), "is not an ETag like W/\"12345\"; send the row's @odata.etag as /api/changes gave it")
		case c.ID == "":
			o.p.Add(o.field("ifMatch"), "needs id; a row named by key, or a new row, is written without a version")
		}
	}
	o.done("entitySet, id, key, fields, ifMatch")
	return c
}

// etagPattern is an entity tag (RFC 9110 §8.8.3), weak as Dataverse's are
// or strong, whose characters are safe in a request header.
var etagPattern = regexp.MustCompile(`^(W/)?"[\x21\x23-\x7e]{1,64}"$`)

// reported says whether a problem was found with key already.
func (o *object) reported(key string) bool {
	for _, pr := range *o.p {
		if pr.Field == o.field(key) {
			return true
		}
	}
	return false
}

func decodeDocument(o *object, lim Limits, c *content) Document {
	d := Document{Name: o.str("name", true, maxDocumentName), MimeType: o.str("mimeType", true, maxMimeType)}
	if strings.ContainsAny(d.Name, "/\\") || strings.ContainsFunc(d.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		o.p.Add(o.field("name"), "must be a file name without '/', '\\' or control characters")
	}
	if d.MimeType != "" {
		if mt, _, err := mime.ParseMediaType(d.MimeType); err != nil || !strings.Contains(mt, "/") {
			o.p.Add(o.field("mimeType"), "is not a MIME type like application/pdf")
		}
	}
	if c == nil { // absent, null or not a string
		o.str("content", true, 0)
		o.done("name, mimeType, content")
		return d
	}
	o.taken["content"] = true
	switch {
	case c.length == 0:
		o.p.Add(o.field("content"), "is empty")
		o.done("name, mimeType, content")
		return d
	case !c.nonSpace:
		o.p.Add(o.field("content"), "is empty")
	}
	switch size := int64(base64.StdEncoding.EncodedLen(int(c.size))); {
	case c.bad:
		o.p.Add(o.field("content"), "is not standard Base64 (RFC 4648 §4, with padding)")
	case lim.MaxDocumentBase64 > 0 && size > lim.MaxDocumentBase64:
		o.p.Add(o.field("content"), "is %d bytes of Base64; the organisation's Dynamics accepts at most %d (maxuploadfilesize)",
			size, lim.MaxDocumentBase64)
	default:
		d.Size, d.SHA256 = c.size, c.sha256()
	}
	o.done("name, mimeType, content")
	return d
}
