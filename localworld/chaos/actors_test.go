package chaos

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pitcher/connector/localworld/dataversesim"
)

// ledger holds every report the simulated users sent and what they were
// answered; problems are answers the API must never give.
type ledger struct {
	mu       sync.Mutex
	uploads  []*Upload
	bodies   map[string][]byte
	problems []string
	answers  map[int]int // POST /api/uploads answers by status (0: no answer)
	errors   []string    // the bodies of 5xx answers, with the time
	// erased are the users who pressed "Disconnect Dynamics", by UPN:
	// they send nothing more.
	erased map[string]time.Time
}

func newLedger() *ledger {
	return &ledger{bodies: map[string][]byte{}, answers: map[int]int{}, erased: map[string]time.Time{}}
}

// erase records that upn disconnected at: their uploads stop.
func (l *ledger) erase(upn string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.erased[upn] = at
}

func (l *ledger) isErased(upn string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.erased[upn]
	return ok
}

func (l *ledger) problem(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

// newReport builds report k of user (index ui), registers it and returns
// it with its body. One in twenty is bad: its account's name is longer
// than Dynamics allows. Some carry a document, small (inline in the
// $batch) or larger than UPLOAD_INLINE_DOCUMENT_BYTES (chunked).
func (l *ledger) newReport(rng *rand.Rand, ui int, upn string, k int) (*Upload, []byte) {
	id := fmt.Sprintf("chaos-u%d-%04d", ui, k)
	u := &Upload{ID: id, User: upn, Bad: rng.IntN(20) == 0, AccountNumber: fmt.Sprintf("CH-%d-%04d", ui, k),
		Subject: "Chaos meeting " + id}
	name := "Chaos customer " + id
	if u.Bad {
		name = strings.Repeat("x", 170)
	}
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC).Add(time.Duration(k) * time.Hour)
	report := map[string]any{
		"uploadId": id,
		"meeting": map[string]any{"subject": u.Subject, "start": start.Format(time.RFC3339), "end": start.Add(45 * time.Minute).Format(time.RFC3339),
			"regarding": map[string]any{"customer": 0}},
		"customers": []any{map[string]any{"entitySet": "accounts", "key": map[string]any{"accountnumber": u.AccountNumber},
			"fields": map[string]any{"name": name}}},
	}
	var notes []any
	for i := range rng.IntN(3) {
		s := fmt.Sprintf("Chaos note %s #%d", id, i)
		u.Annotations = append(u.Annotations, s)
		notes = append(notes, map[string]any{"subject": s, "text": "Follow up " + id})
	}
	if notes != nil {
		report["notes"] = notes
	}
	if rng.IntN(3) == 0 {
		size := 600
		if rng.IntN(2) == 0 {
			size = 5000
		}
		doc := fmt.Sprintf("%s-offer.txt", id)
		u.Annotations = append(u.Annotations, doc)
		report["documents"] = []any{map[string]any{"name": doc, "mimeType": "text/plain",
			"content": base64.StdEncoding.EncodeToString([]byte(strings.Repeat("offer "+id+" ", size/20)))}}
	}
	body, _ := json.Marshal(report)
	l.mu.Lock()
	l.uploads = append(l.uploads, u)
	l.bodies[id] = body
	l.mu.Unlock()
	return u, body
}

// send posts u once and records the answer; it reports whether the
// report is now accepted.
func (l *ledger) send(c *client, u *Upload, body []byte) bool {
	sent := time.Now()
	status, out, err := c.api(http.MethodPost, "/api/uploads", u.User, body)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		status = 0
	}
	l.answers[status]++
	switch status {
	case http.StatusAccepted:
		u.Accepts++
		fallthrough
	case http.StatusOK:
		if !u.Accepted {
			u.Accepted, u.AcceptedAt, u.AcceptSentAt = true, time.Now(), sent
		}
		return true
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		l.errors = append(l.errors, fmt.Sprintf("%s %s %d %.300s", time.Now().UTC().Format("15:04:05.000"), u.ID, status, out))
	case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusNotFound:
		l.problems = append(l.problems, fmt.Sprintf("POST /api/uploads %s = %d %.300s; the report is valid and sent unchanged", u.ID, status, out))
	}
	return false
}

