// Command benchtable turns the output of the end-to-end benchmarks (`go
// test -bench`, read from stdin) into the one table of `make bench`: it
// prints it, with -doc writes it with the machine and the commit into its
// own section of docs/performance.md (the other sections are kept), and
// with -check fails (exit 1) when a figure crosses its threshold, for
// `make bench-ci`. scripts/bench.sh runs it.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

func run(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("benchtable", flag.ContinueOnError)
	doc := fs.String("doc", "", "write the table into this Markdown file's section "+sectionTitle)
	check := fs.Bool("check", false, "fail when a figure crosses its threshold (make bench-ci)")
	command := fs.String("command", "make bench", "the command that produced the figures, for the document")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res, err := parse(in)
	if err != nil {
		return err
	}
	table := render(res)
	fmt.Fprint(out, table)
	if *doc != "" {
		if err := writeSection(*doc, section(table, machine(), *command)); err != nil {
			return err
		}
		fmt.Fprintf(out, "written into %s (section %q)\n", *doc, sectionTitle)
	}
	if *check {
		if bad := checkThresholds(res); len(bad) > 0 {
			return fmt.Errorf("%d figures crossed their thresholds (docs/performance.md explains them):\n  %s", len(bad), strings.Join(bad, "\n  "))
		}
		fmt.Fprintf(out, "all %d thresholds held\n", len(thresholds))
	}
	return nil
}

// result is one benchmark's line: its iterations and metrics by unit.
type result struct {
	n       int
	metrics map[string]float64
}

// parse reads `go test -bench` output: lines "BenchmarkName-P N v unit v
// unit ...". It fails on a FAIL line or when no benchmark ran.
func parse(in io.Reader) (map[string]result, error) {
	out := map[string]result{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "--- FAIL") || strings.HasPrefix(line, "FAIL") {
			return nil, fmt.Errorf("a benchmark failed: %s", line)
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i]
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		r := result{n: n, metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: metric %q: %w", name, f[i+1], err)
			}
			r.metrics[f[i+1]] = v
		}
		out[name] = r
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no benchmark results in the input")
	}
	return out, nil
}
