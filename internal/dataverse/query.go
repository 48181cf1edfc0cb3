package dataverse

import (
	"net/url"
	"strconv"
	"strings"
)

// Query holds the system query options of a read. Filter is an OData
// expression; build it with Filterf so literals are escaped.
type Query struct {
	Select  []string
	Filter  string
	OrderBy []string // e.g. "modifiedon desc"
	Top     int      // ignored by Dataverse when a page size is set
	Expand  []string // e.g. "primarycontactid($select=fullname)"
	Count   bool
}

// Encode returns the query string, options in a fixed order, values
// percent-encoded (spaces as %20, '+' as %2B, as Dataverse requires).
func (q *Query) Encode() string {
	if q == nil {
		return ""
	}
	var parts []string
	add := func(name, value string) {
		if value != "" {
			parts = append(parts, name+"="+escapeValue(value))
		}
	}
	add("$select", strings.Join(q.Select, ","))
	add("$filter", q.Filter)
	add("$orderby", strings.Join(q.OrderBy, ","))
	if q.Top > 0 {
		add("$top", strconv.Itoa(q.Top))
	}
	add("$expand", strings.Join(q.Expand, ","))
	if q.Count {
		add("$count", "true")
	}
	return strings.Join(parts, "&")
}

// escapeValue percent-encodes a query value, keeping the characters OData
// syntax uses readable.
func escapeValue(v string) string {
	e := strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
	return keepODataPunctuation.Replace(e)
}

var keepODataPunctuation = strings.NewReplacer("%2C", ",", "%28", "(", "%29", ")", "%27", "'", "%2F", "/", "%24", "$", "%3A", ":")

// withQuery joins a path and an encoded query string.
func withQuery(path, query string) string {
	if query == "" {
		return path
	}
	return path + "?" + query
}
