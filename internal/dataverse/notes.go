package dataverse

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Note is an annotation: text and optionally a document, attached to a
// record. Documents travel as Base64 in documentbody, and the
// organization's maxuploadfilesize applies to that Base64 text
// (docs/reference/dataverse-webapi.md §6.1).
type Note struct {
	// ID is the annotationid; choose it (e.g. a UUIDv5) so a retried
	// upload cannot create a second note. Required for UploadNote.
	ID       string
	Subject  string
	Text     string
	FileName string
	MimeType string
	Document []byte // raw bytes; nil for a note without a document
	// Regarding is the record the note belongs to; its table goes into
	// the objectid_<table>@odata.bind navigation property.
	Regarding Ref
	// RegardingTable is the logical name of Regarding's table ("account").
	RegardingTable string
}

// record is the note's JSON, without the document when body is false.
func (n Note) record(body bool) map[string]any {
	m := map[string]any{}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("annotationid", n.ID)
	set("subject", n.Subject)
	set("notetext", n.Text)
	set("filename", n.FileName)
	set("mimetype", n.MimeType)
	if n.RegardingTable != "" {
		m["objectid_"+n.RegardingTable+"@odata.bind"] = n.Regarding.Bind()
	}
	if body && n.Document != nil {
		m["documentbody"] = base64.StdEncoding.EncodeToString(n.Document)
		m["isdocument"] = true
	}
	return m
}

// NoteRequest builds the upsert (with ID) or create (without) of a note
// with its document inline, for a $batch.
func NoteRequest(n Note) (Request, error) {
	if n.ID != "" {
		return UpsertRequest(ByID("annotations", n.ID), n.record(true), nil)
	}
	return CreateRequest("annotations", n.record(true), nil)
}

// CreateNote writes a note with its document inline; a document whose
// Base64 text exceeds the organization's maxuploadfilesize fails with
// IsFileTooLarge.
func (c *Client) CreateNote(ctx context.Context, n Note) (*WriteResult, error) {
	req, err := NoteRequest(n)
	if err != nil {
		return nil, err
	}
	return c.write(ctx, req)
}

// MaxBlockSize is the largest block of a chunked upload.
const MaxBlockSize = 4 << 20

// NoteUpload reports a chunked note upload.
type NoteUpload struct {
	AnnotationID    string
	FileSizeInBytes int64
}

// UploadNote writes a note whose document is read from r in blocks of
// blockSize bytes (0 or more than MaxBlockSize means MaxBlockSize), with
// InitializeAnnotationBlocksUpload, UploadBlock and
// CommitAnnotationBlocksUpload. Memory holds one block. n.ID is required;
// n.Document is ignored. If the upload fails part way, nothing is written
// and the whole upload can be repeated.
func (c *Client) UploadNote(ctx context.Context, n Note, r io.Reader, blockSize int) (*NoteUpload, error) {
	if n.ID == "" {
		return nil, fmt.Errorf("dataverse: UploadNote needs a note ID (annotationid); generate one per note")
	}
	if blockSize <= 0 || blockSize > MaxBlockSize {
		blockSize = MaxBlockSize
	}
	target := n.record(false)
	target["@odata.type"] = "Microsoft.Dynamics.CRM.annotation"
	var init struct {
		Token string `json:"FileContinuationToken"`
	}
	if err := c.action(ctx, "InitializeAnnotationBlocksUpload", map[string]any{"Target": target}, &init); err != nil {
		return nil, err
	}
	var blocks []string
	buf := make([]byte, blockSize)
	for {
		k, err := io.ReadFull(r, buf)
		if k > 0 {
			// Equal-length block ids, as Dataverse requires.
			id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "block-%08d", len(blocks)))
			blocks = append(blocks, id)
			in := map[string]any{"BlockId": id, "BlockData": base64.StdEncoding.EncodeToString(buf[:k]), "FileContinuationToken": init.Token}
			if err := c.action(ctx, "UploadBlock", in, nil); err != nil {
				return nil, err
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("dataverse: read the document of note %s: %w", n.ID, err)
		}
	}
	var out NoteUpload
	commit := map[string]any{"Target": target, "BlockList": blocks, "FileContinuationToken": init.Token}
	if err := c.action(ctx, "CommitAnnotationBlocksUpload", commit, &out); err != nil {
		return nil, err
	}
	out.AnnotationID = strings.ToLower(out.AnnotationID)
	return &out, nil
}

// action POSTs an unbound action and decodes its answer into out (nil to skip).
// Actions are POSTs: they are not repeated after an uncertain failure.
func (c *Client) action(ctx context.Context, name string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("dataverse: %s: %w", name, err)
	}
	resp, err := c.send(ctx, Request{Method: http.MethodPost, Path: name, Body: body}, nil)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return fmt.Errorf("dataverse: %s: decode answer: %w", name, err)
	}
	return nil
}

// ErrNoDocument: the note has no document (its documentbody is empty).
var ErrNoDocument = errors.New("dataverse: the note has no document")

// NoteDocument streams the document of note id: the Base64 text of
// annotations(id)/documentbody/$value, decoded as it is read, so memory
// does not grow with the file (docs/reference/dataverse-webapi.md §6.1).
// The caller closes it. A note without a document is ErrNoDocument; an
// unknown note IsNotFound.
func (c *Client) NoteDocument(ctx context.Context, id string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, Request{Method: http.MethodGet, Path: "annotations(" + id + ")/documentbody/$value", stream: true}, nil)
	if err != nil {
		return nil, err
	}
	if resp.stream == nil || resp.status == http.StatusNoContent {
		if resp.stream != nil {
			resp.stream.Close()
		}
		return nil, ErrNoDocument
	}
	return struct {
		io.Reader
		io.Closer
	}{base64.NewDecoder(base64.StdEncoding, resp.stream), resp.stream}, nil
}
