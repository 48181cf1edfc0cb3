package dataversesim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// batchReq is one request of a $batch: method, URL relative to the
// service root, body, and headers as name, value pairs.
type batchReq struct {
	method, url, body string
	header            []string
}

// changeSetBatch is a $batch body holding one change set of reqs, with
// Content-IDs 1, 2, … in order.
func changeSetBatch(reqs ...batchReq) string {
	var b strings.Builder
	b.WriteString("--batch_b\r\nContent-Type: multipart/mixed; boundary=changeset_c\r\n\r\n")
	for i, r := range reqs {
		fmt.Fprintf(&b, "--changeset_c\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: %d\r\n\r\n", i+1)
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nContent-Type: application/json\r\n", r.method, r.url)
		for j := 0; j+1 < len(r.header); j += 2 {
			fmt.Fprintf(&b, "%s: %s\r\n", r.header[j], r.header[j+1])
		}
		fmt.Fprintf(&b, "\r\n%s\r\n", r.body)
	}
	b.WriteString("--changeset_c--\r\n--batch_b--\r\n")
	return b.String()
}

// batchAnswers splits a $batch response into the answers of its
// requests, in order.
func batchAnswers(t *testing.T, body string) []result {
	t.Helper()
	var out []result
	for _, chunk := range strings.Split(body, "\r\nHTTP/1.1 ")[1:] {
		status, err := strconv.Atoi(chunk[:3])
		if err != nil {
			t.Fatalf("no status in a $batch answer: %q", chunk)
		}
		head, rest, _ := strings.Cut(chunk, "\r\n\r\n")
		h := http.Header{}
		for _, line := range strings.Split(head, "\r\n")[1:] {
			name, val, _ := strings.Cut(line, ": ")
			h.Add(name, val)
		}
		content, _, _ := strings.Cut(rest, "\r\n--")
		out = append(out, result{status, h, content})
	}
	return out
}

// etagOf returns the ETag a GET of the row at path answers.
func etagOf(t *testing.T, srv *httptest.Server, path string) string {
	t.Helper()
	r := send(t, srv, "GET", path+"?$select=telephone1", "")
	if r.status != http.StatusOK || r.header.Get("ETag") == "" {
		t.Fatalf("GET %s = %d %v %s", path, r.status, r.header, r.body)
	}
	return r.header.Get("ETag")
}

