package notefiles_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/google/uuid"

	"github.com/pitcher/connector/internal/apperr"
	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/notefiles"
	"github.com/pitcher/connector/internal/store"
	"github.com/pitcher/connector/localworld/dataversesim"
	"github.com/pitcher/connector/localworld/testenv"
)

// world is one user's mirror in Azurite and the Dynamics simulator behind
// a proxy that counts the reads of documents and can cut one short.
type world struct {
	sim       *dataversesim.Sim
	url       string
	mirror    *mirror.Store
	blobs     *container.Client
	owner     notefiles.Owner
	seq       int64
	fileReads atomic.Int64 // requests for a document body
	cut       atomic.Bool  // the next document body stops half way
	onFile    func()       // runs before a document body is answered, if set
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{sim: dataversesim.New(dataversesim.Options{Seed: 2, Auth: dataversesim.AuthOptions{InsecureAnyToken: true}})}
	// Files of several MB fit (the limit is on their Base64 text).
	w.setMaxUpload(t, 64<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/documentbody/") {
			w.sim.ServeHTTP(rw, r)
			return
		}
		w.fileReads.Add(1)
		if w.onFile != nil {
			w.onFile()
		}
		if !w.cut.CompareAndSwap(true, false) {
			w.sim.ServeHTTP(rw, r)
			return
		}
		rec := httptest.NewRecorder()
		w.sim.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			rw.Header()[k] = v
		}
		rw.Header().Set("Content-Length", strconv.Itoa(len(body)))
		rw.WriteHeader(rec.Code)
		_, _ = rw.Write(body[:len(body)/2])
		rw.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection drops mid-body
	}))
	t.Cleanup(srv.Close)
	w.url = srv.URL

	cs := testenv.Storage(t)
	svc, err := aztables.NewServiceClientFromConnectionString(cs, store.ClientOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	db := store.NewDB(svc, testenv.TablePrefix(t))
	if err := db.CreateTables(context.Background(), mirror.Tables...); err != nil {
		t.Fatal(err)
	}
	client, err := azblob.NewClientFromConnectionString(cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.mirror = mirror.New(db, mirror.NewAzureBlobs(client))
	w.blobs = client.ServiceClient().NewContainerClient(notefiles.Container)
	w.owner = notefiles.Owner{TenantID: uuid.NewString(), UserID: uuid.NewString(), OrgURL: w.url}
	return w
}

// service is the Documents service with cap maxFileSize (0: the
// organization's), reading Dynamics as the owner.
func (w *world) service(maxFileSize int64) *notefiles.Service {
	return notefiles.New(w.mirror, w.blobs, func(o notefiles.Owner) (*dataverse.Client, error) {
		token := dataverse.TokenFunc(func(context.Context, bool) (string, error) { return "test-token", nil })
		return dataverse.New(o.OrgURL, token, &dataverse.Options{
			Retry: dataverse.RetryPolicy{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond, MaxRetryAfter: time.Second}})
	}, maxFileSize)
}

func (w *world) setMaxUpload(t *testing.T, n int) {
	t.Helper()
	if err := w.sim.UpdateRow("organizations", w.sim.IDs("organizations")[0], map[string]any{"maxuploadfilesize": n}); err != nil {
		t.Fatal(err)
	}
}

// attach attaches content to the first account in Dynamics and syncs the
// note into the mirror.
func (w *world) attach(t *testing.T, name string, content []byte) string {
	t.Helper()
	id, err := w.sim.AttachFile("accounts", w.sim.IDs("accounts")[0], dataversesim.Attachment{FileName: name, MimeType: "application/pdf", Content: content})
	if err != nil {
		t.Fatal(err)
	}
	w.sync(t, id)
	return id
}

// sync copies note id's row as Dynamics has it now into the mirror, as the
// sync does (without the document).
func (w *world) sync(t *testing.T, id string) {
	t.Helper()
	row, ok := w.sim.GetRow("annotations", id)
	if !ok {
		t.Fatalf("Dynamics has no note %s", id)
	}
	delete(row, "documentbody")
	data, err := json.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	w.seq++
	if err := w.mirror.Apply(context.Background(), w.owner.TenantID, w.owner.UserID, "annotations", []mirror.Entry{{ID: id, Data: data}}, 1, w.seq); err != nil {
		t.Fatal(err)
	}
}

// cached reports whether the owner's copy of note id is in Blob Storage.
func (w *world) cached(t *testing.T, id string) bool {
	t.Helper()
	_, err := w.blobs.NewBlobClient(w.owner.TenantID+"/"+w.owner.UserID+"/"+id).GetProperties(context.Background(), nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// stored lists the owner's blobs in the cache, those of blocks staged
// but never committed included: the eraser's listing cannot see those,
// yet Azure keeps them for a week.
func (w *world) stored(t *testing.T) []string {
	t.Helper()
	prefix := w.owner.TenantID + "/" + w.owner.UserID + "/"
	pager := w.blobs.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix, Include: container.ListBlobsInclude{UncommittedBlobs: true}})
	var out []string
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if bloberror.HasCode(err, bloberror.ContainerNotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Segment.BlobItems {
			out = append(out, *b.Name)
		}
	}
	return out
}

// download describes and opens note id and reads the whole file.
func download(t *testing.T, s *notefiles.Service, w *world, id string) ([]byte, error) {
	t.Helper()
	ctx := context.Background()
	d, err := s.Describe(ctx, w.owner, id)
	if err != nil {
		return nil, err
	}
	r, err := s.Open(ctx, w.owner, d)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// random returns n random bytes.
func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// large is a file of several 4 MiB blocks, not a whole number of them.
const large = 2*(4<<20) + 1_234_567

func TestDescribeNeedsANoteWithAFile(t *testing.T) {
	w := newWorld(t)
	s := w.service(0)
	text, err := w.sim.CreateRow("annotations", map[string]any{"subject": "Call notes", "notetext": "No file here",
		"objectid_account@odata.bind": "/accounts(" + w.sim.IDs("accounts")[0] + ")"})
	if err != nil {
		t.Fatal(err)
	}
	w.sync(t, strings.ToLower(text))
	for what, id := range map[string]string{"an unknown note": uuid.NewString(), "a note without a file": strings.ToLower(text)} {
		if _, err := s.Describe(context.Background(), w.owner, id); apperr.KindOf(err) != apperr.NotFound {
			t.Errorf("Describe of %s = %v, want NotFound", what, err)
		}
	}
}

// TestOpenCachesEachVersion: the file reads back exactly; a second
// download of the same version asks Dynamics nothing; a new version of
// the note (here a new file) is read again.
func TestOpenCachesEachVersion(t *testing.T) {
	w := newWorld(t)
	s := w.service(0)
	content := random(large)
	id := w.attach(t, "Angebot.pdf", content)

	d, err := s.Describe(context.Background(), w.owner, id)
	if err != nil || d.Size != large || d.FileName != "Angebot.pdf" || d.MimeType != "application/pdf" {
		t.Fatalf("Describe = %+v, %v; want Angebot.pdf, application/pdf, %d bytes", d, err, large)
	}
	if got, err := download(t, s, w, id); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("first download = %d bytes, %v; want the %d bytes attached", len(got), err, len(content))
	}
	before := w.sim.Requests()
	if got, err := download(t, s, w, id); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("second download = %d bytes, %v; want the %d bytes attached", len(got), err, len(content))
	}
	if n := w.sim.Requests() - before; n != 0 {
		t.Errorf("the second download of one version made %d Dataverse requests, want 0", n)
	}

	changed := random(large - 1000)
	if err := w.sim.UpdateRow("annotations", id, map[string]any{"documentbody": base64.StdEncoding.EncodeToString(changed)}); err != nil {
		t.Fatal(err)
	}
	w.sync(t, id)
	reads := w.fileReads.Load()
	if got, err := download(t, s, w, id); err != nil || !bytes.Equal(got, changed) {
		t.Fatalf("download of the new version = %d bytes, %v; want the %d bytes of the new file", len(got), err, len(changed))
	}
	if n := w.fileReads.Load() - reads; n != 1 {
		t.Errorf("the new version was read from Dynamics %d times, want 1", n)
	}
}

