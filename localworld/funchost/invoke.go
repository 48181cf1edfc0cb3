package funchost

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/funcwire"
)

// HostVersion is what funchost reports in X-Azure-Functions-HostVersion.
const HostVersion = "4.0.0-funchost"

// InvocationError is a failed invocation: the handler answered non-2xx, an
// unreadable body, or nothing.
type InvocationError struct {
	Function   string
	ID         string
	StatusCode int // 0 if there was no response
	Err        error
}

func (e *InvocationError) Error() string {
	return fmt.Sprintf("invocation %s of %s failed: %v", e.ID, e.Function, e.Err)
}

func (e *InvocationError) Unwrap() error { return e.Err }

// invoke runs one invocation of fn with payload and prints its outcome and
// Logs the way Core Tools does. Logs are printed only for a 2xx answer: the
// real host drops them otherwise.
func (h *Host) invoke(ctx context.Context, fn *Function, reason string, payload funcwire.InvokeRequest) (funcwire.InvokeResponse, error) {
	id := uuid.NewString()
	start := time.Now()
	h.log.Printf("Executing 'Functions.%s' (Reason='%s', Id=%s)", fn.Name, reason, id)
	res, err := h.post(ctx, fn, id, payload)
	for _, line := range res.Logs {
		h.log.Printf("[%s] %s", id, line)
	}
	elapsed := time.Since(start).Round(time.Millisecond)
	if err != nil {
		h.log.Printf("Executed 'Functions.%s' (Failed, Id=%s, Duration=%s) %v", fn.Name, id, elapsed, err)
		return res, &InvocationError{Function: fn.Name, ID: id, StatusCode: statusOf(err), Err: err}
	}
	h.log.Printf("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%s)", fn.Name, id, elapsed)
	return res, nil
}

type statusError int

func (s statusError) Error() string {
	return fmt.Sprintf("response status code does not indicate success: %d (%s)", int(s), http.StatusText(int(s)))
}

func statusOf(err error) int {
	if s, ok := err.(statusError); ok {
		return int(s)
	}
	return 0
}

func (h *Host) post(ctx context.Context, fn *Function, id string, payload funcwire.InvokeRequest) (funcwire.InvokeResponse, error) {
	if h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout+time.Minute)
		defer cancel()
	}
	base, err := h.worker.endpoint(ctx)
	if err != nil {
		return funcwire.InvokeResponse{}, err
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return funcwire.InvokeResponse{}, fmt.Errorf("encode payload: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/"+fn.Name, bytes.NewReader(body))
	if err != nil {
		return funcwire.InvokeResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	setHostHeaders(req.Header, id)
	resp, err := h.client.Do(req)
	if err != nil {
		return funcwire.InvokeResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return funcwire.InvokeResponse{}, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return funcwire.InvokeResponse{}, statusError(resp.StatusCode)
	}
	var res funcwire.InvokeResponse
	if err := json.Unmarshal(b, &res); err != nil {
		return funcwire.InvokeResponse{}, fmt.Errorf("invalid HttpResponseMessage: the handler's 2xx body is not an invocation result: %w", err)
	}
	return res, nil
}

func setHostHeaders(h http.Header, invocationID string) {
	h.Set(funcwire.HeaderInvocationID, invocationID)
	h.Set(funcwire.HeaderHostVersion, HostVersion)
	h.Set("User-Agent", "Azure-Functions-Host/"+HostVersion)
}
