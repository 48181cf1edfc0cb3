package config

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// Entra holds the settings of sign-in, consent, the token vault and API
// authentication.
type Entra struct {
	// ClientID and ClientSecret are the app registration's credentials.
	ClientID     string
	ClientSecret string
	// AuthorityHost is the Entra cloud (or the local simulator).
	AuthorityHost string
	// AppIDURI, if set, is also accepted as the audience of API tokens.
	AppIDURI string
	// APIScope is the delegated scope API tokens must carry (scp).
	APIScope string
	// APIAllowedClientIDs are the applications (client ids, lower case)
	// whose access tokens the API accepts: the Pitcher apps. By default the
	// connector's own ClientID.
	APIAllowedClientIDs []string
	// PublicBaseURL is where browsers reach the app; the redirect URIs
	// below are derived from it and must be registered exactly.
	PublicBaseURL      string
	ConsentRedirectURI string
	LoginRedirectURI   string
	// TokenKeys seal refresh tokens; ActiveTokenKey names the one that
	// seals new records, the others only open old ones.
	TokenKeys      []EncryptionKey
	ActiveTokenKey string
	// ReturnToAllowlist lists where a sign-in may send the browser after.
	ReturnToAllowlist []string
	// DiscoveryURL is the Dynamics Global Discovery service.
	DiscoveryURL string
}

// EncryptionKey is one 32-byte token-encryption key and its id.
type EncryptionKey struct {
	ID     string
	Secret []byte
}

// String describes the settings without secrets.
func (e Entra) String() string {
	ids := make([]string, len(e.TokenKeys))
	for i, k := range e.TokenKeys {
		ids[i] = k.ID
	}
	return "client " + e.ClientID + " at " + e.AuthorityHost + ", keys [" + strings.Join(ids, ",") + "] active " + e.ActiveTokenKey +
		", API callers [" + strings.Join(e.APIAllowedClientIDs, ",") + "]"
}

// Setting names of the Entra group.
const (
	SettingClientID          = "ENTRA_CLIENT_ID"
	SettingClientSecret      = "ENTRA_CLIENT_SECRET"
	SettingAuthorityHost     = "ENTRA_AUTHORITY_HOST"
	SettingAppIDURI          = "ENTRA_APP_ID_URI"
	SettingAPIScope          = "ENTRA_API_SCOPE"
	SettingPublicBaseURL     = "PUBLIC_BASE_URL"
	SettingTokenKeys         = "TOKEN_ENCRYPTION_KEYS"
	SettingActiveTokenKey    = "TOKEN_ENCRYPTION_ACTIVE_KEY"
	SettingReturnToAllowlist = "RETURN_TO_ALLOWLIST"
	SettingDiscoveryURL      = "DYNAMICS_DISCOVERY_URL"
)

// SettingAPIAllowedClientIDs lists the applications that may call the API
// (Entra.APIAllowedClientIDs).
const SettingAPIAllowedClientIDs = "API_ALLOWED_CLIENT_IDS"

func (r *reader) entra() Entra {
	e := Entra{ClientSecret: r.get(SettingClientSecret)}
	switch id := r.get(SettingClientID); {
	case id == "":
		r.problem(SettingClientID, "missing; set it to the Application (client) ID of the app registration")
	case len(id) != 36 || uuid.Validate(id) != nil:
		r.problem(SettingClientID, "%q is not a GUID; copy the Application (client) ID from the app registration's Overview", id)
	default:
		e.ClientID = strings.ToLower(id)
	}
	if e.ClientSecret == "" {
		r.problem(SettingClientSecret, "missing; set it to a client secret of the app registration (in Azure, a Key Vault reference)")
	}
	e.AuthorityHost = r.authorityHost(SettingAuthorityHost)
	if v := r.get(SettingAppIDURI); v != "" {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "api" && u.Scheme != "https") || u.Host == "" {
			r.problem(SettingAppIDURI, "%q is not an Application ID URI like api://<client id>", v)
		} else {
			e.AppIDURI = v
		}
	}
	e.APIScope = r.get(SettingAPIScope)
	if e.APIScope == "" {
		e.APIScope = "access_as_user"
	} else if !scopeName(e.APIScope) {
		r.problem(SettingAPIScope, "%q is not a scope name (letters, digits, '.', '_' and '-'), e.g. access_as_user", e.APIScope)
	}
	e.APIAllowedClientIDs = r.clientIDs(SettingAPIAllowedClientIDs, e.ClientID)
	if base, ok := r.baseURL(SettingPublicBaseURL, true, "the app's public URL, e.g. https://pitcher-connector.azurewebsites.net"); ok {
		e.PublicBaseURL = base
		e.ConsentRedirectURI = base + "/api/consent/callback"
		e.LoginRedirectURI = base + "/api/auth/callback"
	}
	if base, ok := r.baseURL(SettingDiscoveryURL, false, ""); ok {
		e.DiscoveryURL = base
	} else if r.get(SettingDiscoveryURL) == "" {
		e.DiscoveryURL = "https://globaldisco.crm.dynamics.com"
	}
	e.TokenKeys, e.ActiveTokenKey = r.tokenKeys()
	for _, v := range splitList(r.get(SettingReturnToAllowlist)) {
		u, err := url.Parse(v)
		switch {
		case err != nil || u.Scheme == "" || (u.Host == "" && u.Path == ""):
			r.problem(SettingReturnToAllowlist, "%q is not an absolute URL; list entries like https://app.pitcher.com/done or pitcher://auth, separated by commas", v)
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			r.problem(SettingReturnToAllowlist, "%q has user info, a query or a fragment; list only scheme, host and path", v)
		case u.Scheme == "http" && !isLoopback(u.Hostname()):
			r.problem(SettingReturnToAllowlist, "%q uses http; use https (http only for 127.0.0.1 or localhost)", v)
		default:
			e.ReturnToAllowlist = append(e.ReturnToAllowlist, v)
		}
	}
	return e
}

