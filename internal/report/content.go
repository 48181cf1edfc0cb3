package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"io"
	"unicode"
	"unicode/utf8"
)

// content decodes one document's content as the scanner unescapes it:
// Base64 (standard, padded; CR and LF ignored, as
// base64.StdEncoding.DecodeString ignores them) into its Spool writer and
// a SHA-256, in batches of one small buffer. It also keeps what Decode's
// checks of a string need: whether there was any character, and whether
// every one was white space.
type content struct {
	w   io.Writer // the Spool's, or nil
	max int64     // Limits.MaxDocumentBase64; 0: not checked

	length   int64 // bytes of the unescaped string
	nonSpace bool  // a character that is not white space was seen
	pending  [utf8.UTFMax]byte
	npending int // bytes of a character not complete yet (while !nonSpace)

	in     []byte // Base64 not decoded yet (CR and LF left out)
	nin    int
	out    []byte // decoded, 3/4 of in
	chars  int64  // Base64 characters
	size   int64  // decoded bytes
	padded bool   // a quantum with padding was decoded: nothing may follow
	bad    bool   // not standard Base64
	over   bool   // longer than max: nothing more is written
	h      hash.Hash
}

// writeError is a failure of a Spool's writer.
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }

// decodeBuffers are the buffers of one content being decoded; a report's
// contents are decoded one after the other, so they share one.
type decodeBuffers struct {
	in  [32 << 10]byte
	out [24 << 10]byte
}

func newContent(w io.Writer, max int64, buf *decodeBuffers) *content {
	return &content{w: w, max: max, h: sha256.New(), in: buf.in[:], out: buf.out[:]}
}

// write takes unescaped bytes of the string.
func (c *content) write(p []byte) error {
	c.length += int64(len(p))
	if !c.nonSpace {
		c.track(p)
	}
	if c.bad {
		return nil
	}
	for len(p) > 0 {
		if c.padded {
			if bytes.IndexFunc(p, func(r rune) bool { return r != '\r' && r != '\n' }) >= 0 {
				c.bad = true
			}
			return nil
		}
		// Copy up to the next CR or LF, or as much as fits.
		n := len(p)
		if k := bytes.IndexAny(p, "\r\n"); k >= 0 {
			n = k
		}
		n = min(n, len(c.in)-c.nin)
		copy(c.in[c.nin:], p[:n])
		c.nin += n
		c.chars += int64(n)
		p = p[n:]
		for len(p) > 0 && (p[0] == '\r' || p[0] == '\n') {
			p = p[1:]
		}
		if c.nin == len(c.in) {
			if err := c.flush(); err != nil || c.bad {
				return err
			}
		}
	}
	return nil
}

// flush decodes the whole quanta pending.
func (c *content) flush() error {
	m := c.nin &^ 3
	if m == 0 {
		return nil
	}
	n, err := base64.StdEncoding.Decode(c.out[:], c.in[:m])
	if err != nil {
		c.bad = true
		return nil
	}
	c.padded = c.in[m-1] == '='
	c.nin = copy(c.in[:], c.in[m:c.nin])
	c.size += int64(n)
	if c.max > 0 && c.chars > c.max {
		c.over = true // and nothing more is kept of it
	}
	if c.over || n == 0 {
		return nil
	}
	c.h.Write(c.out[:n])
	if c.w != nil {
		if _, err := c.w.Write(c.out[:n]); err != nil {
			return writeError{err}
		}
	}
	return nil
}

// close ends the string (the closing quote was read).
func (c *content) close() error {
	if c.npending > 0 {
		c.nonSpace = true // an incomplete character reads as U+FFFD
	}
	if !c.bad {
		if err := c.flush(); err != nil {
			return err
		}
		if c.nin != 0 {
			c.bad = true // not a whole number of quanta
		}
	}
	c.in, c.out = nil, nil // the next content's
	return nil
}

// track notes whether p holds a character that is not white space (as
// strings.TrimSpace sees it: unicode.IsSpace, invalid UTF-8 as U+FFFD).
func (c *content) track(p []byte) {
	for _, b := range p {
		if c.npending == 0 && b < utf8.RuneSelf {
			if !asciiSpace(b) {
				c.nonSpace = true
				return
			}
			continue
		}
		c.pending[c.npending] = b
		c.npending++
		if !utf8.FullRune(c.pending[:c.npending]) {
			continue
		}
		r, size := utf8.DecodeRune(c.pending[:c.npending])
		if r == utf8.RuneError || size != c.npending || !unicode.IsSpace(r) {
			c.nonSpace = true
			return
		}
		c.npending = 0
	}
}

func asciiSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r'
}

// sha256 is the content's SHA-256 (hex).
func (c *content) sha256() string { return hex.EncodeToString(c.h.Sum(nil)) }