// TestReaderSeeks: a range read (as http.ServeContent makes for Range)
// returns exactly those bytes, across a block boundary and at the end.
func TestReaderSeeks(t *testing.T) {
	w := newWorld(t)
	s := w.service(0)
	content := random(large)
	id := w.attach(t, "deck.pdf", content)
	d, err := s.Describe(context.Background(), w.owner, id)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(context.Background(), w.owner, d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, tc := range []struct {
		offset int64
		whence int
		at, n  int
	}{
		{4<<20 - 10, io.SeekStart, 4<<20 - 10, 20},
		{100, io.SeekStart, 100, 50},
		{-30, io.SeekEnd, large - 30, 30},
	} {
		pos, err := r.Seek(tc.offset, tc.whence)
		if err != nil || pos != int64(tc.at) {
			t.Fatalf("Seek(%d, %d) = %d, %v; want %d", tc.offset, tc.whence, pos, err, tc.at)
		}
		got := make([]byte, tc.n)
		if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, content[tc.at:tc.at+tc.n]) {
			t.Errorf("%d bytes at %d = %v; want the file's bytes there", tc.n, tc.at, err)
		}
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read at the end = %d, %v; want 0, EOF", n, err)
	}
}

// TestDeletedNoteTakesItsCachedFile: a note cached, then changed and
// deleted in Dynamics before the sync sees the deletion, is NotFound and
// its cached file is gone.
func TestDeletedNoteTakesItsCachedFile(t *testing.T) {
	w := newWorld(t)
	s := w.service(0)
	id := w.attach(t, "minutes.pdf", random(10_000))
	if _, err := download(t, s, w, id); err != nil || !w.cached(t, id) {
		t.Fatalf("download = %v, cached %v; want the file cached", err, w.cached(t, id))
	}
	if err := w.sim.UpdateRow("annotations", id, map[string]any{"subject": "Minutes, corrected"}); err != nil {
		t.Fatal(err)
	}
	w.sync(t, id)
	if err := w.sim.DeleteRow("annotations", id); err != nil {
		t.Fatal(err)
	}
	if _, err := download(t, s, w, id); apperr.KindOf(err) != apperr.NotFound {
		t.Errorf("download of a note deleted in Dynamics = %v, want NotFound", err)
	}
	if w.cached(t, id) {
		t.Error("the deleted note's file is still cached")
	}
}

