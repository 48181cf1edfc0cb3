'use strict';
// Claims-based security as Service Bus applies it: a client proves access
// with a CBS put-token for an audience before it attaches a link to an
// entity under that audience. The fake checks the token's shape, type and
// expiry; it does not verify SAS signatures (it holds no keys).

const SAS_TYPE = 'servicebus.windows.net:sastoken';
const JWT_TYPE = 'jwt';

// audiencePath returns the entity path an audience names:
// "amqp://localhost/sync-jobs" -> "sync-jobs", "sb://ns/" -> "".
function audiencePath(audience) {
  try {
    return new URL(audience).pathname.replace(/^\/+|\/+$/g, '').toLowerCase();
  } catch (e) {
    return null;
  }
}

// check validates a put-token request and returns {expiresAt, path}, or
// {status, description} for the CBS response.
function check(type, audience, token, now) {
  if (type !== SAS_TYPE && type !== JWT_TYPE) return { status: 400, description: `unsupported token type ${JSON.stringify(type)}; use ${SAS_TYPE} or ${JWT_TYPE}` };
  const path = typeof audience === 'string' ? audiencePath(audience) : null;
  if (path === null) return { status: 400, description: 'the put-token request has no valid "name" (the audience URI)' };
  if (typeof token !== 'string' || token === '') return { status: 400, description: 'the put-token request carries no token' };
  let expiresAt;
  if (type === SAS_TYPE) {
    if (!token.startsWith('SharedAccessSignature ')) return { status: 401, description: 'InvalidSignature: the token is not a SharedAccessSignature' };
    const fields = new URLSearchParams(token.slice('SharedAccessSignature '.length));
    for (const f of ['sr', 'sig', 'se', 'skn']) {
      if (!fields.get(f)) return { status: 401, description: `InvalidSignature: the token has no ${f}` };
    }
    expiresAt = Number(fields.get('se')) * 1000;
  } else {
    const parts = token.split('.');
    if (parts.length !== 3) return { status: 401, description: 'InvalidToken: a JWT has three parts' };
    try {
      const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
      expiresAt = claims.exp ? claims.exp * 1000 : now + 3600000;
    } catch (e) {
      return { status: 401, description: 'InvalidToken: the JWT payload is not JSON' };
    }
  }
  if (!(expiresAt > now)) return { status: 401, description: 'ExpiredToken: the token is expired' };
  return { expiresAt, path };
}

// covers reports whether one of claims grants access to entity path.
function covers(claims, path, now) {
  const p = path.toLowerCase();
  return claims.some((c) => c.expiresAt > now && (c.path === '' || p === c.path || p.startsWith(c.path + '/')));
}

module.exports = { check, covers };
