#!/usr/bin/env node
// Use sigil the way a Node.js service would: openid-client (v6) discovers
// sigil from its issuer URL, then obtains, refreshes, introspects and revokes
// tokens, and checks every answer it gets.
//
// usage: node oauth_openid_client.mjs ISSUER
//
// The rest comes from the environment (secrets stay out of the command line):
//   SIGIL_INTEROP_USER_EMAIL, SIGIL_INTEROP_USER_PASSWORD  a user with a password
//   SIGIL_INTEROP_CLIENT_ID, SIGIL_INTEROP_CLIENT_SECRET   a confidential client
//   SIGIL_INTEROP_CLIENT_SCOPE   the client's scopes, space-separated
//   SIGIL_INTEROP_AUDIENCE       the `aud` sigil puts in access tokens
//   SIGIL_INTEROP_PUBLIC_CLIENT_ID  sigil's public client id (default `sigil`)
//
// Exit status: 0 every check passed, 1 a check failed (the failed check is
// printed), 2 the script could not run (openid-client missing, bad arguments,
// sigil unreachable).

const PASSED = 0;
const FAILED = 1;
const CANNOT_RUN = 2;

let client;
try {
  client = await import('openid-client');
} catch (e) {
  if (e?.code === 'ERR_MODULE_NOT_FOUND') {
    console.error(`cannot run: ${e.message} (run npm ci in tests/interop)`);
    process.exit(CANNOT_RUN);
  }
  throw e;
}

class CheckFailed extends Error {}

function check(condition, what, got) {
  if (!condition) {
    throw new CheckFailed(got === undefined ? what : `${what}; got ${JSON.stringify(got)}`);
  }
  console.log(`ok: ${what}`);
}

const sameScopes = (a, b) =>
  [...new Set(String(a ?? '').split(' ').filter(Boolean))].sort().join(' ') ===
  [...new Set(String(b ?? '').split(' ').filter(Boolean))].sort().join(' ');

const audiences = (aud) => (Array.isArray(aud) ? aud : [aud]);

if (process.argv.length !== 3) {
  console.error('usage: node oauth_openid_client.mjs ISSUER (see the header for the environment)');
  process.exit(CANNOT_RUN);
}
const issuer = new URL(process.argv[2]);
const names = {
  email: 'SIGIL_INTEROP_USER_EMAIL',
  password: 'SIGIL_INTEROP_USER_PASSWORD',
  clientId: 'SIGIL_INTEROP_CLIENT_ID',
  clientSecret: 'SIGIL_INTEROP_CLIENT_SECRET',
  clientScope: 'SIGIL_INTEROP_CLIENT_SCOPE',
  audience: 'SIGIL_INTEROP_AUDIENCE',
};
const missing = Object.values(names).filter((v) => !process.env[v]);
if (missing.length > 0) {
  console.error(`cannot run: ${missing.join(', ')} not set`);
  process.exit(CANNOT_RUN);
}
const env = Object.fromEntries(Object.entries(names).map(([k, v]) => [k, process.env[v]]));
env.publicClientId = process.env.SIGIL_INTEROP_PUBLIC_CLIENT_ID || 'sigil';

// The metadata as discovered (set first thing below).
let published;

// http://127.0.0.1 in tests: openid-client refuses plain HTTP unless told.
const insecure = { execute: [client.allowInsecureRequests] };

/** A configuration for `clientId` found by discovery on the issuer. */
async function discover(clientId, secret, auth, algorithm = 'oidc') {
  return client.discovery(issuer, clientId, secret, auth, { ...insecure, algorithm });
}

function checkTokenResponse(tokens, scope, withRefresh, what) {
  check(tokens.token_type === 'bearer', `${what}: token_type is bearer`, tokens.token_type);
  const expiresIn = tokens.expiresIn();
  check(
    Number.isInteger(tokens.expires_in) && expiresIn > 0 && expiresIn <= 24 * 3600,
    `${what}: expires_in is a positive number of seconds`,
    tokens.expires_in,
  );
  check(sameScopes(tokens.scope, scope), `${what}: scope is '${scope}'`, tokens.scope);
  check(tokens.access_token.split('.').length === 3, `${what}: access_token is a compact JWS`);
  if (withRefresh) {
    check(
      typeof tokens.refresh_token === 'string' && tokens.refresh_token.length >= 32,
      `${what}: a refresh token comes with it`,
    );
  } else {
    check(tokens.refresh_token === undefined, `${what}: no refresh token`, tokens.refresh_token);
  }
}

