package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"
)

// Reading a report as it arrives. The body is read once, through one
// buffer: every value but the documents' contents is kept as raw JSON for
// the checks of decode.go (they are bounded by the report's limits, and
// unknown fields are only skipped); each document's content is unescaped
// and Base64-decoded as it is read, straight into its Spool and a SHA-256,
// so a report's documents are never in memory whole.

// Spool receives the contents of a report's documents as Decode reads
// them.
type Spool interface {
	// Document returns where the decoded content of documents[i] goes.
	// Decode asks at most once for each document, only for the first
	// Limits.MaxDocuments, and only when its content is a JSON string.
	// It writes nothing more once the content proves longer than
	// Limits.MaxDocumentBase64. What a Spool received for a report that
	// Decode refused must be thrown away.
	Document(i int) (io.Writer, error)
}

// maxDepth is encoding/json's bound on nesting.
const maxDepth = 10000

// bodyProblem is what is wrong with the body as JSON, in the words of
// apperr.DescribeJSON; Decode reports it under "(body)".
type bodyProblem string

func (b bodyProblem) Error() string { return string(b) }

const (
	endsEarly bodyProblem = "malformed JSON: it ends early"
	empty     bodyProblem = "empty; send a JSON object"
	trailing  bodyProblem = "has more after the JSON object; send exactly one report"
)

// readError is a failure to read the body (not a fault of its JSON).
type readError struct{ err error }

func (e readError) Error() string { return "report: read the body: " + e.err.Error() }
func (e readError) Unwrap() error { return e.err }

// spoolError is a failure of the Spool.
type spoolError struct {
	i   int
	err error
}

func (e spoolError) Error() string { return fmt.Sprintf("report: keep documents[%d]: %v", e.i, e.err) }
func (e spoolError) Unwrap() error { return e.err }

// scanner reads JSON from the body, validating it as encoding/json does.
type scanner struct {
	r   *bufio.Reader
	off int64 // bytes consumed
	buf *decodeBuffers
}

// bufferSize is the body's buffer.
const bufferSize = 64 << 10

func newScanner(r io.Reader) *scanner { return &scanner{r: bufio.NewReaderSize(r, bufferSize)} }

func (s *scanner) malformed() error {
	return bodyProblem(fmt.Sprintf("malformed JSON at byte %d", s.off))
}

// failed turns a read error in the middle of a value into what Decode
// returns.
func failed(err error) error {
	if err == io.EOF {
		return endsEarly
	}
	return readError{err}
}

func (s *scanner) readByte() (byte, error) {
	c, err := s.r.ReadByte()
	if err == nil {
		s.off++
	}
	return c, err
}

// nonSpace skips whitespace and returns the next byte without consuming
// it; io.EOF at the end of the body.
func (s *scanner) nonSpace() (byte, error) {
	for {
		buf, err := s.chunk()
		if err != nil {
			return 0, err
		}
		for i, c := range buf {
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				s.discard(i)
				return c, nil
			}
		}
		s.discard(len(buf))
	}
}

// chunk returns what is buffered (at least one byte), reading more if
// nothing is; the bytes stay unread until discard.
func (s *scanner) chunk() ([]byte, error) {
	if s.r.Buffered() == 0 {
		if _, err := s.r.Peek(1); err != nil {
			return nil, err
		}
	}
	return s.r.Peek(s.r.Buffered())
}

func (s *scanner) discard(n int) {
	_, _ = s.r.Discard(n)
	s.off += int64(n)
}

// expect consumes the next non-space byte, which must be c.
func (s *scanner) expect(c byte) error {
	got, err := s.nonSpace()
	if err != nil {
		return failed(err)
	}
	s.discard(1)
	if got != c {
		return s.malformed()
	}
	return nil
}

