package syncer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pitcher/connector/internal/dataverse"
	"github.com/pitcher/connector/internal/mirror"
	"github.com/pitcher/connector/internal/store"
)

// A full read (the first read of a set, the read again after an expired
// delta token or a change of columns, the reconcile of a table without
// change tracking) can be larger than one invocation can read: the host
// stops a function after functionTimeout. So a full read is resumable:
// after every page it has persisted it stores a checkpoint in the set's
// state (the page's @odata.nextLink verbatim, the generation it marks rows
// with, what it has seen so far), in one transaction with the lease. When
// the run's time budget is spent it stops there and the worker queues a
// continuation job; a run that dies resumes from the last checkpoint, so
// at most a few pages are read twice (one, or up to maxPagesHeld for a
// filtered read that keeps few rows).

// errBudget stops a full read whose run has spent its time budget; the
// read goes on from its checkpoint in a continuation job.
var errBudget = errors.New("the run's time budget is spent; the full read continues in another job")

// errLinkRefused reports that Dataverse refused a stored paging link.
var errLinkRefused = errors.New("dataverse refused the stored paging link")

// fullRead is one kind of full read of a set.
type fullRead struct {
	kind string // store.FullRows or store.FullIDs
	// open starts the read (nextLink "") or resumes it from nextLink.
	open func(nextLink string) (*dataverse.Pager, error)
	// persist writes one page's rows with generation gen.
	persist func(ctx context.Context, page *dataverse.Page, gen int64) error
}

// runFull reads f to its end, from its checkpoint when one of the same
// kind is stored, and returns the pager of the last page. It returns
// errBudget when the run's time budget ran out first. A stored link that
// Dataverse refuses (it should not happen: paging links name the last row
// read, not a server-side cursor) starts the read over with a new
// generation, so rows the abandoned read saw cannot survive the sweep.
func (r *setRun) runFull(ctx context.Context, f fullRead) (*dataverse.Pager, error) {
	resumed := r.st.FullKind == f.kind && r.st.FullNextLink != ""
	if !resumed {
		if err := r.beginFull(ctx, f.kind); err != nil {
			return nil, err
		}
	}
	r.res.Full = true
	r.fullRows = f.kind == store.FullRows
	for {
		link := ""
		if resumed {
			link = r.st.FullNextLink
			r.log.Info("the full read continues from its checkpoint", "rowsSoFar", r.st.FullRead, "generation", r.st.FullGeneration)
		}
		pager, err := f.open(link)
		if err == nil {
			err = r.readPages(ctx, pager, f, resumed)
		}
		if !resumed || err == nil || pager != nil && !errors.Is(err, errLinkRefused) {
			return pager, err
		}
		r.log.Warn("the stored paging link was refused; the full read starts over", "error", err.Error())
		if err := r.beginFull(ctx, f.kind); err != nil {
			return nil, err
		}
		resumed = false
	}
}

// startFull begins a full read of kind with a generation above every one
// used before, also by a full read that was abandoned.
func (r *setRun) startFull(kind string) {
	r.st.FullKind, r.st.FullNextLink = kind, ""
	r.st.FullGeneration = max(r.st.Generation, r.st.FullGeneration) + 1
	r.st.FullWatermark, r.st.FullStarted, r.st.FullRead = time.Time{}, r.w.d.Now(), 0
	if kind == store.FullRows {
		r.st.DeltaLink = "" // the full read is where the set resumes now
	}
}

// beginFull starts a full read and stores its generation before it writes
// a row: a read that dies before its first checkpoint and starts again
// then takes a new generation, and its sweep removes what the first one
// wrote that the second does not see.
func (r *setRun) beginFull(ctx context.Context, kind string) error {
	r.startFull(kind)
	return r.checkpoint(ctx)
}

// endFull clears the checkpoint of a full read that has finished.
func (r *setRun) endFull() {
	r.st.FullKind, r.st.FullNextLink, r.st.FullGeneration = "", "", 0
	r.st.FullWatermark, r.st.FullStarted, r.st.FullRead = time.Time{}, time.Time{}, 0
}

