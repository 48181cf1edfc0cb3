package report

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/uploadconfig"
)

var lim = Limits{MaxDocuments: 3, MaxDocumentBase64: 5242880}

const valid = `{
  "uploadId": "r-2026.03.02_1",
  "meeting": {"subject": "Quarterly review", "start": "2026-03-02T10:30:00+01:00", "end": "2026-03-02T11:30:00+01:00",
              "location": "Contoso HQ", "regarding": {"customer": 0}},
  "notes": [{"subject": "Next steps", "text": "Send the offer"}],
  "customers": [
    {"entitySet": "accounts", "key": {"accountnumber": "A-1"}, "fields": {"name": "Contoso", "telephone1": null}},
    {"entitySet": "contacts", "fields": {"firstname": "Dana", "lastname": "Lee", "emailaddress1": "dana@contoso.example"}},
    {"entitySet": "accounts", "id": "6F1B3C1E-2D4A-4B6C-8E9F-0A1B2C3D4E5F", "ifMatch": "W/\"4711\"", "fields": {"description": "Key account"}}
  ],
  "documents": [{"name": "offer.pdf", "mimeType": "application/pdf", "content": "JVBERi0xLjQK"}]
}`

func TestDecodeValid(t *testing.T) {
	spool := memSpool{}
	r, err := Decode(strings.NewReader(valid), uploadconfig.Default(), lim, spool)
	if err != nil {
		t.Fatalf("Decode(valid) = %v", err)
	}
	if got := r.Meeting.Start; !got.Equal(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("meeting.start = %v, want 09:30 UTC", got)
	}
	if r.Meeting.Regarding == nil || r.Meeting.Regarding.Customer == nil || *r.Meeting.Regarding.Customer != 0 {
		t.Errorf("meeting.regarding = %+v, want customer 0", r.Meeting.Regarding)
	}
	if r.Customers[2].ID != "6f1b3c1e-2d4a-4b6c-8e9f-0a1b2c3d4e5f" || r.Customers[2].IfMatch != `W/"4711"` {
		t.Errorf("customers[2] = %q %q, want the GUID in lower case and the app's version", r.Customers[2].ID, r.Customers[2].IfMatch)
	}
	d := r.Documents[0]
	if string(spool[0].Bytes()) != "%PDF-1.4\n" || d.Size != 9 || d.SHA256 != "e5c62df5dab5c87b6a015ef3d43597074d1eec433b15f51aec63b8582d0e4ab4" {
		t.Errorf("document = %q size %d sha %s", spool[0].Bytes(), d.Size, d.SHA256)
	}
	if strings.Contains(string(r.Canonical()), "JVBERi0") {
		t.Errorf("the canonical form holds the document's content: %s", r.Canonical())
	}
}