// value reads one JSON value, appending its text to raw unless raw is nil
// (then the value is only checked and skipped).
func (s *scanner) value(raw *bytes.Buffer, depth int) error {
	c, err := s.nonSpace()
	if err != nil {
		return failed(err)
	}
	s.discard(1)
	if raw != nil {
		raw.WriteByte(c)
	}
	switch {
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return s.malformed()
		}
		return s.container(c, raw, depth+1)
	case c == '"':
		return s.str(raw, nil)
	case c == '-' || c >= '0' && c <= '9':
		return s.number(c, raw)
	case c == 't':
		return s.literal("rue", raw)
	case c == 'f':
		return s.literal("alse", raw)
	case c == 'n':
		return s.literal("ull", raw)
	}
	return s.malformed()
}

// container reads the rest of an object or array whose opening byte was
// read.
func (s *scanner) container(open byte, raw *bytes.Buffer, depth int) error {
	end := byte('}')
	if open == '[' {
		end = ']'
	}
	c, err := s.nonSpace()
	if err != nil {
		return failed(err)
	}
	if c == end {
		s.discard(1)
		if raw != nil {
			raw.WriteByte(end)
		}
		return nil
	}
	for {
		if open == '{' {
			if err := s.key(raw); err != nil {
				return err
			}
		}
		if err := s.value(raw, depth); err != nil {
			return err
		}
		c, err := s.nonSpace()
		if err != nil {
			return failed(err)
		}
		s.discard(1)
		if raw != nil {
			raw.WriteByte(c)
		}
		switch c {
		case end:
			return nil
		case ',':
		default:
			return s.malformed()
		}
	}
}

// key reads an object's key and its colon, appending both to raw.
func (s *scanner) key(raw *bytes.Buffer) error {
	if err := s.expect('"'); err != nil {
		return err
	}
	if raw != nil {
		raw.WriteByte('"')
	}
	if err := s.str(raw, nil); err != nil {
		return err
	}
	if err := s.expect(':'); err != nil {
		return err
	}
	if raw != nil {
		raw.WriteByte(':')
	}
	return nil
}

// name reads an object's key and its colon, and returns the key as
// encoding/json would decode it.
func (s *scanner) name() (string, error) {
	var raw bytes.Buffer
	if err := s.key(&raw); err != nil {
		return "", err
	}
	var k string
	if err := json.Unmarshal(raw.Bytes()[:raw.Len()-1], &k); err != nil {
		return "", s.malformed() // cannot happen: the scanner checked it
	}
	return k, nil
}

// str reads the rest of a string whose opening quote was read. Its text
// as written (escapes included) goes to raw, if not nil, with the closing
// quote; its value (escapes decoded) to value, if not nil.
func (s *scanner) str(raw *bytes.Buffer, value func([]byte) error) error {
	for {
		buf, err := s.chunk()
		if err != nil {
			return failed(err)
		}
		i := 0
		for i < len(buf) && buf[i] != '"' && buf[i] != '\\' && buf[i] >= 0x20 {
			i++
		}
		if i > 0 {
			if raw != nil {
				raw.Write(buf[:i])
			}
			if value != nil {
				if err := value(buf[:i]); err != nil {
					return err
				}
			}
			s.discard(i)
		}
		if i == len(buf) {
			continue
		}
		c, _ := s.readByte()
		switch {
		case c == '"':
			if raw != nil {
				raw.WriteByte('"')
			}
			return nil
		case c < 0x20:
			return s.malformed()
		}
		if err := s.escape(raw, value); err != nil {
			return err
		}
	}
}

// escape reads an escape sequence after its backslash.
func (s *scanner) escape(raw *bytes.Buffer, value func([]byte) error) error {
	c, err := s.readByte()
	if err != nil {
		return failed(err)
	}
	var b []byte
	switch c {
	case '"', '\\', '/':
		b = []byte{c}
	case 'b':
		b = []byte{'\b'}
	case 'f':
		b = []byte{'\f'}
	case 'n':
		b = []byte{'\n'}
	case 'r':
		b = []byte{'\r'}
	case 't':
		b = []byte{'\t'}
	case 'u':
		var hex [4]byte
		var r rune
		for k := range hex {
			h, err := s.readByte()
			if err != nil {
				return failed(err)
			}
			hex[k] = h
			switch {
			case h >= '0' && h <= '9':
				r = r<<4 | rune(h-'0')
			case h >= 'a' && h <= 'f':
				r = r<<4 | rune(h-'a'+10)
			case h >= 'A' && h <= 'F':
				r = r<<4 | rune(h-'A'+10)
			default:
				return s.malformed()
			}
		}
		if raw != nil {
			raw.WriteString(`\u`)
			raw.Write(hex[:])
		}
		if value == nil {
			return nil
		}
		// A surrogate half is decoded as U+FFFD even when its pair
		// follows: the values decoded here are documents' Base64, for
		// which any character outside ASCII is as wrong as another.
		return value(utf8.AppendRune(nil, r))
	default:
		return s.malformed()
	}
	if raw != nil {
		raw.WriteByte('\\')
		raw.WriteByte(c)
	}
	if value != nil {
		return value(b)
	}
	return nil
}

