package dataverse

import (
	"fmt"
	"net/url"
	"strings"
)

// ChangesOptions configure a change-tracking read. Dataverse refuses
// $filter, $orderby, $expand and $top there, so only columns and page size
// can be chosen.
type ChangesOptions struct {
	Select      []string
	MaxPageSize int
	// PrimaryKey names the primary key column whose value becomes Row.ID.
	PrimaryKey string
}

// NewChangesPager starts change tracking of set (Prefer: odata.track-changes):
// every current row, and a delta link on the last page. The table must
// have change tracking enabled (EntityDefinition.ChangeTrackingEnabled).
func (c *Client) NewChangesPager(set string, opts *ChangesOptions) *Pager {
	var o ChangesOptions
	if opts != nil {
		o = *opts
	}
	q := &Query{Select: o.Select}
	return c.newPager(withQuery(set, q.Encode()), ListOptions{MaxPageSize: o.MaxPageSize, PrimaryKey: o.PrimaryKey}, true)
}

// ResumeChangesPager reads the changes since deltaLink (from a previous
// read's DeltaLink): the latest state of every new or updated row, and
// tombstones for deleted ones, possibly for ids never seen. Select in opts
// is ignored: the link keeps the columns it was made with. When Dataverse
// says the token has expired (IsExpiredDeltaToken), start again with
// NewChangesPager and reconcile deletes by comparing the full set.
func (c *Client) ResumeChangesPager(deltaLink string, opts *ChangesOptions) (*Pager, error) {
	u, err := url.Parse(deltaLink)
	if err != nil || !u.Query().Has("$deltatoken") {
		return nil, fmt.Errorf("dataverse: %q is not a delta link (it has no $deltatoken)", truncate(deltaLink, 120))
	}
	if _, err := c.resolve(deltaLink); err != nil {
		return nil, err
	}
	var o ChangesOptions
	if opts != nil {
		o = *opts
	}
	p := c.newPager(deltaLink, ListOptions{MaxPageSize: o.MaxPageSize, PrimaryKey: o.PrimaryKey}, true)
	p.deltaLink = deltaLink // kept when a quiet table answers without a new one
	return p, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimSpace(s[:n]) + "…"
}
