package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sectionTitle heads the section of docs/performance.md this tool owns;
// the section runs to the next "## " heading, which is the one that says
// how make bench measures (measureTitle), kept as it is.
const sectionTitle = "## End to end: `make bench`"

// measureTitle heads the section, after this tool's, that explains how
// each figure is measured; the table's introduction points to it.
const measureTitle = "## End to end: how `make bench` measures"

// syncPrefix names BenchmarkSyncEndToEnd's sub-benchmarks, one per size.
const syncPrefix = "BenchmarkSyncEndToEnd/rows="

// syncSizes are the sizes the full sync ran at, smallest first.
func syncSizes(res map[string]result) []int {
	var sizes []int
	for name := range res {
		if n, err := strconv.Atoi(strings.TrimPrefix(name, syncPrefix)); err == nil && strings.HasPrefix(name, syncPrefix) {
			sizes = append(sizes, n)
		}
	}
	slices.Sort(sizes)
	return sizes
}

// render is the one table: a line per scenario that ran.
func render(res map[string]result) string {
	var b strings.Builder
	b.WriteString("| Scenario | Throughput | Dataverse requests | Table transactions | Handler peak RSS | Time | Checked |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, rows := range syncSizes(res) {
		m := res[syncPrefix+strconv.Itoa(rows)].metrics
		n := thousands(float64(rows))
		limit := "no bare run at this size"
		if ratio, ok := m["full-ratio"]; ok {
			limit = fmt.Sprintf("**%.2f×** the raw limit (bare read %s, bare write %s rows/s)", ratio, thousands(m["bare-read-rows/s"]), thousands(m["bare-write-rows/s"]))
		}
		checked := fmt.Sprintf("every mirror entity and log entry read back (id, etag; %.1f s)", m["check-s"])
		if _, ok := m["changes-ms"]; ok {
			checked += " and the app's view replayed"
		}
		fmt.Fprintf(&b, "| Full sync, %s rows (median of %s round(s)) | %s rows/s; %s | %.2f per 1,000 rows | %.4f per row | %.1f MB | %.1f s in %s SyncWorker run(s) | %s lost, %s duplicated, %s other version: %s |\n",
			n, thousands(m["rounds"]), thousands(m["full-rows/s"]), limit, 1000*m["full-dv-req/row"], m["full-table-tx/row"], m["peak-rss-MB"],
			float64(rows)/m["full-rows/s"], thousands(m["full-runs"]), thousands(m["full-lost"]), thousands(m["full-dup"]), thousands(m["full-wrong"]), checked)
		if ms, ok := m["changes-ms"]; ok {
			fmt.Fprintf(&b, "| Changes API, the %s changes in calls of 1,000 | %.0f ms a call (the same Table query alone: %.0f ms; the connector's share %.0f ms) | — | — | — | %.1f s | every change once |\n",
				n, ms, m["bare-changes-ms"], ms-m["bare-changes-ms"], ms*float64(rows)/1000/1000)
		}
		fmt.Fprintf(&b, "| Incremental sync, 20 changes (after %s rows) | — | %s | %s | — | %.2f s | exactly the 20 changes |\n",
			n, thousands(m["incr-dv-req"]), thousands(m["incr-table-tx"]), m["incr-s"])
	}
	if r, ok := res["BenchmarkUploads"]; ok {
		m := r.metrics
		fmt.Fprintf(&b, "| Uploads, %s reports | %.1f reports/s | %.3f per report | %.1f per report (+ %.1f Blob) | %.1f MB | %.1f s | each written once, none failed |\n",
			thousands(float64(r.n)), m["reports/s"], m["dataverse-requests/report"], m["table-tx/report"], m["blob-tx/report"], m["peak-rss-MB"],
			float64(r.n)/m["reports/s"])
	}
	if r, ok := res["BenchmarkUploadsThrottled"]; ok {
		m := r.metrics
		fmt.Fprintf(&b, "| Throttled uploads, %s reports (600 requests / 30 s) | %.1f reports/s | %.3f per report (%.3f refused with 429) | — | — | %.1f s; %.1f %% of the fastest the limit allows | each written once, none failed |\n",
			thousands(float64(r.n)), m["reports/s"], m["dataverse-requests/report"], m["429s/report"], float64(r.n)/m["reports/s"], m["bound-%"])
	}
	if r, ok := res["BenchmarkDocumentDownload"]; ok {
		m := r.metrics
		fmt.Fprintf(&b, "| Document download, %.0f MB (first read, cached read) | %.1f MB/s, %.1f MB/s | %s, %s | — (%s Blob requests first) | %.1f MB above idle | %.1f s, %.2f s | byte for byte, twice |\n",
			m["file-MB"], m["first-MB/s"], m["cached-MB/s"], thousands(m["first-dv-req"]), thousands(m["cached-dv-req"]), thousands(m["first-blob-tx"]),
			m["rss-above-idle-MB"], m["file-MB"]/m["first-MB/s"], m["file-MB"]/m["cached-MB/s"])
	}
	if r, ok := res["BenchmarkHandlerColdStart"]; ok {
		m := r.metrics
		fmt.Fprintf(&b, "| Handler cold start (%d starts) | — | — | — | %.1f MB idle | ready %.0f ms after exec (%.0f ms after the host starts) | |\n",
			r.n, m["idle-rss-MB"], m["ready-ms"], m["host-ready-ms"])
	}
	return b.String()
}