// number reads the rest of a number whose first byte was read.
func (s *scanner) number(first byte, raw *bytes.Buffer) error {
	peek := func() byte {
		b, err := s.r.Peek(1)
		if err != nil {
			return 0 // the end, or an error the next read meets again
		}
		return b[0]
	}
	take := func() {
		c, _ := s.readByte()
		if raw != nil {
			raw.WriteByte(c)
		}
	}
	digits := func() bool {
		n := 0
		for c := peek(); c >= '0' && c <= '9'; c = peek() {
			take()
			n++
		}
		return n > 0
	}
	if first == '-' {
		c := peek()
		if c < '0' || c > '9' {
			return s.numberEnd()
		}
		take()
		first = c
	}
	if first != '0' {
		digits()
	}
	if peek() == '.' {
		take()
		if !digits() {
			return s.numberEnd()
		}
	}
	if c := peek(); c == 'e' || c == 'E' {
		take()
		if c := peek(); c == '+' || c == '-' {
			take()
		}
		if !digits() {
			return s.numberEnd()
		}
	}
	return nil
}

// numberEnd is the error of a number cut short.
func (s *scanner) numberEnd() error {
	if _, err := s.r.Peek(1); err != nil {
		return failed(err)
	}
	s.discard(1)
	return s.malformed()
}

func (s *scanner) literal(rest string, raw *bytes.Buffer) error {
	for k := range len(rest) {
		c, err := s.readByte()
		if err != nil {
			return failed(err)
		}
		if c != rest[k] {
			return s.malformed()
		}
	}
	if raw != nil {
		raw.WriteString(rest)
	}
	return nil
}

// parsed is a report as read: the raw JSON of its parts, and what was
// found of its documents.
type parsed struct {
	top  map[string]json.RawMessage // nil: the body is not an object
	dups []string                   // keys given twice at the top
	// docs is set when documents is an array, which was read element by
	// element (else top holds it as written).
	docs *parsedDocs
}

type parsedDocs struct {
	n     int // elements
	items []parsedDoc
}

// parsedDoc is one of the first Limits.MaxDocuments documents.
type parsedDoc struct {
	raw     json.RawMessage            // the element, when it is not an object
	m       map[string]json.RawMessage // its fields but a string content
	dups    []string
	content *content // its content, when that is a string
}

// kept says which top-level fields are kept as raw JSON; others are only skipped
// (unknown, they are reported by name).
var kept = map[string]bool{"uploadId": true, "meeting": true, "notes": true, "customers": true}

// placeholder stands for a field that was read but not kept.
var placeholder = json.RawMessage("0")

