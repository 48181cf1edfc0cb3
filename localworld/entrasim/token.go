package entrasim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// graphAudience is the audience of a token that names no other resource.
const graphAudience = "00000003-0000-0000-c000-000000000000"

// token is /{tenant}/oauth2/v2.0/token
// (docs/reference/entra-multitenant-oauth.md §2.4-§2.6, §4.1).
func (s *Sim) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		s.writeTokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.writeTokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body could not be parsed.")
		return
	}
	seg := r.PathValue("tenant")
	tenant, ok := s.resolveTenant(seg)
	if !ok {
		s.writeTokenError(w, http.StatusBadRequest, "invalid_request", 90002, "Tenant '"+seg+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
		return
	}
	client, ok := s.authenticateClient(w, r)
	if !ok {
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		s.redeemCode(w, r, client, strings.ToLower(seg))
	case "refresh_token":
		s.redeemRefresh(w, r, client, tenant)
	case "client_credentials":
		s.clientCredentials(w, r, client, tenant, seg)
	case "":
		s.writeTokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
	default:
		s.writeTokenError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+r.PostForm.Get("grant_type")+"'.")
	}
}

// authenticateClient checks client_id and, for a confidential client, its
// secret (in the body or with HTTP Basic). The caller holds s.mu.
func (s *Sim) authenticateClient(w http.ResponseWriter, r *http.Request) (*Client, bool) {
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if bid, bsecret, ok := r.BasicAuth(); ok {
		id, secret = bid, bsecret
	}
	if id == "" {
		s.writeTokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return nil, false
	}
	c := s.clients[id]
	if c == nil {
		s.writeTokenError(w, http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier '"+id+"' was not found in the directory.")
		return nil, false
	}
	if c.Secret == "" {
		return c, true
	}
	if secret == "" {
		s.writeTokenError(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return nil, false
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
		s.writeTokenError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+id+"'.")
		return nil, false
	}
	return c, true
}

func (s *Sim) redeemCode(w http.ResponseWriter, r *http.Request, client *Client, tenantPath string) {
	f := r.PostForm
	c := s.codes[f.Get("code")]
	switch {
	case f.Get("code") == "":
		s.writeTokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'code'.")
	case c == nil || c.client != client.ClientID:
		s.writeTokenError(w, http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
	case c.used:
		s.writeTokenError(w, http.StatusBadRequest, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	case s.now().After(c.expires):
		s.writeTokenError(w, http.StatusBadRequest, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
	case c.tenantPath != tenantPath:
		s.writeTokenError(w, http.StatusBadRequest, "invalid_grant", 700005, "Provided Authorization Code is intended to use against other tenant, thus rejected.")
	case f.Get("redirect_uri") != c.redirectURI:
		s.writeTokenError(w, http.StatusBadRequest, "invalid_grant", 500117, "The reply uri specified in the request does not match the reply uri used in the authorization request.")
	case c.challenge != "" && !pkceMatches(c.challenge, c.method, f.Get("code_verifier")):
		s.writeTokenError(w, http.StatusBadRequest, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
	default:
		c.used = true
		s.stats.CodesRedeemed++
		s.issue(w, client, c.user, c.scopes, c.nonce)
	}
}

func pkceMatches(challenge, method, verifier string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	want := verifier
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

func (s *Sim) redeemRefresh(w http.ResponseWriter, r *http.Request, client *Client, tenant *Tenant) {
	f := r.PostForm
	g := s.rts[f.Get("refresh_token")]
	switch {
	case f.Get("refresh_token") == "":
		s.writeTokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'refresh_token'.")
		return
	case g == nil || g.client != client.ClientID:
		s.writeTokenError(w, http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
		return
	case !g.issued.After(g.user.revokedBefore):
		s.writeTokenError(w, http.StatusBadRequest, "invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.")
		return
	case s.now().After(g.expires):
		s.writeTokenError(w, http.StatusBadRequest, "invalid_grant", 700082, "The refresh token has expired due to inactivity. The token was issued on "+g.issued.UTC().Format(time.RFC3339)+" and was inactive for 90.00:00:00.")
		return
	case tenant != nil && g.user.tenant != tenant:
		s.writeTokenError(w, http.StatusBadRequest, "invalid_grant", 50020, "User account '"+g.user.UPN+"' does not exist in tenant '"+tenant.Name+"'.")
		return
	case g.user.mfaRequired:
		e := s.newTokenError("interaction_required", 50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '"+g.resource+"'.")
		e.SubError = "basic_action"
		e.Claims = `{"access_token":{"capolids":{"essential":true,"values":["00000000-0000-0000-0000-000000000001"]}}}`
		writeJSON(w, http.StatusBadRequest, e)
		return
	case !g.user.consented(client.ClientID):
		s.writeTokenError(w, http.StatusBadRequest, "invalid_grant", 65001, "The user or administrator has not consented to use the application with ID '"+client.ClientID+"' named '"+client.Name+"'. Send an interactive authorization request for this user and resource.")
		return
	}
	scopes := strings.Fields(f.Get("scope"))
	if resourceOf(scopes) == "" {
		scopes = append(scopes, g.resource+"/user_impersonation")
	}
	if !contains(scopes, "offline_access") {
		scopes = append(scopes, "offline_access")
	}
	s.stats.Refreshes[g.user.UPN]++
	s.issue(w, client, g.user, scopes, "")
}

func (s *Sim) clientCredentials(w http.ResponseWriter, r *http.Request, client *Client, tenant *Tenant, seg string) {
	scope := r.PostForm.Get("scope")
	switch {
	case tenant == nil:
		s.writeTokenError(w, http.StatusBadRequest, "invalid_request", 9001023, "The grant type isn't supported over the /"+seg+" endpoint. Please use the tenant-specific endpoint.")
		return
	case client.Secret == "":
		s.writeTokenError(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	case !strings.HasSuffix(scope, "/.default") || len(strings.Fields(scope)) != 1:
		s.writeTokenError(w, http.StatusBadRequest, "invalid_scope", 1002012, "The provided value for scope "+scope+" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
		return
	case !tenant.provisioned[client.ClientID]:
		// Entra issues app-only tokens wherever the app has a service
		// principal, which one user's own consent creates
		// (docs/reference/entra-multitenant-oauth.md §1.3): an app token
		// proves nothing about an administrator's approval.
		s.writeTokenError(w, http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier '"+client.ClientID+"' was not found in the directory '"+tenant.Name+"'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.")
		return
	}
	s.stats.ClientCredentials++
	resource := strings.TrimSuffix(scope, "/.default")
	now := s.now()
	sp := uuid.NewSHA1(uuid.NameSpaceOID, []byte(tenant.ID+"/"+client.ClientID)).String()
	at := s.sign(jwt.MapClaims{"aud": s.audience(resource), "iss": s.issuer(tenant.ID), "tid": tenant.ID, "oid": sp, "sub": sp,
		"azp": client.ClientID, "appid": client.ClientID, "idtyp": "app", "roles": []string{}, "ver": "2.0",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(s.AccessTokenLifetime).Unix(), "uti": uuid.NewString()})
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": int(s.AccessTokenLifetime.Seconds()),
		"ext_expires_in": int(s.AccessTokenLifetime.Seconds()), "access_token": at})
}

// issue answers a successful code or refresh redemption: an access token
// for the scopes' resource, an ID token if openid was asked for, and a new
// refresh token if offline_access was. The caller holds s.mu.
func (s *Sim) issue(w http.ResponseWriter, client *Client, user *User, scopes []string, nonce string) {
	now := s.now()
	resource := resourceOf(scopes)
	perms := permissionsOf(scopes, resource)
	if resource == "" {
		resource, perms = "https://graph.microsoft.com", []string{"User.Read"}
	}
	body := map[string]any{"token_type": "Bearer", "scope": strings.Join(scopes, " "),
		"expires_in": int(s.AccessTokenLifetime.Seconds()), "ext_expires_in": int(s.AccessTokenLifetime.Seconds()),
		"access_token": s.accessToken(client.ClientID, user, resource, perms, now)}
	if contains(scopes, "openid") {
		claims := jwt.MapClaims{"aud": client.ClientID, "iss": s.issuer(user.tenant.ID), "tid": user.tenant.ID,
			"sub": pairwise(user, client.ClientID), "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "ver": "2.0"}
		if contains(scopes, "profile") {
			claims["oid"], claims["name"], claims["preferred_username"] = user.ObjectID, user.Name, user.UPN
		}
		if client.emitsDirectoryRoles() {
			claims["wids"] = user.directoryRoles()
		}
		if nonce != "" {
			claims["nonce"] = nonce
		}
		body["id_token"] = s.sign(claims)
	}
	if contains(scopes, "offline_access") {
		rt := randomToken()
		s.rts[rt] = &refreshGrant{client: client.ClientID, user: user, resource: resource, issued: now, expires: now.Add(s.RefreshTokenLifetime)}
		body["refresh_token"] = rt
	}
	writeJSON(w, http.StatusOK, body)
}

// accessToken signs a delegated access token. The caller holds s.mu.
func (s *Sim) accessToken(azp string, user *User, resource string, perms []string, now time.Time) string {
	return s.sign(jwt.MapClaims{"aud": s.audience(resource), "iss": s.issuer(user.tenant.ID), "tid": user.tenant.ID,
		"oid": user.ObjectID, "sub": pairwise(user, azp), "azp": azp, "scp": strings.Join(perms, " "),
		"name": user.Name, "preferred_username": user.UPN, "ver": "2.0", "idtyp": "user",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(s.AccessTokenLifetime).Unix(), "uti": uuid.NewString()})
}

// audience is the aud of a token for resource: a registered app's API gets
// its client id (v2 tokens), anything else (Dynamics) the resource URL.
func (s *Sim) audience(resource string) string {
	for _, c := range s.clients {
		if resource == c.ClientID || (c.AppIDURI != "" && resource == c.AppIDURI) {
			return c.ClientID
		}
	}
	if resource == "https://graph.microsoft.com" {
		return graphAudience
	}
	return resource
}

func pairwise(u *User, client string) string {
	sum := sha256.Sum256([]byte(u.ObjectID + "|" + client))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