// TestCapRefusesLargeFiles: a file over SYNC_CONFIG's cap, or else over
// the organization's maxuploadfilesize, is TooLarge naming the cap, and
// Dynamics is not asked for it.
func TestCapRefusesLargeFiles(t *testing.T) {
	w := newWorld(t)
	id := w.attach(t, "scan.pdf", random(20_000))

	_, err := download(t, w.service(19_999), w, id)
	if apperr.KindOf(err) != apperr.TooLarge || !strings.Contains(err.Error(), "19999") {
		t.Errorf("download over notes.maxFileSize 19999 = %v, want TooLarge naming 19999", err)
	}
	w.setMaxUpload(t, 10_000)
	_, err = download(t, w.service(0), w, id)
	if apperr.KindOf(err) != apperr.TooLarge || !strings.Contains(err.Error(), "10000") || !strings.Contains(err.Error(), "maxuploadfilesize") {
		t.Errorf("download over the organization's maxuploadfilesize 10000 = %v, want TooLarge naming it", err)
	}
	if n := w.fileReads.Load(); n != 0 || w.cached(t, id) {
		t.Errorf("files over the cap: %d reads from Dynamics, cached %v; want none", n, w.cached(t, id))
	}
}

// TestThrottledDownloadIsPassedOn: a 429 whose Retry-After is longer than
// the client waits is Throttled with that Retry-After, caches nothing, and
// the next try succeeds.
func TestThrottledDownloadIsPassedOn(t *testing.T) {
	w := newWorld(t)
	s := w.service(0)
	content := random(50_000)
	id := w.attach(t, "offer.pdf", content)
	w.sim.FailNext(dataversesim.Fault{Status: http.StatusTooManyRequests, RetryAfter: 30, Path: "documentbody"})
	_, err := download(t, s, w, id)
	if c := apperr.ClassOf(err); c.Kind != apperr.Throttled || c.RetryAfter != 30*time.Second {
		t.Errorf("download throttled by Dynamics = %v (%+v), want Throttled with RetryAfter 30s", err, c)
	}
	if left := w.stored(t); len(left) > 0 {
		t.Errorf("a throttled download left blobs behind: %v", left)
	}
	if got, err := download(t, s, w, id); err != nil || !bytes.Equal(got, content) {
		t.Errorf("download after the throttling = %d bytes, %v; want the file", len(got), err)
	}
}