// parse reads the body. Errors: a bodyProblem, a readError, a spoolError.
func parse(r io.Reader, lim Limits, spool Spool) (*parsed, error) {
	s := newScanner(r)
	c, err := s.nonSpace()
	switch {
	case err == io.EOF:
		return nil, empty
	case err != nil:
		return nil, readError{err}
	}
	p := &parsed{}
	if c != '{' {
		if err := s.value(nil, 0); err != nil {
			return nil, err
		}
	} else {
		s.discard(1)
		p.top = map[string]json.RawMessage{}
		err = s.members(func(k string) error {
			if _, seen := p.top[k]; seen {
				p.dups = appendOnce(p.dups, k)
				return s.value(nil, 1)
			}
			if k == "documents" {
				if c, err := s.nonSpace(); err == nil && c == '[' {
					s.discard(1)
					p.top[k] = placeholder
					p.docs = &parsedDocs{}
					return s.documents(p.docs, lim, spool)
				}
			}
			if !kept[k] && k != "documents" {
				p.top[k] = placeholder
				return s.value(nil, 1)
			}
			var raw bytes.Buffer
			if err := s.value(&raw, 1); err != nil {
				return err
			}
			p.top[k] = raw.Bytes()
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	switch _, err := s.nonSpace(); {
	case err == nil:
		return nil, trailing
	case err != io.EOF:
		return nil, readError{err}
	}
	return p, nil
}

// members reads the members of an object whose '{' was read, calling
// member after each key to read its value.
func (s *scanner) members(member func(key string) error) error {
	c, err := s.nonSpace()
	if err != nil {
		return failed(err)
	}
	if c == '}' {
		s.discard(1)
		return nil
	}
	for {
		k, err := s.name()
		if err != nil {
			return err
		}
		if err := member(k); err != nil {
			return err
		}
		c, err := s.readNonSpace()
		if err != nil {
			return err
		}
		switch c {
		case '}':
			return nil
		case ',':
		default:
			return s.malformed()
		}
	}
}

func (s *scanner) readNonSpace() (byte, error) {
	c, err := s.nonSpace()
	if err != nil {
		return 0, failed(err)
	}
	s.discard(1)
	return c, nil
}

// documents reads the elements of the documents array.
func (s *scanner) documents(d *parsedDocs, lim Limits, spool Spool) error {
	c, err := s.nonSpace()
	if err != nil {
		return failed(err)
	}
	if c == ']' {
		s.discard(1)
		return nil
	}
	for {
		i := d.n
		d.n++
		c, err := s.nonSpace()
		if err != nil {
			return failed(err)
		}
		switch {
		case i >= lim.MaxDocuments: // too many: Decode says so, and nothing of them
			err = s.value(nil, 2)
		case c == '{':
			s.discard(1)
			d.items = append(d.items, parsedDoc{m: map[string]json.RawMessage{}})
			err = s.document(i, &d.items[i], lim, spool)
		default:
			var raw bytes.Buffer
			err = s.value(&raw, 2)
			d.items = append(d.items, parsedDoc{raw: raw.Bytes()})
		}
		if err != nil {
			return err
		}
		c, err = s.readNonSpace()
		if err != nil {
			return err
		}
		switch c {
		case ']':
			return nil
		case ',':
		default:
			return s.malformed()
		}
	}
}

// document reads the fields of documents[i], its content into spool.
func (s *scanner) document(i int, d *parsedDoc, lim Limits, spool Spool) error {
	return s.members(func(k string) error {
		_, seen := d.m[k]
		if seen || k == "content" && d.content != nil {
			d.dups = appendOnce(d.dups, k)
			return s.value(nil, 3)
		}
		switch k {
		case "content":
			if c, err := s.nonSpace(); err == nil && c == '"' {
				s.discard(1)
				var w io.Writer
				if spool != nil {
					var err error
					if w, err = spool.Document(i); err != nil {
						return spoolError{i, err}
					}
				}
				if s.buf == nil {
					s.buf = new(decodeBuffers)
				}
				d.content = newContent(w, lim.MaxDocumentBase64, s.buf)
				err := s.str(nil, d.content.write)
				if err == nil {
					err = d.content.close()
				}
				if we, ok := err.(writeError); ok {
					return spoolError{i, we.err}
				}
				return err
			}
		case "name", "mimeType":
		default:
			d.m[k] = placeholder
			return s.value(nil, 3)
		}
		var raw bytes.Buffer
		if err := s.value(&raw, 3); err != nil {
			return err
		}
		d.m[k] = raw.Bytes()
		return nil
	})
}

func appendOnce(list []string, k string) []string {
	for _, x := range list {
		if x == k {
			return list
		}
	}
	return append(list, k)
}
