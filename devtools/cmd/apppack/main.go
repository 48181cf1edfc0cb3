// Command apppack assembles the deployable Function App from the repository:
// the app folder (host.json and the function folders at its root, the
// handler binary with its exec bit) and a reproducible zip of it. `make
// package` builds the static linux/amd64 handler and runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pitcher/connector/devtools/packaging"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "apppack:", err)
		os.Exit(1)
	}
}

func run(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("apppack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "the repository: host.json and functions/")
	binary := fs.String("binary", "", "the built handler (static linux/amd64)")
	dir := fs.String("dir", "", "write the assembled app folder here (replaced)")
	zipPath := fs.String("zip", "", "write the zip here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *binary == "" || (*dir == "" && *zipPath == "") {
		return fmt.Errorf("usage: apppack -binary FILE [-root DIR] [-dir OUT] [-zip OUT.zip]")
	}
	files, err := packaging.Files(*root, *binary)
	if err != nil {
		return err
	}
	if *dir != "" {
		if err := packaging.WriteDir(*dir, files); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "app folder: %s (%d files)\n", *dir, len(files))
	}
	if *zipPath != "" {
		if err := os.MkdirAll(filepath.Dir(*zipPath), 0o755); err != nil {
			return err
		}
		tmp := *zipPath + ".tmp"
		out, err := os.Create(tmp)
		if err != nil {
			return err
		}
		err = packaging.WriteZip(out, files)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(tmp)
			return err
		}
		if err := os.Rename(tmp, *zipPath); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "zip: %s\n", *zipPath)
	}
	return nil
}
