package dataverse

import (
	"context"
	"fmt"
	"strings"
)

// TeamsOf returns the ids of the teams user (a systemuserid) is a member
// of: systemusers(<id>)/teammembership_association, every page
// (docs/reference/dataverse-webapi.md, "Ownership").
func (c *Client) TeamsOf(ctx context.Context, user string) ([]string, error) {
	pager := c.NewListPager("systemusers("+user+")/teammembership_association", &Query{Select: []string{"teamid"}},
		&ListOptions{PrimaryKey: "teamid"})
	var teams []string
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("dataverse: the teams of user %s: %w", user, err)
		}
		for _, row := range page.Rows {
			if row.ID != "" {
				teams = append(teams, strings.ToLower(row.ID))
			}
		}
	}
	return teams, nil
}
