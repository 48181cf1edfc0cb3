package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// ErrNotFound: the entity does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict: the entity changed since it was read (ETag mismatch), or it
// already exists. Re-read and decide again.
var ErrConflict = errors.New("store: changed concurrently")

// CreateTables creates the named tables if they do not exist yet.
func CreateTables(ctx context.Context, svc *aztables.ServiceClient, names ...string) error {
	for _, n := range names {
		if _, err := svc.CreateTable(ctx, n, nil); err != nil {
			var re *azcore.ResponseError
			if errors.As(err, &re) && (re.ErrorCode == string(aztables.TableAlreadyExists) || re.StatusCode == http.StatusConflict) {
				continue
			}
			return fmt.Errorf("store: create table %s: %w", n, err)
		}
	}
	return nil
}

// mapErr turns the service's 404, 409 and 412 into ErrNotFound and
// ErrConflict, and wraps everything else with what was being done.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch {
		case re.ErrorCode == string(aztables.TableNotFound):
			return fmt.Errorf("store: %s: table missing (it is created at start-up): %w", what, err)
		case re.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%s: %w", what, ErrNotFound)
		case re.StatusCode == http.StatusConflict, re.StatusCode == http.StatusPreconditionFailed:
			return fmt.Errorf("%s: %w", what, ErrConflict)
		}
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// props reads typed properties of an EDM entity; a missing or mistyped
// property reads as the zero value.
type props map[string]any

func (p props) str(k string) string {
	s, _ := p[k].(string)
	return s
}

// int64 reads an Edm.Int64 (or a small number stored as Edm.Int32).
func (p props) int64(k string) int64 {
	switch v := p[k].(type) {
	case aztables.EDMInt64:
		return int64(v)
	case int32:
		return int64(v)
	}
	return 0
}

func (p props) time(k string) time.Time {
	if t, ok := p[k].(aztables.EDMDateTime); ok {
		return time.Time(t).UTC()
	}
	return time.Time{}
}

func (p props) bytes(k string) []byte {
	b, _ := p[k].(aztables.EDMBinary)
	return b
}

// edmTime stores t as an Edm.DateTime, or leaves the property out when t is zero.
func edmTime(m map[string]any, k string, t time.Time) {
	if !t.IsZero() {
		m[k] = aztables.EDMDateTime(t.UTC())
	}
}

func decode(raw []byte) (aztables.EDMEntity, error) {
	var e aztables.EDMEntity
	err := e.UnmarshalJSON(raw)
	return e, err
}

func encode(pk, rk string, p map[string]any) []byte {
	b, _ := aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: pk, RowKey: rk}, Properties: p}.MarshalJSON()
	return b
}
