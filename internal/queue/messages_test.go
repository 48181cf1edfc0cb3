package queue

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/apperr"
)

const (
	tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	user   = "9c1e5b2a-3f4d-4e6a-8b7c-0d1e2f3a4b5c"
	upload = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
	// uploadMessageID is the MessageId of upload by user of tenant: "upload:"
	// and the hex sha256 of "<tenant>|<user>|<upload id>", computed by hand
	// (printf '%s|%s|%s' … | sha256sum).
	// syncUserHash is the first 32 hex digits of sha256(tenant|user).
	syncUserHash    = "e6392c948fe9ff3371db66ae7653c4fe"
	uploadMessageID = "upload:4e5ba432f415adecd01cabc0dbf4f7ef99d1d05d4992310ef4be77f93d1e8f9d"
)

// TestGolden: each testdata message decodes to the expected value, which
// encodes back to the same bytes, and has the expected MessageId.
func TestGolden(t *testing.T) {
	slot := time.Date(2026, 11, 28, 14, 5, 0, 0, time.UTC)
	retry := NewSyncJob(tenant, user, ReasonScheduled, slot).Retry(time.Date(2026, 11, 28, 14, 7, 30, 0, time.UTC))
	retry = retry.Retry(retry.Slot)
	tests := []struct {
		file   string
		want   Message
		msgID  string
		decode func([]byte) (Message, error)
	}{
		{"sync-job.json", NewSyncJob(tenant, user, ReasonScheduled, slot), "sync:" + tenant + ":" + syncUserHash + ":20261128T140500Z", decodeSync},
		{"sync-job-retry.json", retry, "sync:" + tenant + ":" + syncUserHash + ":20261128T140730Z", decodeSync},
		{"sync-job-continuation.json", NewSyncJob(tenant, user, ReasonScheduled, slot).Continue().Continue(), "sync:" + tenant + ":" + syncUserHash + ":20261128T140500Z:part:2", decodeSync},
		{"upload.json", NewUpload(tenant, user, upload), uploadMessageID, decodeUpload},
		{"upload-retry.json", NewUpload(tenant, user, upload).Retry(), uploadMessageID + ":retry:1", decodeUpload},
		{"lifecycle-erase-user.json", EraseUser(tenant, user), "lifecycle:erase-user:" + tenant + ":" + syncUserHash + ":0", decodeLifecycle},
		{"lifecycle-offboard-tenant.json", OffboardTenant(tenant).ContinueAt(time.Unix(1796300000, 0)), "lifecycle:offboard-tenant:" + tenant + ":-:1796300000", decodeLifecycle},
	}
	for _, tc := range tests {
		golden, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		golden = bytes.TrimSpace(golden)
		got, err := tc.decode(golden)
		if err != nil {
			t.Errorf("%s: decode: %v", tc.file, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: decoded %+v, want %+v", tc.file, got, tc.want)
		}
		enc, _ := json.Marshal(tc.want)
		if !bytes.Equal(enc, golden) {
			t.Errorf("%s: %+v encodes as\n%s\nwant\n%s", tc.file, tc.want, enc, golden)
		}
		if id := got.MessageID(); id != tc.msgID {
			t.Errorf("%s: MessageID = %q, want %q", tc.file, id, tc.msgID)
		}
	}
}

func decodeSync(b []byte) (Message, error)      { return DecodeSyncJob(b) }
func decodeUpload(b []byte) (Message, error)    { return DecodeUpload(b) }
func decodeLifecycle(b []byte) (Message, error) { return DecodeLifecycle(b) }

func TestDecodeRejects(t *testing.T) {
	good := `"tenantId":"` + tenant + `","userId":"` + user + `"`
	tests := []struct {
		name, body, field, want string
		decode                  func([]byte) (Message, error)
	}{
		{"newer version", `{"v":2,` + good + `,"reason":"scheduled","slot":"2026-11-28T14:05:00Z","future":1}`, "v", "version 2 is not supported", decodeSync},
		{"no version", `{` + good + `,"uploadId":"u1"}`, "v", "missing", decodeUpload},
		{"version as string", `{"v":"1",` + good + `,"uploadId":"u1"}`, "v", `version "1" is not supported`, decodeUpload},
		{"unknown field", `{"v":1,` + good + `,"uploadId":"u1","extra":true}`, "", `unknown field "extra"`, decodeUpload},
		{"not a GUID", `{"v":1,"tenantId":"contoso.com","userId":"` + user + `","reason":"manual","slot":"2026-11-28T14:05:00Z"}`, "tenantId", "is not a GUID", decodeSync},
		{"bad reason", `{"v":1,` + good + `,"reason":"whenever","slot":"2026-11-28T14:05:00Z"}`, "reason", "is not initial, scheduled, manual, retry or continuation", decodeSync},
		{"continuation without part", `{"v":1,` + good + `,"reason":"continuation","slot":"2026-11-28T14:05:00Z"}`, "part", "1 or more", decodeSync},
		{"part of another reason", `{"v":1,` + good + `,"reason":"scheduled","slot":"2026-11-28T14:05:00Z","part":3}`, "part", "unless the reason is continuation", decodeSync},
		{"no slot", `{"v":1,` + good + `,"reason":"manual"}`, "slot", "missing", decodeSync},
		{"fractional slot", `{"v":1,` + good + `,"reason":"manual","slot":"2026-11-28T14:05:00.5Z"}`, "slot", "whole seconds", decodeSync},
		{"negative attempt", `{"v":1,` + good + `,"uploadId":"u1","attempt":-1}`, "attempt", "negative", decodeUpload},
		{"bad upload id", `{"v":1,` + good + `,"uploadId":"a b"}`, "uploadId", "letters, digits", decodeUpload},
		{"wrong type", `{"v":1,` + good + `,"uploadId":7}`, "", "uploadId is a JSON number", decodeUpload},
		{"not an object", `[1,2]`, "", "is not a JSON object", decodeUpload},
		{"unknown operation", `{"v":1,"op":"erase-everything","tenantId":"` + tenant + `"}`, "op", "is not erase-user or offboard-tenant", decodeLifecycle},
		{"erase without a user", `{"v":1,"op":"erase-user","tenantId":"` + tenant + `"}`, "userId", "missing", decodeLifecycle},
		{"offboard naming a user", `{"v":1,"op":"offboard-tenant",` + good + `}`, "userId", "must be absent", decodeLifecycle},
		{"trailing data", `{"v":1,` + good + `,"uploadId":"u1"} {}`, "", "", decodeUpload},
	}
	for _, tc := range tests {
		_, err := tc.decode([]byte(tc.body))
		var ae *apperr.Error
		if err == nil || apperr.KindOf(err) != apperr.Invalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want an Invalid error mentioning %q", tc.name, err, tc.want)
			continue
		}
		if tc.field != "" {
			if !asAppErr(err, &ae) || len(ae.Problems) == 0 || ae.Problems[0].Field != tc.field {
				t.Errorf("%s: error %v does not name the field %s", tc.name, err, tc.field)
			}
		}
	}
}

