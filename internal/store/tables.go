// Package store keeps the connector's state in Azure Table Storage.
package store

import (
	"context"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// DB is the connector's Table Storage: a service client and the prefix
// every table name carries (empty in a dedicated account; tests and shared
// accounts use one to keep environments apart). It is safe for concurrent use.
type DB struct {
	svc    *aztables.ServiceClient
	prefix string
}

// NewDB returns the DB over svc with table names prefixed by prefix.
func NewDB(svc *aztables.ServiceClient, prefix string) *DB { return &DB{svc: svc, prefix: prefix} }

// TableName is the name of table name in storage.
func (db *DB) TableName(name string) string { return db.prefix + name }

// Table returns the client of table name.
func (db *DB) Table(name string) *aztables.Client { return db.svc.NewClient(db.TableName(name)) }

// CreateTables creates the named tables if they do not exist yet.
func (db *DB) CreateTables(ctx context.Context, names ...string) error {
	full := make([]string, len(names))
	for i, n := range names {
		full[i] = db.TableName(n)
	}
	return CreateTables(ctx, db.svc, full...)
}
