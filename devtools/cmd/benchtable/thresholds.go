package main

import "fmt"

// threshold bounds one metric of one benchmark. Structural ratios
// (requests per row or report, rows lost) are tight: they do not depend on
// the machine, so crossing them means the code does more work. Throughput
// floors and times are loose: a loaded 2-core CI machine running Azurite,
// the Service Bus fake, funchost, the handler and the benchmark at once must
// still meet them; they catch a collapse (a lost batch, a sleep, a quadratic
// loop), not a few per cent. docs/performance.md gives the reasons.
type threshold struct {
	bench, metric string
	max           bool // the figure must be at most limit (else at least)
	limit         float64
}

// syncCI is the full sync make bench-ci runs: 10,000 rows.
const syncCI = syncPrefix + "10000"

// ratioFloor is the least full-ratio at 10,000 rows: the medians measured
// here were 0.86–0.90 (docs/performance.md, "Sync against the raw
// limits"), single rounds 0.67–1.06. It catches a loss of a fifth, not a
// few per cent: the run-to-run spread of the median is about ±0.05.
const ratioFloor = 0.7

var thresholds = []threshold{
	// Full sync of 10,000 rows in pages of 1,000: 10 pages, the metadata
	// read and the sign-in's WhoAmI = 12; more than 15 means a page is read
	// twice or a request per row crept in.
	{syncCI, "full-dv-req/row", true, 15.0 / 10000},
	// Per 1,000 rows: 10 mirror and 10 change-log transactions of 100, one
	// checkpoint; plus a few fixed writes and reads per run (≈ 0.022 at
	// 10,000 rows). 0.03 leaves room for the fixed part, not for a write per
	// row or transactions of half the size.
	{syncCI, "full-table-tx/row", true, 0.03},
	{syncCI, "full-lost", true, 0},
	{syncCI, "full-dup", true, 0},
	{syncCI, "full-wrong", true, 0},
	// The sync against the raw limits measured in the same run (the median
	// of 5 rounds, each against the bare writes before and after it).
	{syncCI, "full-ratio", false, ratioFloor},
	// Measured ≈ 2,500–4,000 rows/s on the shared 2-core machine.
	{syncCI, "full-rows/s", false, 150},
	// The handler holds at most three pages at a time: ≈ 38 MB.
	{syncCI, "peak-rss-MB", true, 150},
	// The set's delta, the notes' delta, and one query for the notes of
	// the 5 rows that entered the mirror: 3.
	{syncCI, "incr-dv-req", true, 3},
	// Lease, states, one mirror and one log transaction, reads, a point
	// read per upserted row (15) to find the rows entering the mirror, the
	// commit of those entering and leaving, and the check and query for
	// the notes of the 5 deleted rows (36).
	{syncCI, "incr-table-tx", true, 40},
	{syncCI, "incr-s", true, 15},
	// One $batch per report plus the organisation's upload limit, read once
	// per environment and hour.
	{"BenchmarkUploads", "dataverse-requests/report", true, 1.05},
	// Intake 4–5, worker 4–5 (≈ 9).
	{"BenchmarkUploads", "table-tx/report", true, 12},
	// Measured ≈ 15–45 reports/s.
	{"BenchmarkUploads", "reports/s", false, 3},
	{"BenchmarkUploads", "peak-rss-MB", true, 150},
	// Start-up of the handler as the host sees it (measured ≈ 60 ms).
	// The first read: the organisation's upload limit and the file; the
	// second read: none (the cache).
	{"BenchmarkDocumentDownload", "first-dv-req", true, 2},
	{"BenchmarkDocumentDownload", "cached-dv-req", true, 0},
	// A download holds one 4 MiB block, whatever the file's size (≈ 5 MB).
	{"BenchmarkDocumentDownload", "rss-above-idle-MB", true, 20},
	// Measured 30–41 MB/s first, 310–640 MB/s cached.
	{"BenchmarkDocumentDownload", "first-MB/s", false, 3},
	{"BenchmarkDocumentDownload", "cached-MB/s", false, 10},
	{"BenchmarkHandlerColdStart", "ready-ms", true, 1000},
	{"BenchmarkHandlerColdStart", "idle-rss-MB", true, 100},
}

// checkThresholds returns a line per threshold crossed, and per metric
// missing from results.
func checkThresholds(res map[string]result) []string {
	var bad []string
	for _, t := range thresholds {
		r, ok := res[t.bench]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s did not run", t.bench))
			continue
		}
		v, ok := r.metrics[t.metric]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%s reported no %s", t.bench, t.metric))
		case t.max && v > t.limit:
			bad = append(bad, fmt.Sprintf("%s %s = %g, more than %g", t.bench, t.metric, v, t.limit))
		case !t.max && v < t.limit:
			bad = append(bad, fmt.Sprintf("%s %s = %g, less than %g", t.bench, t.metric, v, t.limit))
		}
	}
	return bad
}
