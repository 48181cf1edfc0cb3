package dataversesim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// The chunked upload of a note's document
// (docs/reference/dataverse-webapi.md §6.1): InitializeAnnotationBlocksUpload,
// then UploadBlock per block (≤ 4 MB, equal-length BlockIds), then
// CommitAnnotationBlocksUpload with the block list, which creates or updates
// the note. And the chunked download: InitializeAnnotationBlocksDownload
// with the note as Target gives a FileContinuationToken, the FileName and
// FileSizeInBytes; DownloadBlock reads BlockLength bytes (≤ 4 MB) from
// Offset as Base64 Data.

const maxBlockSize = 4 << 20

// blockUpload is an upload in progress, by FileContinuationToken.
type blockUpload struct {
	target changeSet
	id     string
	blocks map[string][]byte
	idLen  int
}

func isBlockAction(name string) bool {
	switch name {
	case "InitializeAnnotationBlocksUpload", "UploadBlock", "CommitAnnotationBlocksUpload",
		"InitializeAnnotationBlocksDownload", "DownloadBlock":
		return true
	}
	return false
}

func (s *Sim) blockAction(c *call, name string) *response {
	var body struct {
		Target                json.RawMessage `json:"Target"`
		BlockID               string          `json:"BlockId"`
		BlockData             string          `json:"BlockData"`
		BlockList             []string        `json:"BlockList"`
		FileContinuationToken string          `json:"FileContinuationToken"`
		Offset                *int64          `json:"Offset"`
		BlockLength           *int64          `json:"BlockLength"`
	}
	if err := json.Unmarshal(c.body, &body); err != nil {
		return errorResponse(errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for %s: %v", name, err))
	}
	switch name {
	case "InitializeAnnotationBlocksUpload":
		return s.initBlocks(c, body.Target)
	case "UploadBlock":
		return s.uploadBlock(body.FileContinuationToken, body.BlockID, body.BlockData)
	case "InitializeAnnotationBlocksDownload":
		return s.initDownload(c, body.Target)
	case "DownloadBlock":
		return s.downloadBlock(c, body.FileContinuationToken, body.Offset, body.BlockLength)
	}
	return s.commitBlocks(c, body.FileContinuationToken, body.BlockList)
}

func (s *Sim) initBlocks(c *call, target json.RawMessage) *response {
	t := s.st.tables["annotations"]
	obj, err := decodeObject(t, target)
	if err != nil {
		return errorResponse(err)
	}
	ch, err := s.parseChanges(c, t, obj)
	if err != nil {
		return errorResponse(err)
	}
	id, _ := ch[t.pk].(string)
	if id == "" {
		return errorResponse(errf(http.StatusBadRequest, codeQuery, "Target must have an annotationid: generate a new GUID for a new note."))
	}
	token := uuid.NewString()
	s.blocks[token] = &blockUpload{target: ch, id: id, blocks: map[string][]byte{}}
	return jsonResponse(http.StatusOK, fmt.Appendf(nil, `{"@odata.context":"%s$metadata#Microsoft.Dynamics.CRM.InitializeAnnotationBlocksUploadResponse","FileContinuationToken":"%s"}`, c.base, token))
}

func (s *Sim) uploadBlock(token, blockID, data string) *response {
	up, ok := s.blocks[token]
	if !ok {
		return errorResponse(errf(http.StatusBadRequest, codeQuery, "The FileContinuationToken is not valid or has expired."))
	}
	id, err := base64.StdEncoding.DecodeString(blockID)
	if err != nil || len(id) == 0 || len(id) > 64 {
		return errorResponse(errf(http.StatusBadRequest, codeQuery, "BlockId must be Base64 of at most 64 bytes."))
	}
	if up.idLen != 0 && len(blockID) != up.idLen {
		return errorResponse(errf(http.StatusBadRequest, codeQuery, "Every BlockId of an upload must have the same length."))
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return errorResponse(errf(http.StatusBadRequest, codeQuery, "BlockData is not valid Base64."))
	}
	if len(raw) > maxBlockSize {
		return errorResponse(errf(http.StatusBadRequest, codeQuery, "Invalid file chunk size: %d MB. Maximum chunk size supported: 4 MB.", (len(raw)+(1<<20)-1)>>20))
	}
	up.idLen = len(blockID)
	up.blocks[blockID] = raw
	return newResponse(http.StatusNoContent)
}

func (s *Sim) commitBlocks(c *call, token string, list []string) *response {
	up, ok := s.blocks[token]
	if !ok {
		return errorResponse(errf(http.StatusBadRequest, codeQuery, "The FileContinuationToken is not valid or has expired."))
	}
	var file []byte
	for _, id := range list {
		b, ok := up.blocks[id]
		if !ok {
			return errorResponse(errf(http.StatusBadRequest, codeQuery, "The block %s was not uploaded.", id))
		}
		file = append(file, b...)
	}
	t := s.st.tables["annotations"]
	ch := changeSet{}
	for k, v := range up.target {
		ch[k] = v
	}
	ch[t.byJSON["documentbody"]] = base64.StdEncoding.EncodeToString(file)
	ch[t.byJSON["isdocument"]] = true
	if err := s.checkDocument(t, ch); err != nil {
		return errorResponse(err)
	}
	delete(s.blocks, token)
	if r := t.rows[up.id]; r != nil {
		delete(ch, t.pk)
		s.st.update(t, r, ch)
	} else if _, err := s.insertRow(c, t, up.id, ch); err != nil {
		return errorResponse(err)
	}
	return jsonResponse(http.StatusOK, fmt.Appendf(nil, `{"@odata.context":"%s$metadata#Microsoft.Dynamics.CRM.CommitAnnotationBlocksUploadResponse","AnnotationId":"%s","FileSizeInBytes":%d}`, c.base, up.id, len(file)))
}

// initDownload begins the chunked download of a note's document: the
// caller must be able to read the note.
func (s *Sim) initDownload(c *call, target json.RawMessage) *response {
	t := s.st.tables["annotations"]
	var ref struct {
		ID string `json:"annotationid"`
	}
	if err := json.Unmarshal(target, &ref); err != nil || ref.ID == "" {
		return errorResponse(errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for InitializeAnnotationBlocksDownload: Target must be an annotation with its annotationid."))
	}
	if err := s.checkAccess(c, t, "read"); err != nil {
		return errorResponse(err)
	}
	r := t.rows[strings.ToLower(ref.ID)]
	if r == nil {
		return errorResponse(errNoRow(t, ref.ID))
	}
	body, _ := r.vals[t.byJSON["documentbody"]].(string)
	file, err := base64.StdEncoding.DecodeString(body)
	if err != nil || body == "" {
		return errorResponse(errf(http.StatusBadRequest, codeQuery, "The annotation %s has no document to download.", r.id))
	}
	name, _ := r.vals[t.byJSON["filename"]].(string)
	token := uuid.NewString()
	s.downloads[token] = file
	b := fmt.Appendf(nil, `{"@odata.context":"%s$metadata#Microsoft.Dynamics.CRM.InitializeAnnotationBlocksDownloadResponse","FileContinuationToken":"%s","FileName":`, c.base, token)
	b = appendJSONString(b, name)
	return jsonResponse(http.StatusOK, fmt.Appendf(b, `,"FileSizeInBytes":%d}`, len(file)))
}

// downloadBlock answers BlockLength bytes of the download from Offset (fewer
// at the end of the file).
func (s *Sim) downloadBlock(c *call, token string, offset, length *int64) *response {
	file, ok := s.downloads[token]
	switch {
	case !ok:
		return errorResponse(errf(http.StatusBadRequest, codeQuery, "The FileContinuationToken is not valid or has expired."))
	case offset == nil || length == nil:
		return errorResponse(errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for DownloadBlock: Offset and BlockLength are required."))
	case *offset < 0 || *offset > int64(len(file)) || *length <= 0:
		return errorResponse(errf(http.StatusBadRequest, codeQuery, "Offset %d and BlockLength %d do not lie within the file of %d bytes.", *offset, *length, len(file)))
	case *length > maxBlockSize:
		return errorResponse(errf(http.StatusBadRequest, codeQuery, "Invalid file chunk size: %d MB. Maximum chunk size supported: 4 MB.", (*length+(1<<20)-1)>>20))
	}
	end := min(*offset+*length, int64(len(file)))
	b := fmt.Appendf(nil, `{"@odata.context":"%s$metadata#Microsoft.Dynamics.CRM.DownloadBlockResponse","Data":"%s"}`, c.base, base64.StdEncoding.EncodeToString(file[*offset:end]))
	return jsonResponse(http.StatusOK, b)
}
