package handlers_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/pitcher/connector/localworld/testworld"
)

// quietWorld is a World whose timers and workers stay still: these tests
// look at the API's answers, not at what the workers do next.
func quietWorld(t *testing.T) *testworld.World {
	return testworld.Start(t, testworld.Options{Settings: []string{"AzureWebJobs.SyncScheduler.Disabled=true",
		"AzureWebJobs.SyncWorker.Disabled=true", "AzureWebJobs.UploadWorker.Disabled=true"}})
}

func meetingReport(id string) map[string]any {
	return map[string]any{"uploadId": id,
		"meeting": map[string]any{"subject": "Review", "start": "2026-03-02T09:30:00Z", "end": "2026-03-02T10:30:00Z"}}
}

// TestOnlyPitcherAppsCallTheAPI: an access token that Entra issued for the
// connector's API to an application that is not one of
// API_ALLOWED_CLIENT_IDS (here any app a user consented to access_as_user)
// is refused on every call as a token for another API would be: 401
// invalid_token naming the application, and nothing read or written. The
// log names the refused application, never the token; the Pitcher app's
// own token of the same user goes on working.
func TestOnlyPitcherAppsCallTheAPI(t *testing.T) {
	t.Parallel()
	w := quietWorld(t)
	u := w.Connect(t, "dave@fabrikam.example")
	other := w.AppToken(t, u.UPN, testworld.OtherAppClientID)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/api/changes", nil},
		{http.MethodPost, "/api/uploads", meetingReport("other-app-1")},
		{http.MethodGet, "/api/uploads/other-app-1", nil},
		{http.MethodGet, "/api/documents/" + uuid.NewString(), nil},
		{http.MethodGet, "/api/diagnostics", nil},
		{http.MethodGet, "/api/connection", nil},
		{http.MethodDelete, "/api/connection", nil},
	} {
		status, h, body := w.API(t, c.method, c.path, other, c.body)
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(body, &e)
		if status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) ||
			e.Error.Code != "unauthorized" || !strings.Contains(e.Error.Message, testworld.OtherAppClientID) {
			t.Errorf("%s %s with another app's token = %d %q %s; want 401 invalid_token naming the app %s",
				c.method, c.path, status, h.Get("WWW-Authenticate"), body, testworld.OtherAppClientID)
		}
	}

	token := w.DeviceToken(t, u.UPN)
	if status, _, body := w.API(t, http.MethodGet, "/api/uploads/other-app-1", token, nil); status != http.StatusNotFound {
		t.Errorf("GET /api/uploads/other-app-1 with the Pitcher app's token = %d %s; want 404: the other app's report was not taken", status, body)
	}
	if status, _, body := w.API(t, http.MethodGet, "/api/changes", token, nil); status != http.StatusOK {
		t.Errorf("GET /api/changes with the Pitcher app's token = %d %s, want 200", status, body)
	}
	if status, _, body := w.API(t, http.MethodPost, "/api/uploads", token, meetingReport("pitcher-app-1")); status != http.StatusAccepted {
		t.Errorf("POST /api/uploads with the Pitcher app's token = %d %s, want 202", status, body)
	}
	if status, _ := w.ConnectionStatus(t, u.UPN); status != http.StatusOK {
		t.Errorf("GET /api/connection after the other app's DELETE = %d, want 200: the connection is still there", status)
	}

	named := false
	for _, line := range strings.Split(w.Logs(), "\n") {
		named = named || strings.Contains(line, `"status":401`) && strings.Contains(line, testworld.OtherAppClientID)
	}
	if !named {
		t.Errorf("no log line of a 401 names the refused application %s:\n%.4000s", testworld.OtherAppClientID, w.Logs())
	}
	w.AssertNoSecrets(t)
}

// TestAPIAnswersAreNotSniffed: every JSON answer of the API, success or
// refusal, tells browsers not to guess another type (X-Content-Type-Options:
// nosniff), through the host as the app sees it.
func TestAPIAnswersAreNotSniffed(t *testing.T) {
	t.Parallel()
	w := quietWorld(t)
	u := w.Connect(t, "dave@fabrikam.example")
	token := w.DeviceToken(t, u.UPN)
	unapproved := w.DeviceToken(t, "alice@contoso.example")
	for _, c := range []struct {
		name, method, path, token string
		body                      any
		status                    int
	}{
		{"changes", http.MethodGet, "/api/changes", token, nil, http.StatusOK},
		{"changes, bad limit", http.MethodGet, "/api/changes?limit=0", token, nil, http.StatusBadRequest},
		{"no token", http.MethodGet, "/api/changes", "", nil, http.StatusUnauthorized},
		{"forged token", http.MethodGet, "/api/changes", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", nil, http.StatusUnauthorized},
		{"unapproved organisation", http.MethodGet, "/api/changes", unapproved, nil, http.StatusForbidden},
		{"upload", http.MethodPost, "/api/uploads", token, meetingReport("nosniff-1"), http.StatusAccepted},
		{"upload again", http.MethodPost, "/api/uploads", token, meetingReport("nosniff-1"), http.StatusOK},
		{"upload refused", http.MethodPost, "/api/uploads", token, []byte(`{"uploadId":"nosniff-2"}`), http.StatusBadRequest},
		{"upload status", http.MethodGet, "/api/uploads/nosniff-1", token, nil, http.StatusOK},
		{"unknown upload", http.MethodGet, "/api/uploads/none", token, nil, http.StatusNotFound},
		{"unknown document", http.MethodGet, "/api/documents/" + uuid.NewString(), token, nil, http.StatusNotFound},
		{"diagnostics", http.MethodGet, "/api/diagnostics", token, nil, http.StatusOK},
		{"connection", http.MethodGet, "/api/connection", token, nil, http.StatusOK},
	} {
		status, h, body := w.API(t, c.method, c.path, c.token, c.body)
		if status != c.status || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %s %s = %d, Content-Type %q, X-Content-Type-Options %q; want %d, JSON, nosniff\n%.300s", c.name, c.method, c.path,
				status, h.Get("Content-Type"), h.Get("X-Content-Type-Options"), c.status, body)
		}
	}
}
