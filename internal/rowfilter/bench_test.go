package rowfilter

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// benchRow is an account as a sync reads it: ten columns and the etag.
var benchRow = []byte(`{"@odata.etag":"W/\"4410023\"","accountid":"5a2b8a1e-0000-4000-8000-000000000001","name":"O'Brien Logistics","accountnumber":"ACC-000123","telephone1":"+1 555 0100","emailaddress1":"info@obrien.example.com","address1_city":"Seattle","statecode":0,"_ownerid_value":"a1b2c3d4-0000-4000-8000-00000000000a","revenue":1000.5,"modifiedon":"2026-03-01T10:00:00Z"}`)

const benchFilter = "statecode eq 0 and _ownerid_value eq @me and modifiedon ge 2026-01-01"

var benchParams = Params{Me: "A1B2C3D4-0000-4000-8000-00000000000A"}

// BenchmarkMatch is the filter's cost per row read: a 3-term filter on a
// 10-column row.
func BenchmarkMatch(b *testing.B) {
	f, err := Parse(benchFilter)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for range b.N {
		if ok, err := f.Match(benchRow, benchParams); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkDecode compares ways of reading the filter's columns of a row:
// the struct of cells Match uses, a map of raw values, and the decoder's
// tokens.
func BenchmarkDecode(b *testing.B) {
	f, err := Parse(benchFilter)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("struct", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := f.decode(benchRow); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := decodeMap(benchRow, f.columns); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tokens", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := decodeTokens(benchRow, f.columns); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// decodeMap reads columns through json.Unmarshal into a map of raw values.
func decodeMap(row []byte, columns []string) ([]cell, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(row, &m); err != nil {
		return nil, err
	}
	cells := make([]cell, len(columns))
	for i, c := range columns {
		if raw, ok := m[c]; ok {
			if err := cells[i].UnmarshalJSON(raw); err != nil {
				return nil, err
			}
		}
	}
	return cells, nil
}

// decodeTokens reads columns with a json.Decoder's tokens, skipping the
// values of other fields.
func decodeTokens(row []byte, columns []string) ([]cell, error) {
	cells := make([]cell, len(columns))
	dec := json.NewDecoder(bytes.NewReader(row))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, err
		}
		i := -1
		for j, c := range columns {
			if c == key {
				i = j
			}
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		if _, ok := tok.(json.Delim); ok {
			for depth := 1; depth > 0; {
				t, err := dec.Token()
				if err != nil {
					return nil, err
				}
				switch t {
				case json.Delim('{'), json.Delim('['):
					depth++
				case json.Delim('}'), json.Delim(']'):
					depth--
				}
			}
			if i >= 0 {
				cells[i] = cell{kind: cComposite}
			}
			continue
		}
		if i < 0 {
			continue
		}
		switch v := tok.(type) {
		case nil:
			cells[i] = cell{}
		case bool:
			cells[i] = cell{kind: cBool, b: v}
		case float64:
			cells[i] = cell{kind: cNumber, num: v}
		case string:
			cells[i] = cell{kind: cString, str: v}
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, err
	}
	return cells, nil
}
