package config

import "strings"

// Ops holds the settings of observability and diagnostics.
type Ops struct {
	// PseudonymKey keys the HMAC that turns a user's Entra object id into
	// the pseudonym every log line carries instead (internal/obs). It must
	// stay the same for the life of the deployment: a new key gives every
	// user a new pseudonym, so older log lines no longer match.
	PseudonymKey []byte
	// DiagnosticsKey, when set, lets a caller that sends it in the
	// X-Diagnostics-Key header read the diagnostics of any organisation
	// and user (Pitcher support with curl). Empty: only
	// users' own diagnostics are served over HTTP.
	DiagnosticsKey string
}

// Setting names of the operations group.
const (
	SettingPseudonymKey   = "LOG_PSEUDONYM_KEY"
	SettingDiagnosticsKey = "DIAGNOSTICS_KEY"
)

// minDiagnosticsKey is the shortest diagnostics key accepted: about 190
// bits in base64, beyond guessing.
const minDiagnosticsKey = 32

func (r *reader) ops() Ops {
	var o Ops
	switch raw := r.get(SettingPseudonymKey); {
	case raw == "":
		r.problem(SettingPseudonymKey, "missing; set it to 32 random bytes in base64 (openssl rand -base64 32) and keep it: logs name users by a pseudonym made with it")
	default:
		if k := decodeKey(raw); len(k) < 32 {
			r.problem(SettingPseudonymKey, "is not at least 32 bytes in base64; generate one with openssl rand -base64 32")
		} else {
			o.PseudonymKey = k
		}
	}
	if k := r.get(SettingDiagnosticsKey); k != "" {
		switch {
		case len(k) < minDiagnosticsKey:
			r.problem(SettingDiagnosticsKey, "is shorter than %d characters; generate one with openssl rand -base64 32 (or leave it empty to serve only users' own diagnostics)", minDiagnosticsKey)
		case strings.IndexFunc(k, func(c rune) bool { return c <= ' ' || c > '~' }) >= 0:
			r.problem(SettingDiagnosticsKey, "may hold only printable ASCII without spaces (it travels in an HTTP header); generate one with openssl rand -base64 32")
		default:
			o.DiagnosticsKey = k
		}
	}
	return o
}
