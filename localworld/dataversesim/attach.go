package dataversesim

import (
	"encoding/base64"
	"fmt"
	"net/http"

	"github.com/google/uuid"
)

// Attachment is a file a person attaches to a row in Dynamics: in the
// timeline, a note with the file. FileName is required; MimeType defaults
// to application/octet-stream.
type Attachment struct {
	Subject, NoteText, FileName, MimeType string
	Content                               []byte
}

// AttachFile attaches f to row id of set as a person does in Dynamics, and
// returns the new note's annotationid. The note regards the row
// (objectid, objecttypecode), is a document (isdocument, documentbody the
// Base64 of f.Content, filesize) and is a change like any other, so the
// next delta read of annotations lists it. It fails like the Web API when
// the Base64 text is over the organization's maxuploadfilesize
// (0x80044a02), and for an unknown set or row, or a table without notes.
func (s *Sim) AttachFile(set, id string, f Attachment) (string, error) {
	noteID, err := s.attachFile(set, id, f)
	if err != nil {
		return "", fmt.Errorf("dataversesim: %d %s: %s", err.status, err.code, err.message)
	}
	return noteID, nil
}

// attachFile is AttachFile with the error as the Web API would answer it,
// so the admin API can choose its status.
func (s *Sim) attachFile(set, id string, f Attachment) (string, *apiError) {
	body := base64.StdEncoding.EncodeToString(f.Content) // outside the lock: a file can be large
	mime := f.MimeType
	if mime == "" {
		mime = "application/octet-stream"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.tables[set]
	if !ok {
		return "", errNoSegment(set)
	}
	if !t.hasNotes {
		return "", errf(http.StatusBadRequest, codeQuery, "Notes are not enabled for entity '%s' (HasNotes is false).", t.logical)
	}
	key, ok := canonicalID(id)
	r := t.rows[key]
	if !ok || r == nil {
		return "", errNoRow(t, id)
	}
	if f.FileName == "" {
		return "", errf(http.StatusBadRequest, codeQuery, "An attachment needs a file name: set filename with documentbody.")
	}
	notes := s.st.tables["annotations"]
	ch := changeSet{
		notes.byJSON["_objectid_value"]: lookupValue{id: r.id, set: t.set},
		notes.byJSON["isdocument"]:      true,
		notes.byJSON["documentbody"]:    body,
	}
	for _, c := range [...]struct{ name, value string }{{"subject", f.Subject}, {"notetext", f.NoteText}, {"filename", f.FileName}, {"mimetype", mime}} {
		if c.value == "" {
			continue
		}
		i := notes.byJSON[c.name]
		v, err := convert(notes, notes.attrs[i], c.value) // the columns' length limits
		if err != nil {
			return "", err
		}
		ch[i] = v
	}
	if err := s.checkDocument(notes, ch); err != nil {
		return "", err
	}
	noteID := uuid.NewString()
	if _, err := s.insertRow(nil, notes, noteID, ch); err != nil { // owned by DefaultOwnerID
		return "", err
	}
	return noteID, nil
}

// maxUploadFileSize is the organization's maxuploadfilesize: the most
// Base64 text a note's document may have.
func (s *Sim) maxUploadFileSize() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.organization().maxUpload
}