// readPages persists every page of pager, checkpointing after each one
// that has a next, and stops with errBudget once the run's budget is spent.
//
// Dataverse and both tables work at once: while a page is written the
// next one is read, and a page's mirror writes go on while the next
// page's changes are logged (apply with r.behind). So a page's checkpoint
// is stored once its writes are done, when the next page's changes are
// logged, or when the read fails after them: a run that dies reads at most
// two pages again. Nothing is left running when it returns.
func (r *setRun) readPages(ctx context.Context, pager *dataverse.Pager, f fullRead, resumed bool) (err error) {
	aheadCtx, cancel := context.WithCancel(ctx)
	var ahead <-chan pageRead // the page being read, if one is
	r.behind = true
	defer func() {
		cancel()
		if ahead != nil {
			<-ahead // the pager is the caller's again
		}
		r.behind = false
		if err != nil && r.due != nil {
			// The failure may have come after the writes the last
			// checkpoint waits for: then it is kept (best effort).
			if serr := r.settle(r.dueAfter); serr != nil {
				err = errors.Join(err, serr)
			} else {
				_ = r.storeDue(ctx)
			}
		}
		err = errors.Join(err, r.settle(len(r.writing)))
		r.due = nil
	}()
	for first := true; ahead != nil || pager.More(); first = false {
		if ahead == nil {
			ahead = readAhead(aheadCtx, pager)
		}
		read := <-ahead
		ahead = nil
		page, err := read.page, read.err
		if err != nil {
			if first && resumed && refused(err) {
				return fmt.Errorf("%w: %w", errLinkRefused, err)
			}
			return fmt.Errorf("read %s page %d: %w", r.cfg.Name, r.res.Pages+1, err)
		}
		r.res.Pages++
		if page.NextLink != "" && r.w.d.Now().Before(r.deadline) {
			ahead = readAhead(aheadCtx, pager)
		}
		if err := f.persist(ctx, page, r.st.FullGeneration); err != nil {
			return err
		}
		// The last page's checkpoint, now that this page's changes are
		// logged and its writes had the time this page's logging took.
		if err := r.storeDue(ctx); err != nil {
			return err
		}
		r.st.FullRead += int64(len(page.Rows))
		r.sinceCheckpoint++
		if page.NextLink == "" {
			return r.flushHeld(ctx, r.st.FullGeneration)
		}
		// A checkpoint says every page before it is written. A filtered
		// read that kept few rows holds them for a few pages and
		// checkpoints with them, so its writes follow the rows kept.
		spent := !r.w.d.Now().Before(r.deadline)
		if len(r.held) > 0 && len(r.held) < maxHeld && r.sinceCheckpoint < maxPagesHeld && !spent {
			continue
		}
		if len(r.held) == 0 && r.wroteSinceCheckpoint == 0 && r.sinceCheckpoint < maxPagesHeld && !spent {
			continue // nothing written: nothing a crash would lose but a few pages' reading
		}
		if err := r.flushHeld(ctx, r.st.FullGeneration); err != nil {
			return err
		}
		// Stored only once every write before it is done: a failure
		// before then stores the state with the link of the last
		// checkpoint, whose pages were all written.
		due := r.st
		due.FullNextLink = page.NextLink
		r.due, r.dueAfter = &due, len(r.writing)
		r.sinceCheckpoint, r.wroteSinceCheckpoint = 0, 0
		if spent {
			if err := r.storeDue(ctx); err != nil {
				return err
			}
			return errBudget
		}
	}
	return nil
}

// storeDue stores the due checkpoint once the writes before it are done.
func (r *setRun) storeDue(ctx context.Context) error {
	if r.due == nil {
		return nil
	}
	if err := r.settle(r.dueAfter); err != nil {
		return err
	}
	due := *r.due
	r.due = nil
	if err := r.l.commit(ctx, due); err != nil {
		if errors.Is(err, errLeaseLost) {
			return errLeaseLost
		}
		return fmt.Errorf("store the checkpoint of %s: %w", r.cfg.Name, err)
	}
	r.st.FullNextLink = due.FullNextLink
	return nil
}

// pendingWrite is a mirror write begun and not yet waited for.
type pendingWrite struct {
	wait    func() error
	entries []mirror.Entry
}