// thousands formats v rounded, with thousands separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// machine describes where the figures were measured and from which commit.
func machine() string {
	cpu := firstField("/proc/cpuinfo", "model name")
	mem := firstField("/proc/meminfo", "MemTotal")
	if kb, err := strconv.ParseFloat(strings.TrimSuffix(mem, " kB"), 64); err == nil {
		mem = fmt.Sprintf("%.1f GiB", kb/(1<<20))
	}
	load, _ := os.ReadFile("/proc/loadavg")
	commit := strings.TrimSpace(output("git", "rev-parse", "--short", "HEAD"))
	if exec.Command("git", "diff", "--quiet", "HEAD").Run() != nil {
		commit += "+ (uncommitted changes)"
	}
	return fmt.Sprintf("%s UTC, commit %s; %d CPUs (%s), %s memory, %s; load average %s when the table was written",
		time.Now().UTC().Format("2006-01-02 15:04"), commit, runtime.NumCPU(), cpu, mem, runtime.Version(), strings.Join(strings.Fields(string(load))[:3], " "))
}

func firstField(path, key string) string {
	b, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func output(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "unknown"
	}
	return string(out)
}

// section is the Markdown section of the table.
func section(table, machine, command string) string {
	return sectionTitle + `

The whole connector on one machine: funchost with the real handler binary, Azurite (in memory, a
fresh one per benchmark), the Service Bus fake, the Entra and Dataverse simulators, on free ports.
Written by ` + "`scripts/bench.sh`" + ` (this section is replaced on every run; how each figure is
measured is under "` + strings.TrimPrefix(measureTitle, "## ") + `" below).

` + machine + `.
Command: ` + "`" + command + "`" + `

` + table
}

// writeSection replaces the section titled sectionTitle in the Markdown
// file at path (up to the next "## " heading), or appends it.
func writeSection(path, sec string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sec = strings.TrimRight(sec, "\n") + "\n"
	var out bytes.Buffer
	start := bytes.Index(old, []byte(sectionTitle+"\n"))
	if start < 0 {
		out.Write(bytes.TrimRight(old, "\n"))
		out.WriteString("\n\n" + sec)
	} else {
		out.Write(old[:start])
		out.WriteString(sec)
		rest := old[start+len(sectionTitle)+1:]
		if next := bytes.Index(rest, []byte("\n## ")); next >= 0 {
			out.WriteString("\n")
			out.Write(rest[next+1:])
		}
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}
