package store

import (
	"context"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// The listings below are for operators (connectorctl): they page through
// whole partitions or tables, so the app's request paths never use them.

// List returns every tenant the connector knows, approved or not.
func (t *Tenants) List(ctx context.Context) ([]Tenant, error) {
	var out []Tenant
	err := each(ctx, t.table, "RowKey eq "+quote(tenantRow), "list tenants", func(raw []byte) error {
		e, err := decode(raw)
		if err == nil {
			out = append(out, tenantOf(e.PartitionKey, props(e.Properties)))
		}
		return err
	})
	return out, err
}

// List returns the connections of tenant, or of every tenant when tenant
// is "". The sealed refresh tokens are left out.
func (c *Connections) List(ctx context.Context, tenant string) ([]Connection, error) {
	filter := ""
	if tenant != "" {
		filter = "PartitionKey eq " + quote(tenant)
	}
	var out []Connection
	err := each(ctx, c.table, filter, "list connections", func(raw []byte) error {
		e, err := decode(raw)
		if err == nil {
			conn := connectionOf(e.PartitionKey, e.RowKey, props(e.Properties))
			conn.RefreshToken, conn.ETag = nil, azcore.ETag(e.ETag)
			out = append(out, conn)
		}
		return err
	})
	return out, err
}

// OfUser returns the connections of user (an Entra object id) in every
// tenant: a scan of the table, filtered by Table Storage.
func (c *Connections) OfUser(ctx context.Context, user string) ([]Connection, error) {
	var out []Connection
	err := each(ctx, c.table, "RowKey eq "+quote(user), "find the connections of "+user, func(raw []byte) error {
		e, err := decode(raw)
		if err == nil {
			conn := connectionOf(e.PartitionKey, e.RowKey, props(e.Properties))
			conn.RefreshToken, conn.ETag = nil, azcore.ETag(e.ETag)
			out = append(out, conn)
		}
		return err
	})
	return out, err
}

// List returns every upload of user in tenant.
func (u *Uploads) List(ctx context.Context, tenant, user string) ([]Upload, error) {
	var out []Upload
	err := each(ctx, u.table, "PartitionKey eq "+quote(UploadPartition(tenant, user)), "list uploads", func(raw []byte) error {
		up, err := decodeUpload(raw)
		if err == nil {
			out = append(out, up)
		}
		return err
	})
	return out, err
}

// each calls fn with every entity of table that filter ("" for all)
// selects, stopping at the first error.
func each(ctx context.Context, table *aztables.Client, filter, what string, fn func(raw []byte) error) error {
	opts := &aztables.ListEntitiesOptions{}
	if filter != "" {
		opts.Filter = &filter
	}
	pager := table.NewListEntitiesPager(opts)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return mapErr(err, what)
		}
		for _, raw := range page.Entities {
			if err := fn(raw); err != nil {
				return mapErr(err, what)
			}
		}
	}
	return nil
}

// Scan calls fn with up to max connections that filter selects; more is
// true when there were others.
func (c *Connections) Scan(ctx context.Context, filter string, max int, fn func(Connection) error) (more bool, err error) {
	return scan(ctx, c.table, filter, max, func(raw []byte) error {
		e, err := decode(raw)
		if err != nil {
			return err
		}
		conn := connectionOf(e.PartitionKey, e.RowKey, props(e.Properties))
		conn.RefreshToken, conn.ETag = nil, azcore.ETag(e.ETag)
		return fn(conn)
	})
}

// Scan calls fn with up to max uploads that filter selects, like
// Connections.Scan.
func (u *Uploads) Scan(ctx context.Context, filter string, max int, fn func(Upload) error) (more bool, err error) {
	return scan(ctx, u.table, filter, max, func(raw []byte) error {
		up, err := decodeUpload(raw)
		if err != nil {
			return err
		}
		return fn(up)
	})
}

// scan pages through table, handing at most max entities to fn.
func scan(ctx context.Context, table *aztables.Client, filter string, max int, fn func(raw []byte) error) (bool, error) {
	pager := table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	seen := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return false, mapErr(err, "scan")
		}
		for _, raw := range page.Entities {
			if seen == max {
				return true, nil
			}
			if err := fn(raw); err != nil {
				return false, err
			}
			seen++
		}
	}
	return false, nil
}
