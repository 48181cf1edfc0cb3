// Package mirror keeps each user's copy of their Dynamics rows in Table
// Storage (docs/architecture.md, "State"): the mirror (`records`, the latest
// JSON of each row) and the change log (`changes`, every upsert and delete in
// the order the sync saw them, which the Changes API serves to the app).
//
// Both tables are partitioned by store.UserPartition(tenant, user), so all
// of a user's writes are Table transactions of at most 100 operations in
// one partition, and no read can reach another user's rows. A row whose
// JSON does not fit one string property (32,000 UTF-16 units) is stored in
// Blob Storage, content-addressed under the user's prefix, and referenced
// from the entity.
package mirror

import (
	"encoding/json"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/pitcher/connector/internal/store"
)

// Table names.
const (
	RecordsTable = "records"
	ChangesTable = "changes"
)

// Tables are the tables this package uses.
var Tables = []string{RecordsTable, ChangesTable}

// Ops of a change.
const (
	OpUpsert = "upsert"
	OpDelete = "delete"
)

// Entry is one row the sync read: an upsert with Data, or a deletion.
type Entry struct {
	ID      string // the primary key, lower case
	Deleted bool
	Data    json.RawMessage // the row as Dataverse sent it; nil when Deleted
	// Rel is the id of the row this one belongs to (a contact's account, a
	// note's record), kept with the record so Related finds it; "" for none.
	Rel string
}

// Change is one entry of a user's change log.
type Change struct {
	Seq       int64
	EntitySet string
	ID        string
	Op        string          // OpUpsert or OpDelete
	Data      json.RawMessage // the row for an upsert; nil for a delete
}

// Store reads and writes the mirror and change logs. It is safe for
// concurrent use; writes for one user must come from one writer at a time
// (the sync's lease).
type Store struct {
	records, changes *aztables.Client
	blobs            Blobs
}

// New returns the mirror in db's tables, with large rows in blobs.
func New(db *store.DB, blobs Blobs) *Store {
	return &Store{records: db.Table(RecordsTable), changes: db.Table(ChangesTable), blobs: blobs}
}

// recordKey is a record's RowKey: the entity set, '_', the id.
func recordKey(set, id string) string { return set + "_" + id }

// seqKey is a change's RowKey: the sequence number, zero-padded so that
// string order is numeric order.
func seqKey(seq int64) string { return fmt.Sprintf("%020d", seq) }

// maxInline is the longest row kept in the entity itself: a string
// property holds at most 64 KiB of UTF-16 (32,768 units).
const maxInline = 32000

// fitsInline reports whether data fits a string property.
func fitsInline(data []byte) bool {
	if len(data) <= maxInline/2 {
		return true // even all-BMP text of this many bytes has fewer units
	}
	if len(data) > 4*maxInline {
		return false
	}
	units := 0
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		i += size
		units += max(1, utf16.RuneLen(r))
		if units > maxInline {
			return false
		}
	}
	return true
}
