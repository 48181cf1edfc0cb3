// Package apispec checks the connector's real answers against the API's
// OpenAPI document (docs/openapi.yaml), so the document cannot drift from
// what the code does. Tests use it; the handler does not.
package apispec

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Spec is a loaded and validated OpenAPI document.
type Spec struct{ doc *openapi3.T }

// Load reads the OpenAPI document at path and validates it as OpenAPI 3.
func Load(path string) (*Spec, error) {
	doc, err := openapi3.NewLoader().LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("apispec: load %s: %w", path, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("apispec: %s is not a valid OpenAPI document: %w", path, err)
	}
	return &Spec{doc: doc}, nil
}

// CheckResponse reports how an answer to method on the path template
// (as the document spells it, e.g. /api/uploads/{id}) differs from the
// document: an undocumented operation or status, a missing required
// header, another content type, or a body that does not match its schema.
func (s *Spec) CheckResponse(method, path string, status int, header http.Header, body []byte) error {
	item := s.doc.Paths.Find(path)
	if item == nil {
		return fmt.Errorf("%s is not in the document", path)
	}
	op := item.GetOperation(strings.ToUpper(method))
	if op == nil {
		return fmt.Errorf("%s %s is not in the document", method, path)
	}
	ref := op.Responses.Status(status)
	if ref == nil {
		ref = op.Responses.Default()
	}
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("%s %s: status %d is not documented", method, path, status)
	}
	resp := ref.Value
	for name, h := range resp.Headers {
		if h.Value != nil && h.Value.Required && header.Get(name) == "" {
			return fmt.Errorf("%s %s %d: required header %s is missing", method, path, status, name)
		}
	}
	if len(resp.Content) == 0 {
		if len(body) > 0 {
			return fmt.Errorf("%s %s %d: the document says no body, got %d bytes", method, path, status, len(body))
		}
		return nil
	}
	mt, _, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil {
		return fmt.Errorf("%s %s %d: Content-Type %q: %v", method, path, status, header.Get("Content-Type"), err)
	}
	media := resp.Content.Get(mt)
	if media == nil || media.Schema == nil || media.Schema.Value == nil {
		return fmt.Errorf("%s %s %d: content type %s is not documented", method, path, status, mt)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("%s %s %d: body is not JSON: %v", method, path, status, err)
	}
	if err := media.Schema.Value.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("%s %s %d: body does not match the document: %v\nbody: %.2000s", method, path, status, err, body)
	}
	return nil
}

// CheckRequest reports how a request body for method on path differs from
// the document's request schema.
func (s *Spec) CheckRequest(method, path string, body []byte) error {
	item := s.doc.Paths.Find(path)
	if item == nil || item.GetOperation(strings.ToUpper(method)) == nil {
		return fmt.Errorf("%s %s is not in the document", method, path)
	}
	rb := item.GetOperation(strings.ToUpper(method)).RequestBody
	if rb == nil || rb.Value == nil {
		return fmt.Errorf("%s %s takes no body in the document", method, path)
	}
	media := rb.Value.Content.Get("application/json")
	if media == nil || media.Schema == nil {
		return fmt.Errorf("%s %s: no JSON request schema", method, path)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	return media.Schema.Value.VisitJSON(v, openapi3.MultiErrors())
}
