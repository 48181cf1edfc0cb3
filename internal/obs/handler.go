package obs

import (
	"context"
	"log/slog"
	"regexp"
	"slices"
	"strings"
)

// userKeys are the attribute keys under which code logs a user's Entra
// object id, next to "tenant", and the keys their pseudonyms are written
// under instead.
var userKeys = map[string]string{"user": "userRef", "approver": "approverRef"}

// Handler is the slog.Handler of the connector's logs. It writes through
// next, and on every line:
//   - a user's object id logged as "user" (or "approver") becomes the
//     user's pseudonym under "userRef" ("approverRef"), and that object id
//     is replaced by the pseudonym wherever else it appears on the line
//     (an error message that names a row key, a message);
//   - every e-mail address in the message and in string values (errors
//     included) becomes AddressRedacted;
//   - the invocation's Scope, when the line is logged with its context,
//     adds "function", "invocationId", "tenant" and "userRef" unless the
//     line has them.
//
// So a user's object id reaches no log line that names it or runs in the
// user's invocation. Code that logs a user must use the key "user" and
// give "tenant" too. It is safe for concurrent use.
type Handler struct {
	next   slog.Handler
	p      Pseudonyms
	attrs  []slog.Attr       // added by WithAttrs since the last group, not yet given to next
	known  map[string]string // object id -> pseudonym, of attributes already given to next
	tenant string
}

var _ slog.Handler = (*Handler)(nil)

// NewHandler returns the handler writing through next with pseudonyms p.
func NewHandler(next slog.Handler, p Pseudonyms) *Handler {
	return &Handler{next: next, p: p}
}

// Enabled reports whether next logs level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// WithAttrs returns a handler whose lines carry as.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(slices.Clip(h.attrs), as...)
	return &c
}

// WithGroup returns a handler whose later attributes go into group name.
// The attributes so far are final then and are resolved at once.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	l := h.line(nil, h.attrs)
	c.next = h.next.WithAttrs(l.rewrite(h.attrs)).WithGroup(name)
	c.attrs, c.known, c.tenant = nil, l.refs, l.tenant
	return &c
}

// Handle writes r with pseudonyms for users and the scope of ctx.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	attrs := slices.Clip(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, a)
		return true
	})
	scope := ScopeFrom(ctx)
	l := h.line(scope, attrs)
	out := slog.NewRecord(r.Time, r.Level, l.scrub(r.Message), r.PC)
	if scope != nil {
		has := func(keys ...string) bool {
			return slices.ContainsFunc(attrs, func(a slog.Attr) bool { return slices.Contains(keys, a.Key) })
		}
		if scope.Function != "" && !has("function") {
			out.AddAttrs(slog.String("function", scope.Function))
		}
		if scope.InvocationID != "" && !has("invocationId") {
			out.AddAttrs(slog.String("invocationId", scope.InvocationID))
		}
		if tenant, user := scope.User(); tenant != "" {
			if !has("tenant") {
				out.AddAttrs(slog.String("tenant", tenant))
			}
			if user != "" && l.tenant == tenant && !has("user", "approver", "userRef") {
				out.AddAttrs(slog.String("userRef", h.p.User(tenant, user)))
			}
		}
	}
	out.AddAttrs(l.rewrite(attrs)...)
	return h.next.Handle(ctx, out)
}

// line is what one line knows about its users.
type line struct {
	tenant string
	refs   map[string]string // object id -> pseudonym
	repl   *strings.Replacer
}

// line collects the tenant and the users of attrs (and of the scope).
func (h *Handler) line(scope *Scope, attrs []slog.Attr) *line {
	l := &line{tenant: h.tenant, refs: map[string]string{}}
	if tenant, _ := scope.User(); tenant != "" && l.tenant == "" {
		l.tenant = tenant
	}
	for k, v := range h.known {
		l.refs[k] = v
	}
	for _, a := range attrs {
		if a.Key == "tenant" {
			l.tenant = a.Value.Resolve().String()
		}
	}
	if tenant, user := scope.User(); user != "" {
		l.refs[user] = h.p.User(tenant, user)
	}
	for _, a := range attrs {
		if _, ok := userKeys[a.Key]; ok {
			if v := a.Value.Resolve().String(); v != "" {
				l.refs[v] = h.p.User(l.tenant, v)
			}
		}
	}
	var pairs []string
	for id, ref := range l.refs {
		pairs = append(pairs, id, ref)
		if up := strings.ToUpper(id); up != id {
			pairs = append(pairs, up, ref)
		}
	}
	if len(pairs) > 0 {
		l.repl = strings.NewReplacer(pairs...)
	}
	return l
}

// scrub replaces the line's users' object ids in s with their pseudonyms
// and hides e-mail addresses.
func (l *line) scrub(s string) string {
	if l.repl != nil {
		s = l.repl.Replace(s)
	}
	return hideAddresses(s)
}

// AddressRedacted stands in a log line where an e-mail address was.
const AddressRedacted = "[e-mail address]"

// address matches an e-mail address, such as a UPN (guests' included:
// alice_contoso.com#EXT#@fabrikam.onmicrosoft.com). The domain must end in a
// label of letters, so a module version (module@v1.2.3) is not one.
var address = regexp.MustCompile(`[A-Za-z0-9._%+#~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b`)

// hideAddresses replaces every e-mail address in s with AddressRedacted.
// People's sign-in names reach log lines inside others' words: Entra's
// error descriptions name the account (AADSTS50020: "User account
// 'alice@contoso.com' ... does not exist in tenant"), Dataverse's messages
// may name a contact.
func hideAddresses(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	return address.ReplaceAllString(s, AddressRedacted)
}

// rewrite returns attrs with users as pseudonyms and every string value
// scrubbed of their object ids.
func (l *line) rewrite(attrs []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		if ref, ok := userKeys[a.Key]; ok {
			v := a.Value.Resolve().String()
			if v == "" {
				continue
			}
			out = append(out, slog.String(ref, l.refs[v]))
			continue
		}
		out = append(out, l.attr(a))
	}
	return out
}

func (l *line) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, l.scrub(v.String()))
	case slog.KindGroup:
		g := v.Group()
		inner := make([]any, len(g))
		for i, x := range g {
			inner[i] = l.attr(x)
		}
		return slog.Group(a.Key, inner...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, l.scrub(x.Error()))
		case []string:
			s := make([]string, len(x))
			for i, e := range x {
				s[i] = l.scrub(e)
			}
			return slog.Any(a.Key, s)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
