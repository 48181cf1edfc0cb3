package dataverse_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/localworld/dataversesim"
)

func mustReq(t *testing.T) func(dataverse.Request, error) dataverse.Request {
	return func(r dataverse.Request, err error) dataverse.Request {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

func TestBatchChangeSetWithContentIDReferences(t *testing.T) {
	e := newEnv(t, dataversesim.Options{})
	must := mustReq(t)
	var b dataverse.Batch
	cs := b.ChangeSet()
	acc := cs.Add(must(dataverse.CreateRequest("accounts", map[string]any{"name": "Batch Co"}, nil)))
	cs.Add(must(dataverse.CreateRequest("contacts", map[string]any{"lastname": "Linked", "parentcustomerid_account@odata.bind": acc.Bind()}, nil)))
	cs.Add(must(dataverse.UpdateRequest(acc, map[string]any{"telephone1": "555"}, nil)))
	b.Add(dataverse.GetRequest(dataverse.ByKey("accounts", "accountnumber", "none"), nil))
	res, err := e.c.ExecuteBatch(context.Background(), &b, &dataverse.BatchOptions{ContinueOnError: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Parts) != 4 {
		t.Fatalf("got %d parts, want 4", len(res.Parts))
	}
	for i, want := range []int{204, 204, 204, 404} {
		if p := res.Parts[i]; p.StatusCode != want {
			t.Errorf("part %d: status %d, want %d (%s)", i, p.StatusCode, want, p.Body)
		}
	}
	if res.Parts[0].ContentID != "1" || res.Parts[0].Result().ID == "" {
		t.Errorf("part 0 = %+v, want Content-ID 1 and the new id", res.Parts[0])
	}
	if !dataverse.IsNotFound(res.Parts[3].Err) || res.Parts[3].ChangeSet != 1 {
		t.Errorf("part 3: err %v item %d", res.Parts[3].Err, res.Parts[3].ChangeSet)
	}
	accID := res.Parts[0].Result().ID
	row, _ := e.sim.GetRow("accounts", accID)
	contact, _ := e.sim.GetRow("contacts", res.Parts[1].Result().ID)
	if row["telephone1"] != "555" || contact["_parentcustomerid_value"] != accID {
		t.Errorf("account %v, contact %v: the $1 references were not applied", row, contact)
	}
}

func TestBatchFailedChangeSetRollsBack(t *testing.T) {
	for _, continueOnError := range []bool{false, true} {
		e := newEnv(t, dataversesim.Options{})
		must := mustReq(t)
		var b dataverse.Batch
		cs1 := b.ChangeSet()
		cs1.Add(must(dataverse.CreateRequest("accounts", map[string]any{"name": "Kept 1"}, nil)))
		cs2 := b.ChangeSet()
		cs2.Add(must(dataverse.CreateRequest("accounts", map[string]any{"name": "Undone"}, nil)))
		cs2.Add(must(dataverse.CreateRequest("accounts", map[string]any{"name": strings.Repeat("x", 200)}, nil)))
		cs3 := b.ChangeSet()
		cs3.Add(must(dataverse.CreateRequest("accounts", map[string]any{"name": "Kept 3"}, nil)))
		res, err := e.c.ExecuteBatch(context.Background(), &b, &dataverse.BatchOptions{ContinueOnError: continueOnError})
		if err != nil {
			t.Fatal(err)
		}
		wantParts, wantRows := 2, 1
		if continueOnError {
			wantParts, wantRows = 3, 2
		}
		if len(res.Parts) != wantParts || e.sim.Count("accounts") != wantRows {
			t.Errorf("continue=%v: %d parts, %d accounts; want %d and %d", continueOnError, len(res.Parts), e.sim.Count("accounts"), wantParts, wantRows)
		}
		failed := res.Parts[1]
		if failed.StatusCode != 400 || failed.ContentID != "3" || failed.Err.Code != dataverse.CodeValidation || res.Err() == nil {
			t.Errorf("continue=%v: failed part = %+v", continueOnError, failed)
		}
	}
}

func TestBatchWithoutChangeSetsStopsOrContinues(t *testing.T) {
	for _, continueOnError := range []bool{false, true} {
		e := newEnv(t, dataversesim.Options{})
		must := mustReq(t)
		var b dataverse.Batch
		b.Add(must(dataverse.CreateRequest("accounts", map[string]any{"name": "One"}, nil)))
		b.Add(must(dataverse.CreateRequest("accounts", map[string]any{"nope": 1}, nil)))
		b.Add(must(dataverse.CreateRequest("accounts", map[string]any{"name": "Three"}, nil)))
		res, err := e.c.ExecuteBatch(context.Background(), &b, &dataverse.BatchOptions{ContinueOnError: continueOnError})
		if err != nil {
			t.Fatal(err)
		}
		want, wantParts := 1, 2 // the first request stays: it was not in a change set
		if continueOnError {
			want, wantParts = 2, 3
		}
		if len(res.Parts) != wantParts || res.Parts[1].StatusCode != 400 {
			t.Errorf("continue=%v: %d parts, want %d with the second failed", continueOnError, len(res.Parts), wantParts)
		}
		if got := e.sim.Count("accounts"); got != want {
			t.Errorf("continue=%v: %d accounts, want %d", continueOnError, got, want)
		}
	}
}

func TestBatchOfUpsertsIsRetriedAfterGatewayError(t *testing.T) {
	e := newEnv(t, dataversesim.Options{})
	var b dataverse.Batch
	cs := b.ChangeSet()
	for i := range 3 {
		cs.Add(mustReq(t)(dataverse.UpsertRequest(dataverse.ByKey("accounts", "accountnumber", string(rune('A'+i))), map[string]any{"name": "u"}, nil)))
	}
	e.sim.FailNext(dataversesim.Fault{Status: 503, Path: "$batch"})
	if _, err := e.c.ExecuteBatch(context.Background(), &b, nil); err != nil {
		t.Fatal(err)
	}
	if e.sim.Count("accounts") != 3 || e.sim.Requests() != 2 {
		t.Errorf("accounts %d, requests %d; want 3 and 2", e.sim.Count("accounts"), e.sim.Requests())
	}
}

func TestBatchBodyWithoutCRLFIsRefused(t *testing.T) {
	e := newEnv(t, dataversesim.Options{})
	body := "--b1\nContent-Type: application/http\nContent-Transfer-Encoding: binary\n\nGET /api/data/v9.2/WhoAmI HTTP/1.1\n\n\n--b1--\n"
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/data/v9.2/$batch", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer x")
	req.Header.Set("Content-Type", "multipart/mixed; boundary=b1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "0x80048d19") || !strings.Contains(string(b), "Stream was not readable") {
		t.Errorf("LF-only batch: %d %s", resp.StatusCode, b)
	}
}

func TestBatchForwardContentIDReference(t *testing.T) {
	e := newEnv(t, dataversesim.Options{})
	var b dataverse.Batch
	cs := b.ChangeSet()
	cs.Add(mustReq(t)(dataverse.CreateRequest("contacts", map[string]any{"lastname": "x", "parentcustomerid_account@odata.bind": "$2"}, nil)))
	cs.Add(mustReq(t)(dataverse.CreateRequest("accounts", map[string]any{"name": "later"}, nil)))
	res, err := e.c.ExecuteBatch(context.Background(), &b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), "Content-ID Reference: '$2' does not exist in the batch context.") {
		t.Errorf("forward reference: %v", err)
	}
}

func TestBatchTooLargeIsRefusedBeforeSending(t *testing.T) {
	e := newEnv(t, dataversesim.Options{})
	var b dataverse.Batch
	for range dataverse.MaxBatchRequests + 1 {
		b.Add(dataverse.GetRequest(dataverse.ByID("accounts", "5a2b8a1e-0000-4000-8000-000000000001"), nil))
	}
	if _, err := e.c.ExecuteBatch(context.Background(), &b, nil); err == nil || e.sim.Requests() != 0 {
		t.Errorf("err %v, requests %d", err, e.sim.Requests())
	}
}

// TestBatchPartNamesItsItemAfterAnEmptyChangeSet: an empty change set (a
// report with no customer upserts) is not sent, yet the parts after it must
// still name the batch item they answer.
func TestBatchPartNamesItsItemAfterAnEmptyChangeSet(t *testing.T) {
	e := newEnv(t, dataversesim.Options{})
	must := mustReq(t)
	var b dataverse.Batch
	b.ChangeSet()                                                                                      // item 0: nothing added
	b.Add(dataverse.GetRequest(dataverse.ByKey("accounts", "accountnumber", "none"), nil))             // item 1
	b.ChangeSet().Add(must(dataverse.CreateRequest("accounts", map[string]any{"name": "After"}, nil))) // item 2
	res, err := e.c.ExecuteBatch(context.Background(), &b, &dataverse.BatchOptions{ContinueOnError: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Parts) != 2 {
		t.Fatalf("got %d parts, want 2", len(res.Parts))
	}
	for i, want := range []int{1, 2} {
		if got := res.Parts[i].ChangeSet; got != want {
			t.Errorf("part %d (status %d) names batch item %d, want %d", i, res.Parts[i].StatusCode, got, want)
		}
	}
}

// TestBatchWriteErrorsReadLikeTheSameWriteAlone: Dataverse leaves the code of
// a failed If-None-Match or If-Match empty
// (docs/reference/dataverse-webapi.md §4.3), so a part's error must know
// which header its request carried: a create-only upsert of an existing row
// is "already exists" in a $batch as it is alone, and an update on a stale
// ETag a conflict.
func TestBatchWriteErrorsReadLikeTheSameWriteAlone(t *testing.T) {
	e := newEnv(t, dataversesim.Options{})
	ctx := context.Background()
	must := mustReq(t)
	ref := dataverse.ByID("accounts", "6f1d0c3a-1111-4a4a-8b8b-000000000001")
	if _, err := e.c.Upsert(ctx, ref, map[string]any{"name": "A"}, nil); err != nil {
		t.Fatal(err)
	}
	stale := &dataverse.WriteOptions{IfMatch: `W/"1"`}
	if _, err := e.c.Upsert(ctx, ref, map[string]any{"name": "A2"}, nil); err != nil { // the ETag moves on
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		req   dataverse.Request
		alone func() error
		is    func(error) bool
	}{
		{"create-only upsert of an existing row", must(dataverse.UpsertRequest(ref, map[string]any{"name": "B"}, &dataverse.UpsertOptions{CreateOnly: true})),
			func() error {
				_, err := e.c.Upsert(ctx, ref, map[string]any{"name": "B"}, &dataverse.UpsertOptions{CreateOnly: true})
				return err
			}, dataverse.IsAlreadyExists},
		{"update on a stale ETag", must(dataverse.UpdateRequest(ref, map[string]any{"name": "C"}, stale)),
			func() error { _, err := e.c.Update(ctx, ref, map[string]any{"name": "C"}, stale); return err }, dataverse.IsConcurrencyConflict},
	}
	for _, tc := range tests {
		if err := tc.alone(); !tc.is(err) {
			t.Fatalf("%s alone: err = %v", tc.name, err)
		}
		for _, inChangeSet := range []bool{true, false} {
			var b dataverse.Batch
			if inChangeSet {
				b.ChangeSet().Add(tc.req)
			} else {
				b.Add(tc.req)
			}
			res, err := e.c.ExecuteBatch(ctx, &b, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Parts[0].Err; !tc.is(got) || dataverse.IsAlreadyExists(got) == dataverse.IsConcurrencyConflict(got) {
				t.Errorf("%s in a $batch (change set %v): err = %v (already exists %v, conflict %v), want what it is alone",
					tc.name, inChangeSet, got, dataverse.IsAlreadyExists(got), dataverse.IsConcurrencyConflict(got))
			}
		}
	}
}
