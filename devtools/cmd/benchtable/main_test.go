package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkSyncEndToEnd/rows=10000-2         	       1	10289478508 ns/op	        92.30 bare-changes-ms	    128876 bare-read-rows/s	      4815 bare-write-rows/s	       137.7 changes-ms	         0 full-dup	         0.001300 full-dv-req/row	         0 full-lost	         0.8764 full-ratio	      3257 full-rows/s	         1.000 full-runs	         0.02480 full-table-tx/row	         0 full-wrong	         3.000 incr-dv-req	         0.2800 incr-s	        36.00 incr-table-tx	        37.91 peak-rss-MB	         3.000 rounds	         0.4100 check-s
BenchmarkSyncEndToEnd/rows=1000000-2         	       1	1028947850800 ns/op	    128876 bare-read-rows/s	         0 full-dup	         0.001001 full-dv-req/row	         0 full-lost	      1500 full-rows/s	         4.000 full-runs	         0.02100 full-table-tx/row	         0 full-wrong	         3.000 incr-dv-req	         1.2800 incr-s	        36.00 incr-table-tx	        39.91 peak-rss-MB	         1.000 rounds	        61.20 check-s
BenchmarkUploads-2   	      200	  65909256 ns/op	         6.000 blob-tx/report	         1.005 dataverse-requests/report	        24.34 peak-rss-MB	        15.17 reports/s	         9.000 table-tx/report
BenchmarkDocumentDownload-2   	       1	1836029735 ns/op	       312.5 cached-MB/s	         0 cached-dv-req	        50.00 file-MB	        29.83 first-MB/s	        19.00 first-blob-tx	         2.000 first-dv-req	         5.227 rss-above-idle-MB
BenchmarkHandlerColdStart-2   	      10	  77745449 ns/op	        65.30 host-ready-ms	        16.88 idle-rss-MB	        57.90 ready-ms
PASS
`

func TestRunChecksThresholds(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		wantErr  string
	}{
		{"all held", sample, ""},
		{"a row lost", strings.Replace(sample, "0 full-lost", "1 full-lost", 1), "full-lost = 1, more than 0"},
		{"a row of another version", strings.Replace(sample, "0 full-wrong", "2 full-wrong", 1), "full-wrong = 2, more than 0"},
		{"a request per row", strings.Replace(sample, "0.001300 full-dv-req/row", "1.001 full-dv-req/row", 1), "full-dv-req/row = 1.001"},
		{"far below the raw limit", strings.Replace(sample, "0.8764 full-ratio", "0.65 full-ratio", 1), "full-ratio = 0.65, less than 0.7"},
		{"too slow", strings.Replace(sample, "15.17 reports/s", "2.5 reports/s", 1), "reports/s = 2.5, less than 3"},
		{"a cached read asks Dataverse", strings.Replace(sample, "0 cached-dv-req", "1 cached-dv-req", 1), "cached-dv-req = 1, more than 0"},
		{"a download holds the file", strings.Replace(sample, "5.227 rss-above-idle-MB", "52.1 rss-above-idle-MB", 1), "rss-above-idle-MB = 52.1, more than 20"},
		{"a benchmark missing", strings.Split(sample, "BenchmarkHandlerColdStart")[0], "BenchmarkHandlerColdStart did not run"},
		{"a benchmark failed", sample + "--- FAIL: BenchmarkUploads\n", "a benchmark failed"},
		{"no results", "PASS\n", "no benchmark results"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run([]string{"-check"}, strings.NewReader(tc.in), &out)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("run = %v, want success", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("run = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestRenderTable(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	got := render(res)
	for _, want := range []string{
		"| Full sync, 10,000 rows (median of 3 round(s)) | 3,257 rows/s; **0.88×** the raw limit (bare read 128,876, bare write 4,815 rows/s) | 1.30 per 1,000 rows | 0.0248 per row | 37.9 MB | 3.1 s in 1 SyncWorker run(s) | 0 lost, 0 duplicated, 0 other version: every mirror entity and log entry read back (id, etag; 0.4 s) and the app's view replayed |",
		"| Changes API, the 10,000 changes in calls of 1,000 | 138 ms a call (the same Table query alone: 92 ms; the connector's share 45 ms) | — | — | — | 1.4 s | every change once |",
		"| Incremental sync, 20 changes (after 10,000 rows) | — | 3 | 36 | — | 0.28 s |",
		"| Full sync, 1,000,000 rows (median of 1 round(s)) | 1,500 rows/s; no bare run at this size |",
		"| Document download, 50 MB (first read, cached read) | 29.8 MB/s, 312.5 MB/s | 2, 0 | — (19 Blob requests first) | 5.2 MB above idle | 1.7 s, 0.16 s | byte for byte, twice |",
		"| Uploads, 200 reports | 15.2 reports/s | 1.005 per report | 9.0 per report (+ 6.0 Blob) | 24.3 MB |",
		"| Handler cold start (10 starts) | — | — | — | 16.9 MB idle | ready 58 ms after exec (65 ms after the host starts) |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Throttled") {
		t.Errorf("table has a line for a benchmark that did not run:\n%s", got)
	}
}

// TestWriteSection: the tool's section is replaced in place, the others
// kept; a document without it gets it appended.
func TestWriteSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "performance.md")
	before := "# Performance\n\n## A\n\nkept a\n\n" + sectionTitle + "\n\nold table\n\n## B\n\nkept b\n"
	if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeSection(path, sectionTitle+"\n\nnew table\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := "# Performance\n\n## A\n\nkept a\n\n" + sectionTitle + "\n\nnew table\n\n## B\n\nkept b\n"; string(got) != want {
		t.Errorf("replaced:\n%s\nwant:\n%s", got, want)
	}
	if err := os.WriteFile(path, []byte("# Performance\n\n## A\n\nkept a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeSection(path, sectionTitle+"\n\nnew table\n"); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(path)
	if want := "# Performance\n\n## A\n\nkept a\n\n" + sectionTitle + "\n\nnew table\n"; string(got) != want {
		t.Errorf("appended:\n%s\nwant:\n%s", got, want)
	}
}

// TestPerformanceDocSection: docs/performance.md holds the tool's section
// under sectionTitle, followed by the section that says how the figures are
// measured; writing a new table replaces the tool's section only, so every
// heading and the measuring section survive unchanged.
func TestPerformanceDocSection(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "performance.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	own := strings.Index(text, "\n"+sectionTitle+"\n")
	measure := strings.Index(text, "\n"+measureTitle+"\n")
	if own < 0 || measure < 0 {
		t.Fatalf("docs/performance.md lacks %q or %q", sectionTitle, measureTitle)
	}
	if next := strings.Index(text[own+1:], "\n## "); own+1+next != measure {
		t.Fatalf("the section after %q is not %q", sectionTitle, measureTitle)
	}

	path := filepath.Join(t.TempDir(), "performance.md")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeSection(path, section("| new table |\n", "a machine", "scripts/bench.sh full")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !strings.Contains(string(got), "| new table |") || strings.Count(string(got), sectionTitle+"\n") != 1 {
		t.Errorf("the table was not written once under %q:\n%s", sectionTitle, got)
	}
	if !strings.HasSuffix(string(got), text[measure:]) {
		t.Errorf("the section %q and what follows it changed", measureTitle)
	}
	if !strings.HasPrefix(string(got), text[:own+1]) {
		t.Errorf("the sections before %q changed", sectionTitle)
	}
	intro, _, _ := strings.Cut(section("", "MACHINE", ""), "MACHINE")
	if !strings.Contains(intro, `"`+strings.TrimPrefix(measureTitle, "## ")+`" below`) {
		t.Errorf("the table's introduction does not point to %q:\n%s", measureTitle, intro)
	}
	if !strings.HasPrefix(text[own+1:], intro) {
		t.Errorf("docs/performance.md's section does not start as the tool writes it:\n%s", intro)
	}
}
