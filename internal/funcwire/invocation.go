// Package funcwire is the Azure Functions custom-handler wire protocol, both
// halves: what the Functions host POSTs to a handler for a trigger that is
// not a forwarded HTTP request, and what the handler answers. The handler
// (package handlers) decodes with it; funchost, the local stand-in for the
// host, encodes with it, so the two cannot drift apart.
//
// The host serialises trigger values with Newtonsoft.Json before it
// serialises the payload, so one value can arrive in several shapes
// (hostvalue.go); the decoders accept all of them and report every
// malformed field at once. testdata/ holds payloads in the shapes the
// host sends, with the decoded form beside each (*.golden.json).
//
// The protocol is Microsoft's: https://learn.microsoft.com/azure/azure-functions/functions-custom-handlers
// (request and response payloads) and docs/reference/functions-custom-handlers.md.
package funcwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/pitcher/connector/internal/apperr"
)

// Headers the host sets on every invocation.
const (
	HeaderInvocationID = "X-Azure-Functions-InvocationId"
	HeaderHostVersion  = "X-Azure-Functions-HostVersion"
)

// InvokeRequest is the payload the host POSTs to /<FunctionName>: the
// trigger's (and input bindings') values under their binding names in Data,
// and the trigger's metadata.
type InvokeRequest struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// InvokeResponse is the handler's answer to an invocation. The host reads it
// only from a 2xx response; on any other status the invocation has failed
// and Logs are dropped.
type InvokeResponse struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// MaxRequestBytes bounds an invocation payload. Service Bus messages are at
// most 256 KB (1 MB on Premium) before the host's encoding, timers far less.
const MaxRequestBytes = 8 << 20

// ReadRequest reads and decodes the invocation payload of r. The error is
// an apperr error: Invalid for a payload that is not an invocation (named
// precisely), Transient when the body could not be read.
func ReadRequest(r *http.Request) (InvokeRequest, error) {
	var req InvokeRequest
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxRequestBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return req, apperr.E(apperr.Invalid, "invocation payload is larger than %d bytes", MaxRequestBytes)
		}
		return req, apperr.Wrap(apperr.Transient, err, "could not read the invocation payload")
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return req, apperr.E(apperr.Invalid, "invocation payload must be a JSON object {\"Data\":{...},\"Metadata\":{...}}")
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, apperr.E(apperr.Invalid, "invocation payload is not valid: %s", apperr.DescribeJSON(err, ""))
	}
	return req, nil
}

// raw marshals v for a payload built in Go; v is always marshalable here.
func raw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("funcwire: " + err.Error())
	}
	return b
}