// clientIDs reads a list of Application (client) IDs, lower case and each
// once; unset means only def (none when def is "").
func (r *reader) clientIDs(name, def string) []string {
	raw := r.get(name)
	if raw == "" {
		if def == "" {
			return nil
		}
		return []string{def}
	}
	var ids []string
	for _, v := range splitList(raw) {
		id := strings.ToLower(v)
		switch {
		case len(id) != 36 || uuid.Validate(id) != nil:
			r.problem(name, "%q is not a GUID; list the Application (client) IDs of the Pitcher apps that may call the API (each app registration's Overview), separated by commas", v)
		case !slices.Contains(ids, id):
			ids = append(ids, id)
		}
	}
	return ids
}

// Entra's clouds, for ENTRA_AUTHORITY_HOST.
const (
	PublicCloud = "https://login.microsoftonline.com"
	USGovCloud  = "https://login.microsoftonline.us"
	ChinaCloud  = "https://login.chinacloudapi.cn"
)

// authorityHost reads the Entra cloud: an https URL without a path (http
// only for a simulator on loopback); unset means the public cloud.
func (r *reader) authorityHost(name string) string {
	v := strings.TrimRight(r.get(name), "/")
	if v == "" {
		return PublicCloud
	}
	const clouds = "e.g. " + PublicCloud + " (public), " + USGovCloud + " (US Gov), " + ChinaCloud + " (China), or http://127.0.0.1:7072 (entra-sim)"
	u, err := url.Parse(v)
	switch {
	case err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "":
		r.problem(name, "%q is not an authority host (scheme and host only); %s", v, clouds)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		r.problem(name, "%q uses http; use https (only a simulator on 127.0.0.1 or localhost may use http); %s", v, clouds)
	case u.Scheme != "https" && u.Scheme != "http":
		r.problem(name, "%q is not an https URL; %s", v, clouds)
	default:
		return u.Scheme + "://" + u.Host
	}
	return ""
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	return host == "localhost" || host == "::1" || strings.HasPrefix(host, "127.")
}

// baseURL reads an https URL without path, query or fragment (http only on
// loopback), trimmed of a trailing slash.
func (r *reader) baseURL(name string, required bool, example string) (string, bool) {
	v := strings.TrimRight(r.get(name), "/")
	if v == "" {
		if required {
			r.problem(name, "missing; set it to %s", example)
		}
		return "", false
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" ||
		!(u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())) {
		r.problem(name, "%q is not an https URL without a path (http only for 127.0.0.1 or localhost)", v)
		return "", false
	}
	return u.Scheme + "://" + u.Host, true
}

// tokenKeys reads TOKEN_ENCRYPTION_KEYS ("id:base64key,id2:base64key") and
// the active key id. Messages name key ids, never key material.
func (r *reader) tokenKeys() ([]EncryptionKey, string) {
	raw := r.get(SettingTokenKeys)
	if raw == "" {
		r.problem(SettingTokenKeys, "missing; set it to id:key pairs separated by commas, each key 32 random bytes in base64 (e.g. 2026-01:$(openssl rand -base64 32))")
		return nil, ""
	}
	var keys []EncryptionKey
	seen := map[string]bool{}
	for i, part := range splitList(raw) {
		id, b64, ok := strings.Cut(part, ":")
		id = strings.TrimSpace(id)
		if !ok || !keyID(id) {
			r.problem(SettingTokenKeys, "entry %d has no valid id before ':'; ids are 1 to 32 letters, digits, '.', '_' or '-'", i+1)
			continue
		}
		if seen[id] {
			r.problem(SettingTokenKeys, "key id %q appears twice", id)
			continue
		}
		seen[id] = true
		secret := decodeKey(strings.TrimSpace(b64))
		if len(secret) != 32 {
			r.problem(SettingTokenKeys, "key %q is not 32 bytes in base64; generate one with openssl rand -base64 32", id)
			continue
		}
		keys = append(keys, EncryptionKey{ID: id, Secret: secret})
	}
	active := r.get(SettingActiveTokenKey)
	switch {
	case active == "" && len(keys) == 1:
		active = keys[0].ID
	case active == "" && len(keys) > 1:
		r.problem(SettingActiveTokenKey, "missing; with several keys, name the one that encrypts new tokens")
	case active != "" && !seen[active]:
		r.problem(SettingActiveTokenKey, "%q is not one of the key ids in %s", active, SettingTokenKeys)
	}
	return keys, active
}

func decodeKey(s string) []byte {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b
		}
	}
	return nil
}

func keyID(s string) bool { return len(s) >= 1 && len(s) <= 32 && scopeName(s) }

func scopeName(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
