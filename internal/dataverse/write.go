package dataverse

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// WriteOptions configure Create, Update and Delete.
type WriteOptions struct {
	// Return asks for the written record (Prefer: return=representation).
	Return bool
	// Select limits the returned record's columns.
	Select []string
	// IfMatch is an ETag for optimistic concurrency: Update and Delete fail
	// with IsConcurrencyConflict if the record changed since. Empty means
	// "*" for Update (never create) and no condition for Delete.
	IfMatch string
}

// UpsertOptions configure Upsert, a PATCH that creates or updates.
type UpsertOptions struct {
	// CreateOnly fails with IsAlreadyExists if the record exists (If-None-Match: *).
	CreateOnly bool
	// UpdateOnly fails with IsNotFound if the record does not exist (If-Match: *).
	UpdateOnly bool
	Return     bool
	Select     []string
}

// WriteResult is what Dataverse says about a write.
type WriteResult struct {
	// EntityID is the OData-EntityId URL of the record; for an upsert by
	// alternate key it names that key, not the id. Empty with Return.
	EntityID string
	// ID is the record's primary key when the answer shows it.
	ID string
	// ETag of the written version, when Dataverse sends one.
	ETag string
	// Created is true for a create, and for an upsert answered 201 (only
	// known with Return: without it Dataverse answers 204 either way).
	Created bool
	// Record is the written record with Return.
	Record json.RawMessage
}

// CreateRequest builds POST set with record (a struct, map or JSON bytes).
// A primary key in record chooses the new row's id.
func CreateRequest(set string, record any, opts *WriteOptions) (Request, error) {
	var o WriteOptions
	if opts != nil {
		o = *opts
	}
	return jsonRequest(http.MethodPost, withQuery(set, selectQuery(o.Return, o.Select)), record, o.Return, nil)
}

// UpdateRequest builds PATCH ref with If-Match (never creates).
func UpdateRequest(ref Ref, record any, opts *WriteOptions) (Request, error) {
	var o WriteOptions
	if opts != nil {
		o = *opts
	}
	match := o.IfMatch
	if match == "" {
		match = "*"
	}
	return jsonRequest(http.MethodPatch, withQuery(ref.Path(), selectQuery(o.Return, o.Select)), record, o.Return, http.Header{"If-Match": {match}})
}

// UpsertRequest builds PATCH ref without If-Match: create or update.
func UpsertRequest(ref Ref, record any, opts *UpsertOptions) (Request, error) {
	var o UpsertOptions
	if opts != nil {
		o = *opts
	}
	h := http.Header{}
	switch {
	case o.CreateOnly && o.UpdateOnly:
		return Request{}, fmt.Errorf("dataverse: upsert %s: CreateOnly and UpdateOnly exclude each other", ref)
	case o.CreateOnly:
		h.Set("If-None-Match", "*")
	case o.UpdateOnly:
		h.Set("If-Match", "*")
	}
	return jsonRequest(http.MethodPatch, withQuery(ref.Path(), selectQuery(o.Return, o.Select)), record, o.Return, h)
}

// DeleteRequest builds DELETE ref, conditional on opts.IfMatch.
func DeleteRequest(ref Ref, opts *WriteOptions) Request {
	req := Request{Method: http.MethodDelete, Path: ref.Path()}
	if opts != nil && opts.IfMatch != "" {
		req.Header = http.Header{"If-Match": {opts.IfMatch}}
	}
	return req
}

// GetRequest builds GET ref with query q's $select and $expand.
func GetRequest(ref Ref, q *Query) Request {
	return Request{Method: http.MethodGet, Path: withQuery(ref.Path(), q.Encode())}
}

func selectQuery(ret bool, sel []string) string {
	if !ret || len(sel) == 0 {
		return ""
	}
	return (&Query{Select: sel}).Encode()
}

func jsonRequest(method, path string, record any, ret bool, h http.Header) (Request, error) {
	body, err := marshalRecord(record)
	if err != nil {
		return Request{}, fmt.Errorf("dataverse: %s %s: %w", method, path, err)
	}
	if h == nil {
		h = http.Header{}
	}
	if ret {
		h.Set("Prefer", "return=representation")
	}
	return Request{Method: method, Path: path, Header: h, Body: body}, nil
}

func marshalRecord(record any) ([]byte, error) {
	switch r := record.(type) {
	case json.RawMessage:
		return r, nil
	case []byte:
		return r, nil
	case nil:
		return nil, fmt.Errorf("the record is nil")
	}
	return json.Marshal(record)
}

// Create creates a record in set and reports its id.
func (c *Client) Create(ctx context.Context, set string, record any, opts *WriteOptions) (*WriteResult, error) {
	req, err := CreateRequest(set, record, opts)
	if err != nil {
		return nil, err
	}
	return c.write(ctx, req)
}

// Update changes the columns in record of an existing record; it fails
// with IsNotFound if there is none, or IsConcurrencyConflict on a stale IfMatch.
func (c *Client) Update(ctx context.Context, ref Ref, record any, opts *WriteOptions) (*WriteResult, error) {
	req, err := UpdateRequest(ref, record, opts)
	if err != nil {
		return nil, err
	}
	return c.write(ctx, req)
}

// Upsert creates the record ref names, or updates it if it exists. With
// a primary key or alternate key chosen by the caller, repeating it is
// harmless, which makes it the write for exactly-once delivery.
func (c *Client) Upsert(ctx context.Context, ref Ref, record any, opts *UpsertOptions) (*WriteResult, error) {
	req, err := UpsertRequest(ref, record, opts)
	if err != nil {
		return nil, err
	}
	return c.write(ctx, req)
}

// Delete deletes the record ref names; IsNotFound if there is none.
func (c *Client) Delete(ctx context.Context, ref Ref, opts *WriteOptions) error {
	_, err := c.send(ctx, DeleteRequest(ref, opts), nil)
	return err
}

// Get reads one record (columns from q's Select and Expand) and its ETag.
func (c *Client) Get(ctx context.Context, ref Ref, q *Query) (json.RawMessage, string, error) {
	resp, err := c.send(ctx, GetRequest(ref, q), nil)
	if err != nil {
		return nil, "", err
	}
	return json.RawMessage(resp.body), resp.header.Get("ETag"), nil
}

func (c *Client) write(ctx context.Context, req Request) (*WriteResult, error) {
	resp, err := c.send(ctx, req, nil)
	if err != nil {
		return nil, err
	}
	return writeResult(req, resp.status, resp.header, resp.body), nil
}

// writeResult reads a write's answer, alone or from a $batch part.
func writeResult(req Request, status int, h http.Header, body []byte) *WriteResult {
	w := &WriteResult{EntityID: h.Get("OData-EntityId"), ETag: h.Get("ETag"), Created: req.Method == http.MethodPost || status == http.StatusCreated}
	w.ID = idFromEntityURL(w.EntityID)
	if len(body) > 0 && status != http.StatusNoContent {
		w.Record = json.RawMessage(body)
		var meta struct {
			ETag string `json:"@odata.etag"`
		}
		if json.Unmarshal(body, &meta) == nil && w.ETag == "" {
			w.ETag = meta.ETag
		}
	}
	return w
}

// idFromEntityURL returns the GUID in …/set(<guid>), or "" for other keys.
func idFromEntityURL(u string) string {
	open := strings.LastIndexByte(u, '(')
	if open < 0 || !strings.HasSuffix(u, ")") {
		return ""
	}
	id := u[open+1 : len(u)-1]
	if len(id) != 36 || strings.ContainsAny(id, "='") {
		return ""
	}
	return strings.ToLower(id)
}
