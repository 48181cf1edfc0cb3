// Package packaging assembles the deployable Function App from the
// repository: host.json and one folder per function at the root, the handler
// binary where host.json's defaultExecutablePath says, and a zip of that,
// byte-for-byte the same for the same input.
package packaging

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"
)

// File is one file of the app: its path inside the app (slash-separated),
// where to read it, and whether it is executable.
type File struct {
	Name       string
	Source     string
	Executable bool
}

// epoch is every entry's modification time, so the zip does not depend on
// when the files were built or checked out (zip cannot go below 1980).
var epoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// Files lists the app built from the repository at root with the handler
// binary at binary: host.json, <Function>/function.json for every folder of
// root/functions, and the binary at host.json's defaultExecutablePath.
// local.settings.json and everything else stay out.
func Files(root, binary string) ([]File, error) {
	b, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		return nil, fmt.Errorf("packaging: %w", err)
	}
	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(b, &host); err != nil {
		return nil, fmt.Errorf("packaging: host.json: %w", err)
	}
	exe := path.Clean(filepath.ToSlash(host.CustomHandler.Description.DefaultExecutablePath))
	if exe == "." || path.IsAbs(exe) || exe == ".." || len(exe) > 2 && exe[:3] == "../" {
		return nil, fmt.Errorf("packaging: host.json defaultExecutablePath %q must be a relative path inside the app", exe)
	}
	if st, err := os.Stat(binary); err != nil || st.IsDir() {
		return nil, fmt.Errorf("packaging: handler binary %s: not a file (build it first)", binary)
	}
	files := []File{{Name: "host.json", Source: filepath.Join(root, "host.json")}, {Name: exe, Source: binary, Executable: true}}
	dirs, err := fs.Glob(os.DirFS(root), "functions/*/function.json")
	if err != nil || len(dirs) == 0 {
		return nil, fmt.Errorf("packaging: no functions/*/function.json under %s", root)
	}
	for _, d := range dirs {
		files = append(files, File{Name: path.Base(path.Dir(d)) + "/function.json", Source: filepath.Join(root, filepath.FromSlash(d))})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

// WriteZip writes files to w as a zip whose bytes depend only on the files'
// names, modes and contents.
func WriteZip(w io.Writer, files []File) error {
	zw := zip.NewWriter(w)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: epoch}
		mode := fs.FileMode(0o644)
		if f.Executable {
			mode = 0o755
		}
		h.SetMode(mode)
		dst, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("packaging: %s: %w", f.Name, err)
		}
		if err := copyFile(dst, f.Source); err != nil {
			return fmt.Errorf("packaging: %s: %w", f.Name, err)
		}
	}
	return zw.Close()
}

// WriteDir writes files into dir (the assembled app folder, for `func start`
// or funchost -root), replacing what was there.
func WriteDir(dir string, files []File) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	for _, f := range files {
		dst := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("packaging: %w", err)
		}
		mode := fs.FileMode(0o644)
		if f.Executable {
			mode = 0o755
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
		if err != nil {
			return fmt.Errorf("packaging: %w", err)
		}
		err = copyFile(out, f.Source)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("packaging: %s: %w", f.Name, err)
		}
	}
	return nil
}

func copyFile(w io.Writer, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	_, err = io.Copy(w, in)
	return err
}