// settle waits for the first n mirror writes begun (all of them, also
// after one failed).
func (r *setRun) settle(n int) error {
	var err error
	for _, w := range r.writing[:n] {
		err = errors.Join(err, w.wait())
	}
	r.writing = r.writing[n:]
	r.dueAfter = max(0, r.dueAfter-n)
	return err
}

// settleOverlaps waits for the mirror writes going on when one of them
// writes a row of entries (a watermark read meets a row edited during it
// again): a row's later write must land after its earlier one, and a read
// of the mirror must see it.
func (r *setRun) settleOverlaps(entries []mirror.Entry) error {
	if !r.overlaps(entries) {
		return nil
	}
	return r.settle(len(r.writing))
}

// overlaps reports whether a row of entries is one a mirror write still
// going on writes.
func (r *setRun) overlaps(entries []mirror.Entry) bool {
	if len(r.writing) == 0 {
		return false
	}
	ids := map[string]bool{}
	for _, w := range r.writing {
		for _, e := range w.entries {
			ids[e.ID] = true
		}
	}
	for _, e := range entries {
		if ids[e.ID] {
			return true
		}
	}
	return false
}

// pageRead is a page read ahead, or why it could not be.
type pageRead struct {
	page *dataverse.Page
	err  error
}

// readAhead reads pager's next page in the background; the pager is not
// to be touched until the page arrives.
func readAhead(ctx context.Context, pager *dataverse.Pager) <-chan pageRead {
	ch := make(chan pageRead, 1)
	go func() {
		page, err := pager.NextPage(ctx)
		ch <- pageRead{page, err}
	}()
	return ch
}

// A full read of a filtered or related set holds the rows it keeps until
// maxHeld of them (one Table transaction) or maxPagesHeld pages.
const (
	maxHeld      = 100
	maxPagesHeld = 10
)

// flushHeld writes the rows a full read holds.
func (r *setRun) flushHeld(ctx context.Context, gen int64) error {
	held := r.held
	r.held = nil
	return r.applyFull(ctx, held, gen)
}

// applyFull writes the rows of a full read with generation gen. A read
// again (gen above 1: after an expired delta token, a change of columns
// or of the profile) only marks the rows the mirror already holds
// unchanged with gen, instead of logging them again: the app downloads
// only what changed, and the sweep still finds what the read did not see.
func (r *setRun) applyFull(ctx context.Context, entries []mirror.Entry, gen int64) error {
	if gen <= 1 || len(entries) == 0 {
		return r.apply(ctx, entries, gen)
	}
	if err := r.settleOverlaps(entries); err != nil { // the mirror read must see them
		return err
	}
	same, err := r.w.d.Mirror.Unchanged(ctx, r.job.TenantID, r.job.UserID, r.cfg.Name, entries)
	if err != nil {
		return err
	}
	if len(same) == 0 {
		return r.apply(ctx, entries, gen)
	}
	changed := make([]mirror.Entry, 0, len(entries)-len(same))
	marks := make([]string, 0, len(same))
	for _, e := range entries {
		if same[e.ID] {
			marks = append(marks, e.ID)
		} else {
			changed = append(changed, e)
		}
	}
	if err := r.w.d.Mirror.Mark(ctx, r.job.TenantID, r.job.UserID, r.cfg.Name, marks, gen); err != nil {
		return err
	}
	r.wroteSinceCheckpoint += len(marks)
	return r.apply(ctx, changed, gen)
}

// checkpoint stores the set's state as it is, with the lease: the
// progress of the full read, nothing of the last run's outcome.
func (r *setRun) checkpoint(ctx context.Context) error {
	if err := r.l.commit(ctx, r.st); err != nil {
		if errors.Is(err, errLeaseLost) {
			return errLeaseLost
		}
		return fmt.Errorf("store the checkpoint of %s: %w", r.cfg.Name, err)
	}
	return nil
}

// refused reports an answer that says the request itself is wrong (a
// paging link Dataverse no longer takes), not that it failed this time.
func refused(err error) bool {
	var de *dataverse.Error
	return errors.As(err, &de) && de.StatusCode == http.StatusBadRequest
}