func asAppErr(err error, target **apperr.Error) bool {
	e, ok := err.(*apperr.Error)
	*target = e
	return ok
}

func TestMessageIDsMakeDuplicatesHarmless(t *testing.T) {
	at := time.Date(2026, 11, 28, 14, 5, 12, 0, time.UTC)
	upper := strings.ToUpper(tenant)
	same := []struct {
		name string
		a, b Message
	}{
		{"same user and slot", NewSyncJob(tenant, user, ReasonScheduled, at), NewSyncJob(tenant, user, ReasonManual, at)},
		{"GUID case", NewSyncJob(upper, user, ReasonScheduled, at), NewSyncJob(tenant, user, ReasonScheduled, at)},
		{"sign-ins of one connection", InitialSync(tenant, user, at), InitialSync(tenant, user, at.Add(400*time.Millisecond))},
		{"same upload", NewUpload(tenant, user, upload), NewUpload(tenant, user, upload)},
		{"same upload, GUID case", NewUpload(upper, strings.ToUpper(user), upload), NewUpload(tenant, user, upload)},
		{"a redelivered job's continuation", NewSyncJob(tenant, user, ReasonScheduled, at).Continue(), NewSyncJob(tenant, user, ReasonScheduled, at).Continue()},
	}
	for _, tc := range same {
		if tc.a.MessageID() != tc.b.MessageID() {
			t.Errorf("%s: MessageIDs %q and %q differ; duplicates would be processed twice", tc.name, tc.a.MessageID(), tc.b.MessageID())
		}
	}
	job := NewSyncJob(tenant, user, ReasonScheduled, at)
	different := []struct {
		name string
		a, b Message
	}{
		{"next slot", job, NewSyncJob(tenant, user, ReasonScheduled, at.Add(5*time.Minute))},
		{"other user", job, NewSyncJob(tenant, upload, ReasonScheduled, at)},
		{"sync retry", job, job.Retry(at.Add(time.Minute))},
		{"a new connection in the same minute", InitialSync(tenant, user, at), InitialSync(tenant, user, at.Add(20*time.Second))},
		{"a first sync and a manual one in the same second", InitialSync(tenant, user, at), NewSyncJob(tenant, user, ReasonManual, at)},
		{"continuations of two erasures of one user", EraseUser(tenant, user).ContinueAt(at), EraseUser(tenant, user).ContinueAt(at.Add(3 * time.Minute))},
		{"an operator's erasure and a disconnect's continuation", EraseUser(tenant, user), EraseUser(tenant, user).ContinueAt(at)},
		{"continuation", job, job.Continue()},
		{"next continuation", job.Continue(), job.Continue().Continue()},
		{"upload retry", NewUpload(tenant, user, upload), NewUpload(tenant, user, upload).Retry()},
		{"second upload retry", NewUpload(tenant, user, upload).Retry(), NewUpload(tenant, user, upload).Retry().Retry()},
		// Upload ids are unique per user only, but duplicate detection spans
		// the queue: another user's "meeting-42" must not be dropped.
		{"same upload id, other user", NewUpload(tenant, user, "meeting-42"), NewUpload(tenant, upload, "meeting-42")},
		{"same upload id, other tenant", NewUpload(tenant, user, "meeting-42"), NewUpload(upload, user, "meeting-42")},
		{"same upload id, other tenant, retry", NewUpload(tenant, user, "meeting-42").Retry(), NewUpload(upload, user, "meeting-42").Retry()},
	}
	for _, tc := range different {
		if tc.a.MessageID() == tc.b.MessageID() {
			t.Errorf("%s: both have MessageID %q; duplicate detection would drop the second", tc.name, tc.a.MessageID())
		}
	}
	long := NewUpload(tenant, user, strings.Repeat("x", 100)).Retry()
	for i := 0; i < 1000; i++ {
		long = long.Retry()
	}
	if n := len(long.MessageID()); n > 128 {
		t.Errorf("longest MessageID is %d characters; Service Bus allows 128", n)
	}
}

