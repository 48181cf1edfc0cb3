package funchost

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
)

// hopHeaders are not forwarded (RFC 9110 §7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// ServeHTTP serves HTTP functions under the route prefix and the admin API.
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if strings.HasPrefix(path, "/admin/") {
		h.serveAdmin(w, r)
		return
	}
	prefix := "/"
	if p := h.hc.RoutePrefix(); p != "" {
		prefix = "/" + p + "/"
	}
	if path == "/" && r.Method == http.MethodGet {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "funchost: the local Functions host is running. HTTP functions are under "+prefix+"\n")
		return
	}
	if strings.HasPrefix(path, prefix) {
		parts := strings.Split(strings.Trim(strings.TrimPrefix(path, prefix), "/"), "/")
		for _, fn := range h.httpFns {
			if _, ok := fn.Route.Match(parts); ok && fn.AllowsMethod(r.Method) {
				h.forward(w, r, fn)
				return
			}
		}
	}
	// The host answers unmatched routes and methods with an empty 404.
	w.WriteHeader(http.StatusNotFound)
}

// forward sends the request to the handler at its original path and copies
// the answer back, as the host does with enableForwardingHttpRequest:
// redirects are not followed, and a body is sent only with a Content-Length.
func (h *Host) forward(w http.ResponseWriter, r *http.Request, fn *Function) {
	id := uuid.NewString()
	start := time.Now()
	h.log.Printf("Executing 'Functions.%s' (Reason='This function was programmatically called via the host APIs.', Id=%s)", fn.Name, id)
	ctx := r.Context()
	if h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout+time.Minute)
		defer cancel()
	}
	readyCtx, cancel := context.WithTimeout(ctx, h.worker.initTimeout)
	base, err := h.worker.endpoint(readyCtx)
	cancel()
	if err != nil {
		h.log.Printf("Executed 'Functions.%s' (Failed, Id=%s) %v", fn.Name, id, err)
		http.Error(w, "the function host is not ready", http.StatusServiceUnavailable)
		return
	}
	target := base + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	var body io.Reader
	if r.ContentLength > 0 {
		body = r.Body
	} else if r.ContentLength < 0 {
		h.log.Printf("Warning: Functions.%s request has a body without Content-Length; the Functions host drops such bodies, and so does funchost.", fn.Name)
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, target, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out.Header = r.Header.Clone()
	for _, k := range hopHeaders {
		out.Header.Del(k)
	}
	if body != nil {
		out.ContentLength = r.ContentLength
	}
	out.Host = r.Host
	setHostHeaders(out.Header, id)
	resp, err := h.forwarder.Do(out)
	if err != nil {
		// A *url.Error names the whole URL, whose query may hold a code and a
		// state (/api/auth/callback): log the path and the cause only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		h.log.Printf("Executed 'Functions.%s' (Failed, Id=%s, Duration=%s) %s %s: %v", fn.Name, id, time.Since(start).Round(time.Millisecond), r.Method, r.URL.Path, err)
		http.Error(w, "the function failed", http.StatusInternalServerError)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	for _, k := range hopHeaders {
		w.Header().Del(k)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
	h.log.Printf("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%s) HTTP %d", fn.Name, id, time.Since(start).Round(time.Millisecond), resp.StatusCode)
}

// serveAdmin is the part of the host's admin API funchost offers (no key is
// needed locally, as with Core Tools):
//
//	GET  /admin/host/status       the host's state
//	POST /admin/functions/{name}  run a non-HTTP function once; body {"input": "..."}
func (h *Host) serveAdmin(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/admin/host/status" && r.Method == http.MethodGet:
		state := "Running"
		h.worker.mu.Lock()
		if h.worker.port == 0 {
			state = "Initializing"
		}
		h.worker.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{"state": state, "version": HostVersion})
	case strings.HasPrefix(r.URL.Path, "/admin/functions/") && r.Method == http.MethodPost:
		name := strings.TrimPrefix(r.URL.Path, "/admin/functions/")
		fn, ok := h.functions[strings.ToLower(name)]
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no function named " + name})
			return
		}
		t, ok := h.triggers[fn.Name]
		if !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fn.Name + " is an HTTP function or disabled; call an HTTP function at its route"})
			return
		}
		var in struct {
			Input string `json:"input"`
		}
		if r.ContentLength != 0 {
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"input": "<trigger value as a string>"}`})
				return
			}
		}
		h.admin.Add(1)
		go func() {
			defer h.admin.Done()
			ctx, cancel := context.WithTimeout(context.Background(), h.worker.initTimeout+h.timeoutOr(10*time.Minute))
			defer cancel()
			_, _ = t.invokeWith(ctx, in.Input)
		}()
		w.WriteHeader(http.StatusAccepted)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "funchost's admin API has GET /admin/host/status and POST /admin/functions/{name}"})
	}
}

func (h *Host) timeoutOr(d time.Duration) time.Duration {
	if h.timeout > 0 {
		return h.timeout + time.Minute
	}
	return d
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
