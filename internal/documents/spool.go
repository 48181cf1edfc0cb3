package documents

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Spool keeps the documents of one report while UploadIntake reads and
// checks it: each in a temporary file, written as the report's Base64 is
// decoded, so that memory holds a buffer and not the documents, and that
// nothing reaches Blob Storage before the whole report is known valid.
// The files are removed from the directory as soon as they are created
// where the system allows it (Linux, macOS: an open file outlives its
// name), so a crash leaves nothing behind; Close closes them (and removes
// those that could not be removed before). Not safe for concurrent use.
type Spool struct {
	dir   string
	files map[int]*spoolFile
}

type spoolFile struct {
	f       *os.File
	size    int64
	removed bool
}

// NewSpool returns a spool keeping its files in dir ("" is os.TempDir(),
// i.e. $TMPDIR or /tmp).
func NewSpool(dir string) *Spool { return &Spool{dir: dir, files: map[int]*spoolFile{}} }

// Document returns the writer of document i's content, in a new file.
func (s *Spool) Document(i int) (io.Writer, error) {
	if _, ok := s.files[i]; ok {
		return nil, fmt.Errorf("documents: spool: document %d is already written", i)
	}
	f, err := os.CreateTemp(s.dir, "upload-document-*")
	if err != nil {
		return nil, fmt.Errorf("documents: spool: %w", err)
	}
	sf := &spoolFile{f: f, removed: os.Remove(f.Name()) == nil}
	s.files[i] = sf
	return sf, nil
}

func (sf *spoolFile) Write(p []byte) (int, error) {
	n, err := sf.f.Write(p)
	sf.size += int64(n)
	return n, err
}

// Open returns a reader of document i's content from its start, valid
// until Close.
func (s *Spool) Open(i int) (*io.SectionReader, error) {
	sf, ok := s.files[i]
	if !ok {
		return nil, fmt.Errorf("documents: spool: no document %d", i)
	}
	return io.NewSectionReader(sf.f, 0, sf.size), nil
}

// Close closes and removes every file of the spool.
func (s *Spool) Close() error {
	var errs []error
	for i, sf := range s.files {
		if err := sf.f.Close(); err != nil {
			errs = append(errs, err)
		}
		if !sf.removed {
			if err := os.Remove(sf.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		delete(s.files, i)
	}
	return errors.Join(errs...)
}
