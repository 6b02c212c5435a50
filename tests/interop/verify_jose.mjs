#!/usr/bin/env node
// Verify a sigil access token the way a Node.js resource server would: jose's
// createRemoteJWKSet fetches the JWK Set and picks the key by the token's `kid`.
//
// usage: node verify_jose.mjs JWKS_URL ISSUER AUDIENCE TOKEN
//
// Exit status: 0 the token is valid, 3 it was rejected, 2 the verifier itself
// could not run (jose not installed, bad arguments, JWKS unreachable).
// Anything else is a crash.

const VALID = 0;
const USAGE = 2;
const REJECTED = 3;

// Loaded here rather than by a static import, which would fail before any of
// this script runs (exit 1) when `npm ci` has not been run in tests/interop.
let jose;
try {
  jose = await import('jose');
} catch (e) {
  if (e?.code === 'ERR_MODULE_NOT_FOUND') {
    console.error(`cannot run: ${e.message} (run npm ci in tests/interop)`);
    process.exit(USAGE);
  }
  throw e;
}
const { createRemoteJWKSet, errors, jwtVerify } = jose;

const [jwksUrl, issuer, audience, token] = process.argv.slice(2);
if (process.argv.length !== 6) {
  console.error('usage: node verify_jose.mjs JWKS_URL ISSUER AUDIENCE TOKEN');
  process.exit(USAGE);
}

const jwks = createRemoteJWKSet(new URL(jwksUrl));

try {
  const { payload } = await jwtVerify(token, jwks, {
    issuer,
    audience,
    algorithms: ['RS256', 'EdDSA'],
    typ: 'at+jwt',
    clockTolerance: 60,
    requiredClaims: ['exp', 'iat', 'nbf', 'sub', 'jti'],
  });
  console.log(`valid: sub=${payload.sub} scope=${payload.scope ?? ''}`);
  process.exit(VALID);
} catch (e) {
  // A JWK Set that cannot be fetched or read says nothing about the token.
  const verifierFailed = ['ERR_JOSE_GENERIC', 'ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID'];
  if (!(e instanceof errors.JOSEError) || verifierFailed.includes(e.code)) {
    console.error(`verifier failed: ${e.name}: ${e.message}`);
    process.exit(USAGE);
  }
  console.error(`rejected: ${e.code}: ${e.message}`);
  process.exit(REJECTED);
}