// TestCutDownloadIsNotCached: a body that stops half way (after a block
// was staged) is a Transient error, never a cached file, and the next try
// reads the whole file.
func TestCutDownloadIsNotCached(t *testing.T) {
	w := newWorld(t)
	s := w.service(0)
	content := random(large)
	id := w.attach(t, "catalogue.pdf", content)
	w.cut.Store(true)
	_, err := download(t, s, w, id)
	if apperr.KindOf(err) != apperr.Transient {
		t.Errorf("download cut half way = %v, want Transient (try again)", err)
	}
	if left := w.stored(t); len(left) > 0 {
		t.Errorf("a cut download left blobs behind (its staged blocks): %v", left)
	}
	if got, err := download(t, s, w, id); err != nil || !bytes.Equal(got, content) {
		t.Errorf("download after the cut = %d bytes, %v; want the %d bytes attached", len(got), err, len(content))
	}
}

// A file read while the user is erased (the mirror goes first, then the
// cache) is not left in the cache after the erasure's sweep.
func TestFileReadDuringAnErasureIsNotKept(t *testing.T) {
	w := newWorld(t)
	s := w.service(0)
	id := w.attach(t, "catalogue.pdf", random(1000))
	w.onFile = func() {
		w.seq++
		if err := w.mirror.Apply(context.Background(), w.owner.TenantID, w.owner.UserID, "annotations", []mirror.Entry{{ID: id, Deleted: true}}, 1, w.seq); err != nil {
			t.Error(err)
		}
	}
	if _, err := download(t, s, w, id); apperr.KindOf(err) != apperr.NotFound {
		t.Errorf("download of a note erased meanwhile = %v, want NotFound", err)
	}
	if left := w.stored(t); len(left) > 0 {
		t.Errorf("the file read during the erasure stayed in the cache: %v", left)
	}
}

// TestForget: the cached files named are deleted (so the next download
// reads Dynamics again); names never cached are ignored.
func TestForget(t *testing.T) {
	w := newWorld(t)
	s := w.service(0)
	a, b := w.attach(t, "a.pdf", random(1000)), w.attach(t, "b.pdf", random(2000))
	for _, id := range []string{a, b} {
		if _, err := download(t, s, w, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Forget(context.Background(), w.owner.TenantID, w.owner.UserID, []string{a, b, uuid.NewString()}); err != nil {
		t.Fatalf("Forget = %v, want nil", err)
	}
	if w.cached(t, a) || w.cached(t, b) {
		t.Errorf("after Forget: a cached %v, b cached %v; want neither", w.cached(t, a), w.cached(t, b))
	}
	if err := s.Forget(context.Background(), uuid.NewString(), uuid.NewString(), []string{a}); err != nil {
		t.Errorf("Forget for a user with no cached files = %v, want nil", err)
	}
	reads := w.fileReads.Load()
	if _, err := download(t, s, w, a); err != nil || w.fileReads.Load() != reads+1 {
		t.Errorf("download after Forget = %v with %d reads of Dynamics, want 1", err, w.fileReads.Load()-reads)
	}
}
