package dataversesim

import (
	"fmt"
	"net/http"
)

// The Dataverse error codes the simulator answers with
// (docs/reference/dataverse-webapi.md §7). The Web API writes them as
// lower-case hex strings.
const (
	codeNone              = ""
	codeQuery             = "0x0"        // query option and property errors
	codeNotFoundSegment   = "0x8006088a" // Resource not found for the segment
	codeObjectNotExist    = "0x80040217" // <t> With Id = <id> Does Not Exist
	codeKeyNotExist       = "0x80060891" // no record with the alternate key values
	codeDuplicate         = "0x80040237" // DuplicateRecord
	codeConcurrency       = "0x80060882" // ConcurrencyVersionMismatch
	codePayload           = "0x80048d19" // error in the payload / batch stream
	codeValidation        = "0x80044331" // string too long and similar validation
	codeExpiredVersion    = "0x80044352" // ExpiredVersionStamp
	codeFileTooBig        = "0x80044a02" // attachment file size is too big
	codeAccessTokenExpiry = "0x8005f101" // AccessTokenExpired
	codePrivilegeDenied   = "0x80040220" // PrivilegeDenied
	codeThrottleRequests  = "0x80072322" // number of requests
	codeThrottleExecution = "0x80072321" // combined execution time
	codeThrottleConcur    = "0x80072326" // concurrent requests
)

// apiError is a Dataverse error answer: an HTTP status and the
// {"error":{"code","message"}} body.
type apiError struct {
	status  int
	code    string
	message string
	header  http.Header // extra headers, e.g. Retry-After or WWW-Authenticate
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s %s", e.status, e.code, e.message) }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// errorResponse renders e as the simulator's response to a request.
func errorResponse(e *apiError) *response {
	r := newResponse(e.status)
	for k, v := range e.header {
		r.header[k] = v
	}
	r.header.Set("Content-Type", contentTypeJSON)
	b := []byte(`{"error":{"code":`)
	b = appendJSONString(b, e.code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, e.message)
	b = append(b, "}}"...)
	r.body = b
	return r
}

func errNoSegment(seg string) *apiError {
	return errf(http.StatusNotFound, codeNotFoundSegment, "Resource not found for the segment '%s'.", seg)
}

func errNoProperty(t *table, name string) *apiError {
	return errf(http.StatusBadRequest, codeQuery, "Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'.", name, t.logical)
}

func errNoRow(t *table, id string) *apiError {
	return errf(http.StatusNotFound, codeObjectNotExist, "%s With Id = %s Does Not Exist", t.logical, id)
}

// errOwnerRequired refuses clearing the owner of a user-owned row.
func errOwnerRequired(t *table) *apiError {
	return errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'%s': ownerid cannot be null; a %s is always owned by a user or a team. Assign it instead.", t.set, t.logical)
}

func errNoHTTPResource(url string) *apiError {
	return errf(http.StatusNotFound, codeNone, "No HTTP resource was found that matches the request URI '%s'.", url)
}
