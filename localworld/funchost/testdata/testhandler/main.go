// Command testhandler is a custom handler for funchost's own tests: it echoes
// forwarded requests, answers invocations with what it decoded, and crashes
// or starts slowly on request.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pitcher/connector/internal/funcwire"
)

func main() {
	if d, err := time.ParseDuration(os.Getenv("TEST_HANDLER_START_DELAY")); err == nil {
		time.Sleep(d)
	}
	if os.Getenv("TEST_HANDLER_NEVER_LISTEN") != "" {
		select {}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/api/echo/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		writeJSON(w, http.StatusOK, map[string]any{
			"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "body": string(body), "host": r.Host,
			"invocationId": r.Header.Get("X-Azure-Functions-InvocationId"), "contentType": r.Header.Get("Content-Type"),
			"setting": os.Getenv("TEST_SETTING"),
		})
	})
	mux.HandleFunc("GET /api/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	mux.HandleFunc("GET /api/crash", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(os.Stderr, "crashing on purpose")
		os.Exit(3)
	})
	mux.HandleFunc("POST /Tick", func(w http.ResponseWriter, r *http.Request) {
		req := decode(w, r)
		t, err := funcwire.DecodeTimer(req, "tick")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		line := fmt.Sprintf("IsPastDue=%v", t.IsPastDue)
		if t.ScheduleStatus != nil {
			line += " Last=" + t.ScheduleStatus.Last.Format(time.RFC3339)
		}
		writeJSON(w, http.StatusOK, funcwire.InvokeResponse{Logs: []string{line}})
	})
	mux.HandleFunc("POST /Queue", func(w http.ResponseWriter, r *http.Request) {
		req := decode(w, r)
		m, err := funcwire.DecodeServiceBus(req, "msg")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, http.StatusOK, funcwire.InvokeResponse{Logs: []string{
			fmt.Sprintf("body=%s messageId=%t deliveryCount=%d contentType=%s", m.Body, m.MessageID != "" && !strings.Contains(m.MessageID, `"`), m.DeliveryCount, m.ContentType),
		}})
	})
	// Work is a Service Bus function for the dispatch tests: its message
	// says whether to fail and how long to work; it prints what it got.
	var inflight atomic.Int32
	mux.HandleFunc("POST /Work", func(w http.ResponseWriter, r *http.Request) {
		concurrent := inflight.Add(1)
		defer inflight.Add(-1)
		req := decode(w, r)
		m, err := funcwire.DecodeServiceBus(req, "msg")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var cmd struct {
			Fail bool   `json:"fail"`
			Work string `json:"work"`
		}
		_ = json.Unmarshal(m.Body, &cmd)
		if d, err := time.ParseDuration(cmd.Work); err == nil {
			time.Sleep(d) // the function's own work
		}
		line := fmt.Sprintf("work id=%s deliveryCount=%d seq=%d concurrent=%d at=%s enqueued=%s contentType=%s rawBody=%s rawId=%s rawCount=%s",
			m.MessageID, m.DeliveryCount, m.SequenceNumber, concurrent, time.Now().UTC().Format(time.RFC3339Nano), m.EnqueuedTime.Format(time.RFC3339Nano),
			m.ContentType, req.Data["msg"], req.Metadata["MessageId"], req.Metadata["DeliveryCount"])
		fmt.Println(line)
		if cmd.Fail {
			writeJSON(w, http.StatusInternalServerError, funcwire.InvokeResponse{})
			return
		}
		writeJSON(w, http.StatusOK, funcwire.InvokeResponse{Logs: []string{line}})
	})
	mux.HandleFunc("POST /Fail", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusInternalServerError, funcwire.InvokeResponse{Logs: []string{"this log line is dropped by the host"}})
	})
	// Like the real handler, drain in-flight requests on SIGTERM. It waits
	// for the requests themselves rather than using Server.Shutdown, which
	// also waits up to 5 s for connections that have sent nothing yet.
	var active sync.WaitGroup
	srv := &http.Server{Addr: "127.0.0.1:" + os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT"), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Done()
		mux.ServeHTTP(w, r)
	})}
	drained := make(chan struct{})
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
		active.Wait()
		_ = srv.Close()
		close(drained)
	}()
	if err := srv.ListenAndServe(); err == http.ErrServerClosed {
		<-drained
	}
}
func decode(w http.ResponseWriter, r *http.Request) funcwire.InvokeRequest {
	var req funcwire.InvokeRequest
	_ = json.NewDecoder(r.Body).Decode(&req)
	return req
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