// TestConditionalPatchInChangeSet: If-Match and If-None-Match are honoured
// on a PATCH inside a $batch change set as on the same PATCH alone. A change
// set of three upserts whose second fails its condition answers that one
// failure (412 ConcurrencyVersionMismatch for a stale ETag, 412 with an
// empty code for If-None-Match: * on an existing row, 404 for If-Match on a
// missing row) and keeps none of the three writes: the row the first would
// create is absent, the rows the others would change keep their values and
// ETags, and the write journal shows nothing. With the current ETag the
// change set commits all three.
func TestConditionalPatchInChangeSet(t *testing.T) {
	const api = "/api/data/v9.2/"
	acc0, acc1, acc2 := SeedID("accounts", 0), SeedID("accounts", 1), SeedID("accounts", 2)
	created := "6f1d0c3a-2222-4a4a-8b8b-000000000001" // the row the first upsert creates
	missing := "6f1d0c3a-2222-4a4a-8b8b-0000000000ff"
	type fixture struct{ stale, current string } // acc1's ETags before and after a colleague's edit
	setup := func(t *testing.T) (*Sim, *httptest.Server, fixture) {
		s, srv := newTestServer(t, Options{Seed: 3, Journal: true})
		var f fixture
		f.stale = etagOf(t, srv, api+"accounts("+acc1+")")
		if err := s.UpdateRow("accounts", acc1, map[string]any{"description": "edited in Dynamics"}); err != nil {
			t.Fatal(err)
		}
		f.current = etagOf(t, srv, api+"accounts("+acc1+")")
		if f.current == f.stale {
			t.Fatalf("the ETag did not move on an update: %s", f.current)
		}
		return s, srv, f
	}
	first := batchReq{method: "PATCH", url: "accounts(" + created + ")", body: `{"name":"created in the change set","telephone1":"1"}`}
	third := batchReq{method: "PATCH", url: "accounts(" + acc2 + ")", body: `{"telephone1":"3"}`}
	tests := []struct {
		name       string
		second     func(f fixture) batchReq
		wantStatus int
		wantCode   string
		wantText   string
	}{
		{"stale If-Match", func(f fixture) batchReq {
			return batchReq{method: "PATCH", url: "accounts(" + acc1 + ")", body: `{"telephone1":"2"}`, header: []string{"If-Match", f.stale}}
		}, 412, "0x80060882", "The version of the existing record doesn't match the RowVersion property provided."},
		{"If-Match that is no ETag", func(f fixture) batchReq {
			return batchReq{method: "PATCH", url: "accounts(" + acc1 + ")", body: `{"telephone1":"2"}`, header: []string{"If-Match", "nonsense"}}
		}, 412, "0x80060882", "The version of the existing record doesn't match the RowVersion property provided."},
		{"If-None-Match * on an existing row", func(f fixture) batchReq {
			return batchReq{method: "PATCH", url: "accounts(" + acc1 + ")", body: `{"telephone1":"2"}`, header: []string{"If-None-Match", "*"}}
		}, 412, "", "A record with matching key values already exists."},
		{"If-Match ETag on a missing row", func(f fixture) batchReq {
			return batchReq{method: "PATCH", url: "accounts(" + missing + ")", body: `{"telephone1":"2"}`, header: []string{"If-Match", f.current}}
		}, 404, "0x80040217", "account With Id = " + missing + " Does Not Exist"},
		{"If-Match * on a missing row", func(f fixture) batchReq {
			return batchReq{method: "PATCH", url: "accounts(" + missing + ")", body: `{"telephone1":"2"}`, header: []string{"If-Match", "*"}}
		}, 404, "0x80040217", "account With Id = " + missing + " Does Not Exist"},
		{"current If-Match", func(f fixture) batchReq {
			return batchReq{method: "PATCH", url: "accounts(" + acc1 + ")", body: `{"telephone1":"2"}`, header: []string{"If-Match", f.current}}
		}, 204, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Alone, on an environment of its own.
			_, alone, f := setup(t)
			second := tc.second(f)
			r := send(t, alone, second.method, api+second.url, second.body, append([]string{"Content-Type", "application/json"}, second.header...)...)
			if code, msg := r.errorCode(); r.status != tc.wantStatus || code != tc.wantCode || msg != tc.wantText {
				t.Errorf("alone: %d %q %q, want %d %q %q", r.status, code, msg, tc.wantStatus, tc.wantCode, tc.wantText)
			}

			for _, continueOnError := range []bool{false, true} {
				s, srv, f := setup(t)
				before := map[string]string{acc0: etagOf(t, srv, api+"accounts("+acc0+")"), acc1: f.current, acc2: etagOf(t, srv, api+"accounts("+acc2+")")}
				rowsBefore := map[string]Row{}
				for id := range before {
					rowsBefore[id], _ = s.GetRow("accounts", id)
				}
				header := []string{"Content-Type", "multipart/mixed; boundary=batch_b"}
				if continueOnError {
					header = append(header, "Prefer", "odata.continue-on-error")
				}
				r := send(t, srv, "POST", api+"$batch", changeSetBatch(first, tc.second(f), third), header...)
				answers := batchAnswers(t, r.body)

				if tc.wantStatus < 400 {
					if r.status != http.StatusOK || len(answers) != 3 || !strings.Contains(r.body, "changesetresponse_") {
						t.Fatalf("change set with the current ETag = %d, %d answers: %s", r.status, len(answers), r.body)
					}
					for i, a := range answers {
						if a.status != http.StatusNoContent {
							t.Errorf("answer %d = %d %s, want 204", i+1, a.status, a.body)
						}
					}
					if row, ok := s.GetRow("accounts", created); !ok || row["telephone1"] != "1" {
						t.Errorf("the first upsert's row = %v, %v; want it created", row, ok)
					}
					for id, want := range map[string]string{acc1: "2", acc2: "3"} {
						if row, _ := s.GetRow("accounts", id); row["telephone1"] != want || row["@odata.etag"] == before[id] {
							t.Errorf("row %s after the change set = %v, want telephone1 %s and a new ETag", id, row, want)
						}
					}
					if len(s.Journal("accounts", created)) != 1 || len(s.Journal("accounts", acc2)) != 1 {
						t.Errorf("journal: created %v, third %v; want one write each", s.Journal("accounts", created), s.Journal("accounts", acc2))
					}
					continue
				}

				wantOuter := tc.wantStatus
				if continueOnError {
					wantOuter = http.StatusOK
				}
				if r.status != wantOuter || len(answers) != 1 || strings.Contains(r.body, "changesetresponse_") {
					t.Fatalf("continue-on-error %v: outer %d with %d answers, want %d with the failing answer alone: %s",
						continueOnError, r.status, len(answers), wantOuter, r.body)
				}
				a := answers[0]
				if code, msg := a.errorCode(); a.status != tc.wantStatus || code != tc.wantCode || msg != tc.wantText {
					t.Errorf("the change set's answer: %d %q %q, want %d %q %q", a.status, code, msg, tc.wantStatus, tc.wantCode, tc.wantText)
				}
				if !strings.Contains(r.body, "Content-ID: 2\r\n\r\nHTTP/1.1 "+strconv.Itoa(tc.wantStatus)) {
					t.Errorf("the failing answer does not echo Content-ID 2: %s", r.body)
				}
				if row, ok := s.GetRow("accounts", created); ok {
					t.Errorf("the first upsert's row survived the failed change set: %v", row)
				}
				if _, ok := s.GetRow("accounts", missing); ok {
					t.Errorf("the missing row was created")
				}
				for id, etag := range before {
					row, _ := s.GetRow("accounts", id)
					if got := etagOf(t, srv, api+"accounts("+id+")"); got != etag || row["telephone1"] != rowsBefore[id]["telephone1"] {
						t.Errorf("row %s after the failed change set: ETag %s telephone1 %v, want %s %v", id, got, row["telephone1"], etag, rowsBefore[id]["telephone1"])
					}
				}
				for _, id := range []string{created, acc2, missing} {
					if j := s.Journal("accounts", id); len(j) != 0 {
						t.Errorf("journal of %s after the failed change set = %v, want none", id, j)
					}
				}
				if j := s.Journal("accounts", acc1); len(j) != 1 || j[0].Values["description"] != "edited in Dynamics" {
					t.Errorf("journal of the second row = %v, want only the colleague's edit", j)
				}
			}
		})
	}
}