func FuzzDecodeSyncJob(f *testing.F) {
	for _, file := range []string{"sync-job.json", "sync-job-retry.json"} {
		b, _ := os.ReadFile(filepath.Join("testdata", file))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		j, err := DecodeSyncJob(body)
		if err != nil {
			return
		}
		enc, _ := json.Marshal(j)
		again, err := DecodeSyncJob(enc)
		if err != nil || again != j {
			t.Fatalf("decoded %+v re-encodes to %s, which decodes to %+v, %v", j, enc, again, err)
		}
	})
}

func FuzzDecodeUpload(f *testing.F) {
	for _, file := range []string{"upload.json", "upload-retry.json"} {
		b, _ := os.ReadFile(filepath.Join("testdata", file))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := DecodeUpload(body)
		if err != nil {
			return
		}
		enc, _ := json.Marshal(u)
		again, err := DecodeUpload(enc)
		if err != nil || again != u || len(again.MessageID()) > 128 {
			t.Fatalf("decoded %+v re-encodes to %s, which decodes to %+v, %v", u, enc, again, err)
		}
	})
}

// TestLifecycleIDsAreCanonical: an operator's message with upper-case ids
// names the same tenant as the keys in storage (lower case).
func TestLifecycleIDsAreCanonical(t *testing.T) {
	m, err := DecodeLifecycle([]byte(`{"v":1,"op":"offboard-tenant","tenantId":"72F988BF-86F1-41AF-91AB-2D7CD011DB47"}`))
	if err != nil || m.TenantID != tenant || m.Continuation {
		t.Errorf("DecodeLifecycle = %+v, %v; want tenant %s, not a continuation", m, err, tenant)
	}
}
