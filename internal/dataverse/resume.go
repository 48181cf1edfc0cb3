package dataverse

import (
	"fmt"
	"net/url"
)

// ResumeListPager continues a read from the @odata.nextLink one of its pages
// carried (Page.NextLink), e.g. in another process after the read was
// checkpointed. Dataverse evaluates every page request on its own ("Paging is
// dynamic", docs/reference/dataverse-webapi.md §2.3): the link's $skiptoken
// names the last row read, so the link holds no server-side cursor that could
// time out. opts must be the options the read started with (the same
// odata.maxpagesize, as Dataverse requires). A link that is not a nextLink of
// this environment is refused.
func (c *Client) ResumeListPager(nextLink string, opts *ListOptions) (*Pager, error) {
	if err := c.checkNextLink(nextLink); err != nil {
		return nil, err
	}
	var o ListOptions
	if opts != nil {
		o = *opts
	}
	return c.newPager(nextLink, o, false), nil
}

// ResumeChangesFrom continues the first read of a change-tracking read
// (NewChangesPager) from the @odata.nextLink one of its pages carried. The
// delta link comes on the last page, as for a read that never stopped.
func (c *Client) ResumeChangesFrom(nextLink string, opts *ChangesOptions) (*Pager, error) {
	if err := c.checkNextLink(nextLink); err != nil {
		return nil, err
	}
	var o ChangesOptions
	if opts != nil {
		o = *opts
	}
	return c.newPager(nextLink, ListOptions{MaxPageSize: o.MaxPageSize, PrimaryKey: o.PrimaryKey}, true), nil
}

// checkNextLink refuses a link without a $skiptoken or of another host:
// the token goes only to the environment.
func (c *Client) checkNextLink(link string) error {
	u, err := url.Parse(link)
	if err != nil || !u.Query().Has("$skiptoken") {
		return fmt.Errorf("dataverse: %q is not a paging link (it has no $skiptoken)", truncate(link, 120))
	}
	_, err = c.resolve(link)
	return err
}