function checkActiveAccessToken(info, sub, clientId, scope, what) {
  check(info.active === true, `${what}: introspects as active`, info);
  check(info.sub === sub, `${what}: sub is ${sub}`, info.sub);
  check(info.client_id === clientId, `${what}: client_id is ${clientId}`, info.client_id);
  check(sameScopes(info.scope, scope), `${what}: scope is '${scope}'`, info.scope);
  check(info.iss === published.issuer, `${what}: iss is the issuer`, info.iss);
  check(audiences(info.aud).includes(env.audience), `${what}: aud is ${env.audience}`, info.aud);
  check(String(info.token_type).toLowerCase() === 'bearer', `${what}: token_type is bearer`, info.token_type);
  check(
    Number.isInteger(info.exp) && Number.isInteger(info.iat) && info.exp > info.iat,
    `${what}: exp after iat`,
    info,
  );
  check(typeof info.jti === 'string' && info.jti !== '', `${what}: has a jti`, info.jti);
}

/** Runs `action`, which must fail with a ResponseBodyError carrying `error`. */
async function expectResponseBodyError(action, error, what) {
  try {
    await action();
  } catch (e) {
    check(
      e instanceof client.ResponseBodyError,
      `${what}: a ResponseBodyError`,
      `${e?.name}: ${e?.message}`,
    );
    check(e.error === error, `${what}: .error is ${error}`, e.error);
    return;
  }
  check(false, `${what} is refused`);
}

async function checkMetadata() {
  const oidc = await discover(env.publicClientId, undefined, client.None(), 'oidc');
  const oauth = await discover(env.publicClientId, undefined, client.None(), 'oauth2');
  const m = oidc.serverMetadata();
  // The same members and values, in whatever order each document has them.
  const canonical = (o) => JSON.stringify(Object.keys(o).sort().map((k) => [k, o[k]]));
  check(
    canonical(m) === canonical(oauth.serverMetadata()),
    'metadata: openid-configuration and oauth-authorization-server agree',
  );
  for (const grant of ['password', 'refresh_token', 'client_credentials']) {
    check(m.grant_types_supported?.includes(grant), `metadata: grant ${grant}`, m.grant_types_supported);
  }
  for (const method of ['none', 'client_secret_basic', 'client_secret_post']) {
    check(
      m.token_endpoint_auth_methods_supported?.includes(method),
      `metadata: token endpoint auth method ${method}`,
      m.token_endpoint_auth_methods_supported,
    );
  }
  check(typeof m.revocation_endpoint === 'string', 'metadata: revocation_endpoint', m.revocation_endpoint);
  check(typeof m.introspection_endpoint === 'string', 'metadata: introspection_endpoint', m.introspection_endpoint);
}

/** Password grant -> refresh -> introspect -> revoke -> introspect. */
async function passwordFlow(introspector) {
  const user = await discover(env.publicClientId, undefined, client.None());
  const first = await client.genericGrantRequest(user, 'password', {
    username: env.email,
    password: env.password,
  });
  checkTokenResponse(first, 'profile', true, 'password grant');
  const meAnswer = await client.fetchProtectedResource(
    user,
    first.access_token,
    new URL('/me', issuer),
    'GET',
  );
  const me = await meAnswer.json();
  check(meAnswer.status === 200 && me.email === env.email, 'password grant: the access token opens /me', me);

  const refreshed = await client.refreshTokenGrant(user, first.refresh_token);
  checkTokenResponse(refreshed, 'profile', true, 'refresh');
  check(refreshed.refresh_token !== first.refresh_token, 'refresh: a new refresh token replaces the old one');

  let info = await client.tokenIntrospection(introspector, refreshed.access_token, {
    token_type_hint: 'access_token',
  });
  checkActiveAccessToken(info, me.id, env.publicClientId, 'profile', "user's access token");
  check(info.username === env.email, "user's access token: username is the email", info.username);
  info = await client.tokenIntrospection(introspector, refreshed.refresh_token, {
    token_type_hint: 'refresh_token',
  });
  check(info.active === true, "user's refresh token: introspects as active", info);
  check(info.sub === me.id, "user's refresh token: sub is the user", info.sub);
  // A public client revokes its refresh token (no client authentication):
  // the whole family goes, the used-up first token of it too.
  await client.tokenRevocation(user, refreshed.refresh_token, { token_type_hint: 'refresh_token' });
  info = await client.tokenIntrospection(introspector, refreshed.refresh_token);
  check(info.active === false, 'the revoked refresh token introspects as inactive', info);
  info = await client.tokenIntrospection(introspector, first.refresh_token);
  check(info.active === false, "the family's used-up refresh token introspects as inactive", info);
  await expectResponseBodyError(
    () => client.refreshTokenGrant(user, refreshed.refresh_token),
    'invalid_grant',
    'refreshing with the revoked refresh token',
  );
  // Revoking garbage is still 200 (RFC 7009 §2.2): tokenRevocation throws otherwise.
  await client.tokenRevocation(user, 'not-a-token');
}