// TestConditionalDeleteInChangeSet: a DELETE with a stale If-Match inside a
// change set fails with 412 ConcurrencyVersionMismatch and undoes the
// delete before it.
func TestConditionalDeleteInChangeSet(t *testing.T) {
	const api = "/api/data/v9.2/"
	s, srv := newTestServer(t, Options{Seed: 2})
	acc0, acc1 := SeedID("accounts", 0), SeedID("accounts", 1)
	stale := etagOf(t, srv, api+"accounts("+acc1+")")
	if err := s.UpdateRow("accounts", acc1, map[string]any{"description": "edited in Dynamics"}); err != nil {
		t.Fatal(err)
	}
	body := changeSetBatch(batchReq{method: "DELETE", url: "accounts(" + acc0 + ")"},
		batchReq{method: "DELETE", url: "accounts(" + acc1 + ")", header: []string{"If-Match", stale}})
	r := send(t, srv, "POST", api+"$batch", body, "Content-Type", "multipart/mixed; boundary=batch_b")
	answers := batchAnswers(t, r.body)
	if len(answers) != 1 {
		t.Fatalf("%d answers, want the failing one alone: %s", len(answers), r.body)
	}
	if code, _ := answers[0].errorCode(); r.status != 412 || answers[0].status != 412 || code != "0x80060882" {
		t.Errorf("outer %d, answer %d %q; want 412 0x80060882", r.status, answers[0].status, code)
	}
	for _, id := range []string{acc0, acc1} {
		if _, ok := s.GetRow("accounts", id); !ok {
			t.Errorf("row %s is gone after the failed change set", id)
		}
	}
	fresh := etagOf(t, srv, api+"accounts("+acc1+")")
	body = changeSetBatch(batchReq{method: "DELETE", url: "accounts(" + acc0 + ")"},
		batchReq{method: "DELETE", url: "accounts(" + acc1 + ")", header: []string{"If-Match", fresh}})
	if r := send(t, srv, "POST", api+"$batch", body, "Content-Type", "multipart/mixed; boundary=batch_b"); r.status != 200 || s.Count("accounts") != 0 {
		t.Errorf("deletes with the current ETag = %d, %d accounts left: %s", r.status, s.Count("accounts"), r.body)
	}
}
