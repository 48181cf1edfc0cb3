package dataverse

import (
	"fmt"
	"net/url"
	"strings"
)

// Ref names one record: an entity set and a key, the primary key or an
// alternate key. Build it with ByID or ByKey.
type Ref struct {
	Set       string
	key       string // the rendered key, without parentheses
	contentID string // "$n" inside a $batch change set
}

// ByContentID refers to the record created or changed by the request with
// that Content-ID ("$1") earlier in the same $batch change set.
func ByContentID(ref string) Ref { return Ref{contentID: ref} }

// ByID refers to the record of set with primary key id.
func ByID(set, id string) Ref { return Ref{Set: set, key: strings.ToLower(id)} }

// ByKey refers to the record of set with alternate-key values given as
// name, value pairs: ByKey("accounts", "accountnumber", "A-1") or
// ByKey("leads", "companyname", "Contoso", "emailaddress1", "a@b.c").
// Values are rendered with Literal. It panics on an odd number of
// arguments or a non-string name, which are programming errors.
func ByKey(set string, pairs ...any) Ref {
	if len(pairs) == 0 || len(pairs)%2 != 0 {
		panic("dataverse: ByKey needs name, value pairs")
	}
	parts := make([]string, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		name, ok := pairs[i].(string)
		if !ok {
			panic(fmt.Sprintf("dataverse: ByKey name %v is not a string", pairs[i]))
		}
		parts = append(parts, name+"="+Literal(pairs[i+1]))
	}
	return Ref{Set: set, key: strings.Join(parts, ",")}
}

// Path is the record's path relative to the API root, escaped for a URL:
// accounts(accountnumber='A%2F1').
func (r Ref) Path() string {
	if r.contentID != "" {
		return r.contentID
	}
	return r.Set + "(" + escapeKey(r.key) + ")"
}

// Bind is the value of an @odata.bind annotation pointing at the record.
func (r Ref) Bind() string {
	if r.contentID != "" {
		return r.contentID
	}
	return "/" + r.Path()
}

// String is the unescaped form, for messages.
func (r Ref) String() string {
	if r.contentID != "" {
		return r.contentID
	}
	return r.Set + "(" + r.key + ")"
}

// escapeKey percent-encodes the characters of a key that would change the
// URL's structure, keeping OData's own punctuation.
func escapeKey(k string) string {
	e := url.PathEscape(k)
	return strings.NewReplacer("%27", "'", "%28", "(", "%29", ")", "%2C", ",", "%3D", "=").Replace(e)
}
