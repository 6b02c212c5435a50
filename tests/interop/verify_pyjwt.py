#!/usr/bin/env python3
"""Verify a sigil access token the way a Python resource server would: PyJWT's
PyJWKClient fetches the JWK Set and picks the key by the token's `kid`.

usage: verify_pyjwt.py JWKS_URL ISSUER AUDIENCE TOKEN

Exit status: 0 the token is valid, 3 it was rejected, 2 the verifier itself
could not run (PyJWT or cryptography not installed, bad arguments, JWKS
unreachable). Anything else is a crash.
"""

import sys

VALID, USAGE, REJECTED = 0, 2, 3

try:
    import jwt
    from jwt.algorithms import has_crypto
except ImportError as e:
    print(f"cannot run: {e} (install tests/interop/requirements.txt)", file=sys.stderr)
    sys.exit(USAGE)
if not has_crypto:
    # Without it PyJWT knows neither RS256 nor EdDSA, and would reject every token.
    print(
        "cannot run: PyJWT has no cryptography (install tests/interop/requirements.txt)",
        file=sys.stderr,
    )
    sys.exit(USAGE)

# The algorithms sigil signs with; the key's own algorithm must be one of them.
ALLOWED_ALGORITHMS = {"RS256", "EdDSA"}


def verify(jwks_url: str, issuer: str, audience: str, token: str) -> dict:
    signing_key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
    # The algorithm comes from the published key, never from the token header.
    algorithm = signing_key.algorithm_name
    if algorithm not in ALLOWED_ALGORITHMS:
        raise jwt.InvalidAlgorithmError(f"key algorithm {algorithm} is not allowed")
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=[algorithm],
        issuer=issuer,
        audience=audience,
        leeway=60,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
    )
    # PyJWT has no typ option; the header is covered by the signature just checked.
    typ = jwt.get_unverified_header(token).get("typ")
    if typ != "at+jwt":
        raise jwt.InvalidTokenError(f"typ is {typ!r}, expected 'at+jwt'")
    return claims


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(__doc__.strip().splitlines()[3], file=sys.stderr)
        return USAGE
    _, jwks_url, issuer, audience, token = argv
    try:
        claims = verify(jwks_url, issuer, audience, token)
    except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError) as e:
        # A JWK Set that cannot be fetched or read says nothing about the token.
        print(f"verifier failed: {type(e).__name__}: {e}", file=sys.stderr)
        return USAGE
    except jwt.PyJWTError as e:
        print(f"rejected: {type(e).__name__}: {e}", file=sys.stderr)
        return REJECTED
    print(f"valid: sub={claims['sub']} scope={claims.get('scope', '')}")
    return VALID


if __name__ == "__main__":
    sys.exit(main(sys.argv))