/** Client credentials -> introspect -> revoke -> introspect. */
async function clientCredentialsFlow(auth, name) {
  const service = await discover(env.clientId, env.clientSecret, auth);
  const what = `client_credentials (${name})`;
  const tokens = await client.clientCredentialsGrant(service);
  checkTokenResponse(tokens, env.clientScope, false, what);
  let info = await client.tokenIntrospection(service, tokens.access_token);
  checkActiveAccessToken(info, env.clientId, env.clientId, env.clientScope, `${what} token`);
  check(info.username === undefined, `${what} token: no username`, info.username);

  const narrow = env.clientScope.split(' ')[0];
  const narrowed = await client.clientCredentialsGrant(service, { scope: narrow });
  checkTokenResponse(narrowed, narrow, false, `${what} with scope ${narrow}`);

  await client.tokenRevocation(service, tokens.access_token, { token_type_hint: 'access_token' });
  info = await client.tokenIntrospection(service, tokens.access_token);
  check(info.active === false, `${what}: the revoked access token introspects as inactive`, info);
  info = await client.tokenIntrospection(service, narrowed.access_token);
  check(info.active === true, `${what}: another token of the client stays active`, info);
}

/** Failed grants surface as openid-client's own errors with the RFC 6749 code. */
async function failures() {
  const user = await discover(env.publicClientId, undefined, client.None());
  await expectResponseBodyError(
    () => client.genericGrantRequest(user, 'password', { username: env.email, password: `${env.password}-wrong` }),
    'invalid_grant',
    'a wrong password',
  );
  const wrongPost = await discover(env.clientId, `${env.clientSecret}x`, client.ClientSecretPost());
  await expectResponseBodyError(
    () => client.clientCredentialsGrant(wrongPost),
    'invalid_client',
    'a wrong client secret (client_secret_post)',
  );
  // With Basic, sigil answers 401 with `WWW-Authenticate: Basic` (RFC 6749
  // §5.2), which openid-client reports as a challenge before the body.
  const wrongBasic = await discover(env.clientId, `${env.clientSecret}x`, client.ClientSecretBasic());
  try {
    await client.clientCredentialsGrant(wrongBasic);
    check(false, 'a wrong client secret (client_secret_basic) is refused');
  } catch (e) {
    if (e instanceof CheckFailed) throw e;
    check(
      e instanceof client.WWWAuthenticateChallengeError,
      'a wrong client secret (client_secret_basic): a WWWAuthenticateChallengeError',
      `${e?.name}: ${e?.message}`,
    );
    check(e.status === 401, 'a wrong client secret (client_secret_basic): 401', e.status);
    check(
      e.cause.some((c) => c.scheme === 'basic'),
      'a wrong client secret (client_secret_basic): the challenge is Basic',
      e.cause,
    );
    const body = await e.response.json();
    check(body.error === 'invalid_client', 'a wrong client secret (client_secret_basic): error is invalid_client', body);
  }
  const service = await discover(env.clientId, env.clientSecret, client.ClientSecretBasic());
  await expectResponseBodyError(
    () => client.clientCredentialsGrant(service, { scope: 'admin' }),
    'invalid_scope',
    'a scope the client lacks',
  );
}

try {
  try {
    published = (await discover(env.publicClientId, undefined, client.None())).serverMetadata();
  } catch (e) {
    console.error(`cannot run: discovery on ${issuer.href}: ${e?.name}: ${e?.message}`);
    process.exit(CANNOT_RUN);
  }
  await checkMetadata();
  const introspector = await discover(env.clientId, env.clientSecret, client.ClientSecretBasic());
  await passwordFlow(introspector);
  await clientCredentialsFlow(client.ClientSecretBasic(), 'client_secret_basic');
  await clientCredentialsFlow(client.ClientSecretPost(), 'client_secret_post');
  await failures();
  console.log('all openid-client checks passed');
  process.exit(PASSED);
} catch (e) {
  if (e instanceof CheckFailed) {
    console.error(`FAILED: ${e.message}`);
  } else {
    const detail = e?.cause ? ` (${JSON.stringify(e.cause)})` : '';
    console.error(`FAILED: unexpected ${e?.name}: ${e?.message}${detail}`);
  }
  process.exit(FAILED);
}
