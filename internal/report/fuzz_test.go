package report

import (
	"bytes"
	"testing"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/uploadconfig"
)

// FuzzDecode: whatever a device sends, Decode either returns a report whose
// stored form reads back to the same content, or an Invalid error whose
// every problem names a field. It never panics.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(valid))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Decode(bytes.NewReader(body), uploadconfig.Default(), Limits{MaxDocuments: 3, MaxDocumentBase64: 1 << 20}, nil)
		if err != nil {
			e, ok := apperr.As(err)
			if !ok || e.Kind != apperr.Invalid || len(e.Problems) == 0 {
				t.Fatalf("Decode error = %v, want an Invalid error with problems", err)
			}
			for _, p := range e.Problems {
				if p.Field == "" || p.Message == "" {
					t.Fatalf("problem without a field or message: %+v", p)
				}
			}
			return
		}
		back, err := Parse(r.Canonical())
		if err != nil {
			t.Fatalf("Parse(Canonical) = %v", err)
		}
		if back.ContentHash() != r.ContentHash() {
			t.Fatalf("stored form does not read back: %s vs %s", back.Canonical(), r.Canonical())
		}
	})
}
