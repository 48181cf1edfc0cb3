package dataverse

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
)

// MaxPageSize is the largest page Dataverse serves
// (docs/reference/dataverse-webapi.md §2.4).
const MaxPageSize = 5000

// ListOptions configure a read.
type ListOptions struct {
	// MaxPageSize asks for pages of at most this many rows
	// (Prefer: odata.maxpagesize); 0 means Dataverse's 5000.
	MaxPageSize int
	// PrimaryKey names the primary key column (EntityDefinition.PrimaryIDAttribute)
	// whose value becomes Row.ID; empty leaves Row.ID empty for rows.
	PrimaryKey string
	// IncludeAnnotations is the odata.include-annotations preference, e.g.
	// "OData.Community.Display.V1.FormattedValue"; empty asks for none.
	IncludeAnnotations string
}

// Pager reads a collection page by page, following @odata.nextLink
// verbatim with the same preferences, as Dataverse requires. It holds one
// page at a time: memory does not grow with the number of pages. A Pager
// is not safe for concurrent use.
type Pager struct {
	c         *Client
	next      string
	prefer    string
	pk        string
	started   bool
	deltaLink string
	buf       bytes.Buffer
}

// NewListPager reads set with query q (nil for every row and column).
func (c *Client) NewListPager(set string, q *Query, opts *ListOptions) *Pager {
	var o ListOptions
	if opts != nil {
		o = *opts
	}
	return c.newPager(withQuery(set, q.Encode()), o, false)
}

func (c *Client) newPager(first string, o ListOptions, track bool) *Pager {
	var prefer []string
	if track {
		prefer = append(prefer, "odata.track-changes")
	}
	if o.MaxPageSize > 0 {
		prefer = append(prefer, "odata.maxpagesize="+strconv.Itoa(min(o.MaxPageSize, MaxPageSize)))
	}
	if o.IncludeAnnotations != "" {
		prefer = append(prefer, `odata.include-annotations="`+o.IncludeAnnotations+`"`)
	}
	p := &Pager{c: c, next: first, pk: o.PrimaryKey}
	for i, v := range prefer {
		if i > 0 {
			p.prefer += ","
		}
		p.prefer += v
	}
	return p
}

// More reports whether another page can be read.
func (p *Pager) More() bool { return !p.started || p.next != "" }

// NextPage reads the next page. The page's Row.Data stays valid after the
// next call. Errors are *Error; a failed page can be retried by calling
// NextPage again.
func (p *Pager) NextPage(ctx context.Context) (*Page, error) {
	if !p.More() {
		return nil, fmt.Errorf("dataverse: NextPage called after the last page")
	}
	req := Request{Method: http.MethodGet, Path: p.next}
	if p.prefer != "" {
		req.Header = http.Header{"Prefer": {p.prefer}}
	}
	resp, err := p.c.send(ctx, req, &p.buf)
	if err != nil {
		return nil, err
	}
	page, err := decodePage(resp.body, p.pk)
	if err != nil {
		return nil, err
	}
	p.started = true
	p.next = page.NextLink
	if page.DeltaLink != "" {
		p.deltaLink = page.DeltaLink
	}
	return page, nil
}

// DeltaLink is the @odata.deltaLink of a change-tracking read, known once
// its last page has been read. Store it only after every page's changes
// are stored; it is where the next read resumes. For a read resumed from a
// delta link (ResumeChangesPager) whose answer carried none (a quiet table
// may answer "{}"), it is the link the read resumed from, so storing
// DeltaLink after the last page is always right. It is "" for a first
// read until a page carries one.
func (p *Pager) DeltaLink() string { return p.deltaLink }
