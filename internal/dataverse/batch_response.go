package dataverse

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
)

// maxPartBody bounds one part's body, so a hostile answer cannot exhaust memory.
const maxPartBody = 256 << 20

// parseBatchResponse parses a multipart/mixed $batch answer into one list
// of parts per batch item: a nested change set gives several, a request
// or a failed change set one.
func parseBatchResponse(contentType string, body []byte) ([][]BatchPart, error) {
	boundary, err := multipartBoundary(contentType)
	if err != nil {
		return nil, err
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var items [][]BatchPart
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			return items, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read batch part %d: %w", len(items)+1, err)
		}
		ct := part.Header.Get("Content-Type")
		if strings.HasPrefix(ct, "multipart/mixed") {
			inner, err := parseChangeSetResponse(ct, part)
			if err != nil {
				return nil, fmt.Errorf("batch part %d: %w", len(items)+1, err)
			}
			items = append(items, inner)
			continue
		}
		p, err := parseHTTPPart(part)
		if err != nil {
			return nil, fmt.Errorf("batch part %d: %w", len(items)+1, err)
		}
		items = append(items, []BatchPart{p})
	}
}

func parseChangeSetResponse(contentType string, r io.Reader) ([]BatchPart, error) {
	boundary, err := multipartBoundary(contentType)
	if err != nil {
		return nil, err
	}
	mr := multipart.NewReader(r, boundary)
	var parts []BatchPart
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read change set part %d: %w", len(parts)+1, err)
		}
		p, err := parseHTTPPart(part)
		if err != nil {
			return nil, fmt.Errorf("change set part %d: %w", len(parts)+1, err)
		}
		parts = append(parts, p)
	}
}

func multipartBoundary(contentType string) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return "", fmt.Errorf("content type %q is not multipart/mixed with a boundary", contentType)
	}
	return params["boundary"], nil
}

// parseHTTPPart reads the HTTP response embedded in an application/http part.
func parseHTTPPart(part *multipart.Part) (BatchPart, error) {
	if ct := part.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/http") {
		return BatchPart{}, fmt.Errorf("content type %q is not application/http", ct)
	}
	resp, err := http.ReadResponse(bufio.NewReader(part), nil)
	if err != nil {
		return BatchPart{}, fmt.Errorf("embedded response: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPartBody))
	if err != nil {
		return BatchPart{}, fmt.Errorf("embedded response body: %w", err)
	}
	return BatchPart{ContentID: part.Header.Get("Content-ID"), StatusCode: resp.StatusCode, Header: resp.Header, Body: bytes.TrimRight(body, "\r\n")}, nil
}