// TestContentHash: the hash is the report's content, not its spelling.
func TestContentHash(t *testing.T) {
	a, err := Decode(strings.NewReader(valid), uploadconfig.Default(), lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal([]byte(valid), &generic); err != nil {
		t.Fatal(err)
	}
	respelled, _ := json.MarshalIndent(generic, "", "\t") // other key order and spacing
	respelled = []byte(strings.Replace(string(respelled), "2026-03-02T10:30:00+01:00", "2026-03-02T09:30:00Z", 1))
	b, err := Decode(bytes.NewReader(respelled), uploadconfig.Default(), lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.ContentHash() != b.ContentHash() {
		t.Errorf("the same report spelled differently hashed differently:\n%s\n%s", a.Canonical(), b.Canonical())
	}
	changed := strings.Replace(valid, "Send the offer", "Send the offer today", 1)
	c, err := Decode(strings.NewReader(changed), uploadconfig.Default(), lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ContentHash() == a.ContentHash() {
		t.Errorf("a changed note did not change the hash")
	}
	back, err := Parse(a.Canonical())
	if err != nil || back.ContentHash() != a.ContentHash() {
		t.Errorf("Parse(Canonical) hashes to %s, %v; want %s", back.ContentHash(), err, a.ContentHash())
	}
}

func TestRecordID(t *testing.T) {
	a := RecordID("t1", "u1", "up-1", "notes[0]")
	if a != RecordID("t1", "u1", "up-1", "notes[0]") {
		t.Fatal("RecordID is not deterministic")
	}
	for _, other := range []string{RecordID("t1", "u1", "up-1", "notes[1]"), RecordID("t1", "u2", "up-1", "notes[0]"), RecordID("t2", "u1", "up-1", "notes[0]")} {
		if other == a {
			t.Errorf("RecordID gave %s to two different items", a)
		}
	}
	if a[14] != '5' {
		t.Errorf("RecordID %s is not a version 5 UUID", a)
	}
}

func TestDecodeProblems(t *testing.T) {
	big := base64.StdEncoding.EncodeToString(make([]byte, 3000))
	tests := []struct {
		name string
		body string
		lim  Limits
		want []string // every problem, "field: start of message"
	}{
		{"not json", `{"uploadId":`, lim, []string{"(body): malformed JSON: it ends early"}},
		{"empty", ``, lim, []string{"(body): empty; send a JSON object"}},
		{"array", `[]`, lim, []string{"(body): must be a JSON object"}},
		{"two objects", `{} {}`, lim, []string{"(body): has more after the JSON object"}},
		{"empty object", `{}`, lim, []string{"uploadId: missing", "meeting: missing"}},
		{"everything wrong", `{
			"uploadId": "bad id!", "extra": 1, "Meeting": {},
			"meeting": {"subject": "", "start": "yesterday", "end": "2026-03-02T09:00:00Z", "duration": 5,
			            "regarding": {"entitySet": "leads", "id": "x"}},
			"notes": [{"text": 3}, "note"],
			"customers": [
				{"entitySet": "accounts", "key": {"name": "Contoso"}, "fields": {"name": "C", "revenue": 5, "telephone1": {"a": 1}}},
				{"entitySet": "accounts", "id": "6f1b3c1e-2d4a-4b6c-8e9f-0a1b2c3d4e5f", "key": {"accountnumber": "A"}, "fields": {}},
				{"entitySet": "contacts", "key": {"emailaddress1": "a@b.c"}, "fields": {"emailaddress1": "x@y.z"}},
				{"entitySet": "accounts"}
			],
			"documents": [{"name": "a/b.pdf", "mimeType": "pdf", "content": "%%%"}, {"name": "c.pdf", "mimeType": "application/pdf", "content": "` + big + `"}]
		}`, Limits{MaxDocuments: 3, MaxDocumentBase64: 1000}, []string{
			"uploadId: must be 1-100 letters",
			"meeting.subject: is empty",
			"meeting.start: is not an RFC 3339 time",
			`meeting.regarding.entitySet: "leads" is not an entity set reports may write; the allowed ones are accounts, contacts`,
			"meeting.regarding.id: is not a GUID",
			"meeting.duration: unknown field",
			"notes[0].text: must be a string",
			"notes[1]: must be a JSON object",
			"customers[0].key: is not an alternate key of accounts; its keys are (accountnumber)",
			"customers[0].fields.name: is part of the key",
			"customers[0].fields.revenue: is not a column reports may write in accounts",
			"customers[0].fields.telephone1: must be a string, number, boolean or null",
			"customers[1].key: must not be set with id",
			"customers[1].fields: is empty",
			"customers[2].fields.emailaddress1: is part of the key",
			"customers[3].fields: missing",
			"documents[0].name: must be a file name without '/'",
			"documents[0].mimeType: is not a MIME type",
			"documents[0].content: is not standard Base64",
			"documents[1].content: is 4000 bytes of Base64; the organisation's Dynamics accepts at most 1000 (maxuploadfilesize)",
			"Meeting: unknown field",
			"extra: unknown field",
		}},
		{"regarding", `{"uploadId":"u","meeting":{"subject":"s","start":"2026-03-02T10:00:00Z","end":"2026-03-02T09:00:00Z",
			"regarding":{"customer":2,"entitySet":"accounts"}}}`, lim, []string{
			"meeting.end: is before meeting.start",
			"meeting.regarding.customer: is 2, but the report has 0 customer(s)",
			"meeting.regarding.entitySet: must not be set with customer",
		}},
		{"regarding names nothing", `{"uploadId":"u","meeting":{"subject":"s","start":"2026-03-02T10:00:00Z","end":"2026-03-02T10:00:00Z",
			"regarding":{"entitySet":"accounts"}}}`, lim, []string{"meeting.regarding: names no record"}},
		{"too many", `{"uploadId":"u","meeting":{"subject":"s","start":"2026-03-02T10:00:00Z","end":"2026-03-02T10:00:00Z"},
			"documents":[{},{}]}`, Limits{MaxDocuments: 1}, []string{"documents: has 2 elements; at most 1 are allowed"}},
		{"ifMatch", `{"uploadId":"u","meeting":{"subject":"s","start":"2026-03-02T10:00:00Z","end":"2026-03-02T10:00:00Z"},
			"customers":[
				{"entitySet":"accounts","key":{"accountnumber":"A"},"ifMatch":"W/\"1\"","fields":{"name":"n"}},
				{"entitySet":"accounts","fields":{"name":"n"},"ifMatch":"W/\"1\""},
				{"entitySet":"accounts","id":"6f1b3c1e-2d4a-4b6c-8e9f-0a1b2c3d4e5f","fields":{"name":"n"},"ifMatch":"12"},
				{"entitySet":"accounts","id":"6f1b3c1e-2d4a-4b6c-8e9f-0a1b2c3d4e5f","fields":{"name":"n"},"ifMatch":"W/\"1\"\r\nX-Evil: 1"},
				{"entitySet":"accounts","id":"6f1b3c1e-2d4a-4b6c-8e9f-0a1b2c3d4e5f","fields":{"name":"n"},"ifMatch":7}]}`, lim, []string{
			"customers[0].ifMatch: needs id; a row named by key, or a new row, is written without a version",
			"customers[1].ifMatch: needs id",
			`customers[2].ifMatch: is not an ETag like W/"12345"`,
			"customers[3].ifMatch: is not an ETag",
			"customers[4].ifMatch: must be a string",
		}},
		{"long subject", `{"uploadId":"u","meeting":{"subject":"` + strings.Repeat("é", 201) + `","start":"2026-03-02T10:00:00Z","end":"2026-03-02T10:00:00Z"}}`,
			lim, []string{"meeting.subject: is 201 characters long; at most 200 are allowed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Decode(strings.NewReader(tc.body), uploadconfig.Default(), tc.lim, nil)
			e, ok := apperr.As(err)
			if !ok || e.Kind != apperr.Invalid || r != nil {
				t.Fatalf("Decode = %v, %v; want nil and an Invalid error", r, err)
			}
			var got []string
			for _, p := range e.Problems {
				got = append(got, p.String())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("problems:\n  %s\nwant %d:\n  %s", strings.Join(got, "\n  "), len(tc.want), strings.Join(tc.want, "\n  "))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("problem %d = %q, want it to start %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// memSpool keeps documents in memory, by index.
type memSpool map[int]*bytes.Buffer

func (m memSpool) Document(i int) (io.Writer, error) {
	m[i] = &bytes.Buffer{}
	return m[i], nil
}

// TestDecodeDuplicateKeys: a key given twice anywhere in a report is
// refused, naming the field, instead of the last one silently winning.
func TestDecodeDuplicateKeys(t *testing.T) {
	meeting := `"meeting":{"subject":"s","start":"2026-03-02T10:00:00Z","end":"2026-03-02T10:00:00Z"}`
	tests := []struct {
		name, body string
		want       []string
	}{
		{"top", `{"uploadId":"a","uploadId":"b",` + meeting + `}`, []string{"uploadId: is given twice"}},
		{"meeting twice", `{"uploadId":"a",` + meeting + `,` + meeting + `}`, []string{"meeting: is given twice"}},
		{"in meeting", `{"uploadId":"a","meeting":{"subject":"s","subject":"t","start":"2026-03-02T10:00:00Z","end":"2026-03-02T10:00:00Z"}}`,
			[]string{"meeting.subject: is given twice"}},
		{"in regarding and its key", `{"uploadId":"a","meeting":{"subject":"s","start":"2026-03-02T10:00:00Z","end":"2026-03-02T10:00:00Z",
			"regarding":{"entitySet":"accounts","key":{"accountnumber":"A","accountnumber":"B"},"entitySet":"accounts"}}}`,
			[]string{"meeting.regarding.entitySet: is given twice", "meeting.regarding.key.accountnumber: is given twice"}},
		{"notes", `{"uploadId":"a",` + meeting + `,"notes":[{"text":"x"},{"text":"x","subject":"y","text":"z"}]}`,
			[]string{"notes[1].text: is given twice"}},
		{"customers and fields", `{"uploadId":"a",` + meeting + `,"customers":[
			{"entitySet":"accounts","fields":{"name":"Contoso","telephone1":"1","name":"Fabrikam"}},
			{"entitySet":"accounts","key":{"accountnumber":"A","accountnumber":"A"},"fields":{"name":"n"},"fields":{"name":"n"}}]}`,
			[]string{"customers[0].fields.name: is given twice", "customers[1].fields: is given twice", "customers[1].key.accountnumber: is given twice"}},
		{"documents", `{"uploadId":"a",` + meeting + `,"documents":[{"name":"a","mimeType":"a/b","content":"QUJD","name":"b"},
			{"name":"a","mimeType":"a/b","content":"QUJD","content":"REVG"}],"documents":[]}`,
			[]string{"documents: is given twice", "documents[0].name: is given twice", "documents[1].content: is given twice"}},
		{"the same key in two objects is fine", `{"uploadId":"a",` + meeting + `,"notes":[{"text":"x"},{"text":"x"}]}`, nil},
		{"keys differing in case are two keys", `{"uploadId":"a","UploadId":"b",` + meeting + `}`, []string{"UploadId: unknown field"}},
		{"escaped spelling of the same key", `{"uploadId":"a","upload\u0049d":"b",` + meeting + `}`, []string{"uploadId: is given twice"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.body), uploadconfig.Default(), lim, nil)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Decode = %v, want no error", err)
				}
				return
			}
			got := problems(t, err)
			if len(got) != len(tc.want) {
				t.Fatalf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("problem %d = %q, want it to start %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}
