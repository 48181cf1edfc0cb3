package dataverse

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzDecodePage checks the page parser against a plain map-based reading
// of the same JSON: same rows, same ids, same tombstones, and no panics on
// anything else.
func FuzzDecodePage(f *testing.F) {
	f.Add([]byte(`{"@odata.context":"x","value":[{"@odata.etag":"W/\"1\"","name":"a","accountid":"5A2B8A1E-0000-4000-8000-000000000001"}],"@odata.nextLink":"https://h/api/data/v9.2/accounts?$skiptoken=x"}`))
	f.Add([]byte(`{"value":[{"@odata.context":"https://h/api/data/v9.2/$metadata#accounts/$deletedEntity","id":"5a2b8a1e-0000-4000-8000-000000000002","reason":"deleted"}],"@odata.deltaLink":"d"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		page, err := decodePage(body, "accountid")
		if err != nil {
			return
		}
		var ref struct{ Value []map[string]json.RawMessage }
		if json.Unmarshal(body, &ref) != nil || len(ref.Value) != len(page.Rows) {
			t.Fatalf("parser accepted %q, which a map reading does not match", body)
		}
		for i, m := range ref.Value {
			ctx, _ := m["@odata.context"]
			deleted := bytes.Contains(ctx, []byte("$deletedEntity"))
			if page.Rows[i].Deleted != deleted {
				t.Fatalf("row %d: deleted %v, map reading %v", i, page.Rows[i].Deleted, deleted)
			}
			key := "accountid"
			if deleted {
				key = "id"
			}
			var id string
			if raw, ok := m[key]; ok {
				_ = json.Unmarshal(raw, &id)
			}
			if page.Rows[i].ID != strings.ToLower(id) {
				t.Fatalf("row %d: id %q, map reading %q", i, page.Rows[i].ID, id)
			}
		}
	})
}

// FuzzParseBatchResponse checks the $batch response parser never panics
// and that every part it returns has a real HTTP status.
func FuzzParseBatchResponse(f *testing.F) {
	f.Add("batchresponse_1", []byte("--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 204 No Content\r\nOData-EntityId: https://h/api/data/v9.2/accounts(5a2b8a1e-0000-4000-8000-000000000001)\r\n\r\n\r\n--batchresponse_1--\r\n"))
	f.Add("batchresponse_2", []byte("--batchresponse_2\r\nContent-Type: multipart/mixed; boundary=changesetresponse_3\r\n\r\n--changesetresponse_3\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nHTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"0x80044331\",\"message\":\"too long\"}}\r\n--changesetresponse_3--\r\n--batchresponse_2--\r\n"))
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		items, err := parseBatchResponse("multipart/mixed; boundary="+boundary, body)
		if err != nil {
			return
		}
		for _, item := range items {
			for _, p := range item {
				if p.StatusCode < 100 || p.StatusCode > 999 {
					t.Fatalf("part with status %d", p.StatusCode)
				}
			}
		}
	})
}