// deliver sends u until it is accepted or ctx is done, pausing between
// tries as an app with backoff would; a user who disconnected gives up.
func (l *ledger) deliver(ctx context.Context, c *client, rng *rand.Rand, u *Upload, body []byte) {
	for pause := 100 * time.Millisecond; ; pause = min(2*pause, 2*time.Second) {
		if l.isErased(u.User) || l.send(c, u, body) {
			return
		}
		if !wait(ctx, pause+time.Duration(rng.Int64N(int64(pause)))) {
			return
		}
	}
}

// uploader is one simulated user: a report every half second to two
// seconds, a quarter of them sent once more after they were accepted and
// one in seven sent from two devices at once, until they disconnect.
func (l *ledger) uploader(ctx context.Context, c *client, seed uint64, ui int, upn string) {
	rng := rand.New(rand.NewPCG(seed, uint64(ui)+1))
	for k := 0; ctx.Err() == nil && !l.isErased(upn); k++ {
		u, body := l.newReport(rng, ui, upn, k)
		if rng.IntN(7) == 0 {
			var wg sync.WaitGroup
			for d := range 2 {
				drng := rand.New(rand.NewPCG(seed, uint64(1000*ui+d)))
				wg.Go(func() { l.deliver(ctx, c, drng, u, body) })
			}
			wg.Wait()
		} else {
			l.deliver(ctx, c, rng, u, body)
		}
		if rng.IntN(4) == 0 && !l.isErased(upn) {
			l.send(c, u, body)
		}
		wait(ctx, time.Duration(500+rng.IntN(1500))*time.Millisecond)
	}
}

// unaccepted returns the reports no answer accepted yet, but those of users
// who disconnected.
func (l *ledger) unaccepted() []*Upload {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*Upload
	for _, u := range l.uploads {
		if _, gone := l.erased[u.User]; !u.Accepted && !gone {
			out = append(out, u)
		}
	}
	return out
}

// editor is a person working in Dynamics through the simulator's admin
// API: renaming accounts, changing contacts, adding contacts, deleting
// appointments, every third of a second to a second and a half.
func editor(ctx context.Context, c *client, seed uint64, rows int, edits map[string]int, mu *sync.Mutex) {
	rng := rand.New(rand.NewPCG(seed, 0xed17))
	deleted := map[int]bool{}
	base := c.w.DataverseURL + "/_sim/tables/"
	for n := 0; ctx.Err() == nil; n++ {
		var op string
		var err error
		switch x := rng.IntN(20); {
		case x < 10:
			op = "rename account"
			err = c.admin(http.MethodPatch, base+"accounts/"+dataversesim.SeedID("accounts", rng.IntN(rows)), map[string]any{"name": fmt.Sprintf("Edited account %d", n)})
		case x < 14:
			op = "change contact"
			err = c.admin(http.MethodPatch, base+"contacts/"+dataversesim.SeedID("contacts", rng.IntN(rows)), map[string]any{"jobtitle": fmt.Sprintf("Title %d", n), "lastname": fmt.Sprintf("Edited %d", n)})
		case x < 17:
			op = "add contact"
			err = c.admin(http.MethodPost, base+"contacts", map[string]any{"firstname": "New", "lastname": fmt.Sprintf("Contact %d", n), "emailaddress1": fmt.Sprintf("editor-%d@chaos.example", n)})
		default:
			i := rng.IntN(rows)
			if deleted[i] {
				continue
			}
			deleted[i] = true
			op = "delete appointment"
			err = c.admin(http.MethodDelete, base+"appointments/"+dataversesim.SeedID("appointments", i), nil)
		}
		mu.Lock()
		if err != nil {
			edits["failed: "+err.Error()]++
		} else {
			edits[op]++
		}
		mu.Unlock()
		wait(ctx, time.Duration(300+rng.IntN(1200))*time.Millisecond)
	}
}

// wait pauses for d (pacing the simulated people) and reports false if ctx
// ended first.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
