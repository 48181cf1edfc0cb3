// A real OAuth 2.0 / OpenID Connect server for the tests' second opinion
// (docs/reference/entra-multitenant-oauth.md §6.1): panva's oidc-provider
// with one confidential client, PKCE, refresh-token rotation and development
// log-in forms.
//
//   node localworld/oidc-provider/server.mjs PORT
//
// Any login name is accepted as the subject; the password is ignored.
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || process.env.PORT || 0);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node localworld/oidc-provider/server.mjs PORT');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'app',
    client_secret: 'app-secret',
    redirect_uris: ['http://127.0.0.1:8080/cb'],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  cookies: { keys: ['second-opinion-test-cookie-key'] },
  claims: { openid: ['sub'], profile: ['name', 'tid', 'oid', 'preferred_username'] },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, name: sub, tid: 'tenant-a', oid: `oid-${sub}`, preferred_username: `${sub}@example.test` };
      },
    };
  },
  conformIdTokenClaims: false,
  rotateRefreshToken: true,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  ttl: { AccessToken: 60, AuthorizationCode: 60, RefreshToken: 3600, IdToken: 3600, Grant: 3600, Session: 3600, Interaction: 600 },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening at ${issuer}`);
});
