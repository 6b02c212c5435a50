#!/usr/bin/env python3
"""Use sigil the way a Python service would: authlib's OAuth2Session (on
requests), pointed at sigil's RFC 8414 metadata, obtains, refreshes,
introspects and revokes tokens, and checks every answer it gets.

usage: oauth_authlib.py METADATA_URL

The rest comes from the environment (secrets stay out of the command line):
  SIGIL_INTEROP_USER_EMAIL, SIGIL_INTEROP_USER_PASSWORD  a user with a password
  SIGIL_INTEROP_CLIENT_ID, SIGIL_INTEROP_CLIENT_SECRET   a confidential client
  SIGIL_INTEROP_CLIENT_SCOPE   the client's scopes, space-separated
  SIGIL_INTEROP_AUDIENCE       the `aud` sigil puts in access tokens
  SIGIL_INTEROP_PUBLIC_CLIENT_ID  sigil's public client id (default `sigil`)

Exit status: 0 every check passed, 1 a check failed (the failed check is
printed), 2 the script could not run (authlib or requests missing, bad
arguments, metadata unreachable).
"""

import os
import sys

PASSED, FAILED, CANNOT_RUN = 0, 1, 2

try:
    import requests
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.requests_client import OAuth2Session
except ImportError as e:
    print(f"cannot run: {e} (install tests/interop/requirements.txt)", file=sys.stderr)
    sys.exit(CANNOT_RUN)


class CheckFailed(Exception):
    """A check on one of sigil's answers failed."""


def check(condition: bool, what: str, got=None) -> None:
    if not condition:
        raise CheckFailed(what if got is None else f"{what}; got {got!r}")
    print(f"ok: {what}")


def audiences(claims: dict) -> list:
    aud = claims.get("aud")
    return aud if isinstance(aud, list) else [aud]


def check_token_response(token: dict, scope: str, with_refresh: bool, what: str) -> None:
    check(str(token.get("token_type", "")).lower() == "bearer", f"{what}: token_type is bearer", token.get("token_type"))
    expires_in = token.get("expires_in")
    check(isinstance(expires_in, int) and 0 < expires_in <= 24 * 3600, f"{what}: expires_in is a positive number of seconds", expires_in)
    check(set(str(token.get("scope", "")).split()) == set(scope.split()), f"{what}: scope is {scope!r}", token.get("scope"))
    check(isinstance(token.get("access_token"), str) and token["access_token"].count(".") == 2, f"{what}: access_token is a compact JWS")
    if with_refresh:
        check(isinstance(token.get("refresh_token"), str) and len(token["refresh_token"]) >= 32, f"{what}: a refresh token comes with it")
    else:
        check("refresh_token" not in token, f"{what}: no refresh token", token.get("refresh_token"))


class Sigil:
    """sigil as the metadata describes it."""

    def __init__(self, metadata_url: str):
        self.metadata_url = metadata_url
        answer = requests.get(metadata_url, timeout=10)
        answer.raise_for_status()
        self.metadata = answer.json()
        for member in ("issuer", "token_endpoint", "revocation_endpoint", "introspection_endpoint"):
            if not isinstance(self.metadata.get(member), str):
                raise CheckFailed(f"the metadata has no {member}: {self.metadata}")
        self.issuer = self.metadata["issuer"]
        self.token_endpoint = self.metadata["token_endpoint"]
        self.revocation_endpoint = self.metadata["revocation_endpoint"]
        self.introspection_endpoint = self.metadata["introspection_endpoint"]

    def check_metadata(self) -> None:
        m = self.metadata
        check(self.metadata_url.startswith(m["issuer"] + "/.well-known/"), "metadata: served under its own issuer", m["issuer"])
        for grant in ("password", "refresh_token", "client_credentials"):
            check(grant in m.get("grant_types_supported", []), f"metadata: grant {grant} is supported", m.get("grant_types_supported"))
        for method in ("none", "client_secret_basic", "client_secret_post"):
            check(method in m.get("token_endpoint_auth_methods_supported", []), f"metadata: token endpoint auth method {method}", m.get("token_endpoint_auth_methods_supported"))
        for endpoint in ("revocation", "introspection"):
            methods = m.get(f"{endpoint}_endpoint_auth_methods_supported", [])
            check("client_secret_basic" in methods, f"metadata: {endpoint} accepts client_secret_basic", methods)

    def introspect(self, client: OAuth2Session, token: str, hint: str) -> dict:
        answer = client.introspect_token(self.introspection_endpoint, token=token, token_type_hint=hint)
        check(answer.status_code == 200, f"introspection ({hint}) answers 200", f"{answer.status_code} {answer.text}")
        return answer.json()

    def revoke(self, client: OAuth2Session, token: str, hint: str) -> None:
        answer = client.revoke_token(self.revocation_endpoint, token=token, token_type_hint=hint)
        check(answer.status_code == 200, f"revocation ({hint}) answers 200", f"{answer.status_code} {answer.text}")


def confidential(env: dict, method: str) -> OAuth2Session:
    return OAuth2Session(
        client_id=env["client_id"],
        client_secret=env["client_secret"],
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
    )


def check_active_access_token(info: dict, sigil: Sigil, env: dict, sub: str, client_id: str, scope: str, what: str) -> None:
    check(info.get("active") is True, f"{what}: introspects as active", info)
    check(info.get("sub") == sub, f"{what}: sub is {sub}", info.get("sub"))
    check(info.get("client_id") == client_id, f"{what}: client_id is {client_id}", info.get("client_id"))
    check(set(str(info.get("scope", "")).split()) == set(scope.split()), f"{what}: scope is {scope!r}", info.get("scope"))
    check(info.get("iss") == sigil.issuer, f"{what}: iss is the issuer", info.get("iss"))
    check(env["audience"] in audiences(info), f"{what}: aud is {env['audience']}", info.get("aud"))
    check(str(info.get("token_type", "")).lower() == "bearer", f"{what}: token_type is bearer", info.get("token_type"))
    check(isinstance(info.get("exp"), int) and isinstance(info.get("iat"), int) and info["exp"] > info["iat"], f"{what}: exp after iat", info)
    check(isinstance(info.get("jti"), str) and info["jti"] != "", f"{what}: has a jti", info.get("jti"))


def password_flow(sigil: Sigil, env: dict) -> None:
    """Password grant -> refresh -> introspect -> revoke -> introspect."""
    user = OAuth2Session(client_id=env["public_client_id"], token_endpoint_auth_method="none", revocation_endpoint_auth_method="none")
    first = user.fetch_token(sigil.token_endpoint, grant_type="password", username=env["email"], password=env["password"])
    check_token_response(first, "profile", True, "password grant")
    # The session now sends the token as a bearer: /me names the user.
    me = user.get(sigil.issuer + "/me", timeout=10)
    check(me.status_code == 200 and me.json().get("email") == env["email"], "password grant: the access token opens /me", me.text)
    sub = me.json()["id"]

    refreshed = user.refresh_token(sigil.token_endpoint, refresh_token=first["refresh_token"])
    check_token_response(refreshed, "profile", True, "refresh")
    check(refreshed["refresh_token"] != first["refresh_token"], "refresh: a new refresh token replaces the old one")
    check(refreshed["access_token"] != first["access_token"], "refresh: a new access token")

    introspector = confidential(env, "client_secret_basic")
    info = sigil.introspect(introspector, refreshed["access_token"], "access_token")
    check_active_access_token(info, sigil, env, sub, env["public_client_id"], "profile", "user's access token")
    check(info.get("username") == env["email"], "user's access token: username is the email", info.get("username"))
    info = sigil.introspect(introspector, refreshed["refresh_token"], "refresh_token")
    check(info.get("active") is True, "user's refresh token: introspects as active", info)
    check(info.get("sub") == sub, "user's refresh token: sub is the user", info.get("sub"))
    # A public client revokes its refresh token (no client authentication):
    # the whole family goes, the used-up first token of it too.
    sigil.revoke(user, refreshed["refresh_token"], "refresh_token")
    info = sigil.introspect(introspector, refreshed["refresh_token"], "refresh_token")
    check(info == {"active": False}, "the revoked refresh token introspects as exactly {active: false}", info)
    info = sigil.introspect(introspector, first["refresh_token"], "refresh_token")
    check(info == {"active": False}, "the family's used-up refresh token introspects as inactive", info)
    try:
        user.refresh_token(sigil.token_endpoint, refresh_token=refreshed["refresh_token"])
        check(False, "refreshing with the revoked refresh token fails")
    except OAuthError as e:
        check(e.error == "invalid_grant", "refreshing with the revoked refresh token: invalid_grant", e.error)

    # Revoking garbage is still 200 (RFC 7009 §2.2).
    sigil.revoke(user, "not-a-token", "refresh_token")


def client_credentials_flow(sigil: Sigil, env: dict, method: str) -> None:
    """Client credentials -> introspect -> revoke -> introspect."""
    client = confidential(env, method)
    token = client.fetch_token(sigil.token_endpoint, grant_type="client_credentials")
    what = f"client_credentials ({method})"
    check_token_response(token, env["client_scope"], False, what)
    info = sigil.introspect(client, token["access_token"], "access_token")
    check_active_access_token(info, sigil, env, env["client_id"], env["client_id"], env["client_scope"], f"{what} token")
    check("username" not in info, f"{what} token: no username", info.get("username"))

    narrow = env["client_scope"].split()[0]
    narrowed = client.fetch_token(sigil.token_endpoint, grant_type="client_credentials", scope=narrow)
    check_token_response(narrowed, narrow, False, f"{what} with scope {narrow}")

    sigil.revoke(client, token["access_token"], "access_token")
    info = sigil.introspect(client, token["access_token"], "access_token")
    check(info == {"active": False}, f"{what}: the revoked access token introspects as inactive", info)
    info = sigil.introspect(client, narrowed["access_token"], "access_token")
    check(info.get("active") is True, f"{what}: another token of the client stays active", info)


def failures(sigil: Sigil, env: dict) -> None:
    """Failed grants surface as authlib's own error with the RFC 6749 code."""
    user = OAuth2Session(client_id=env["public_client_id"], token_endpoint_auth_method="none")
    try:
        user.fetch_token(sigil.token_endpoint, grant_type="password", username=env["email"], password=env["password"] + "-wrong")
        check(False, "a wrong password is refused")
    except OAuthError as e:
        check(e.error == "invalid_grant", "a wrong password: OAuthError.error is invalid_grant", e.error)
    for method in ("client_secret_basic", "client_secret_post"):
        wrong = OAuth2Session(
            client_id=env["client_id"],
            client_secret=env["client_secret"] + "x",
            token_endpoint_auth_method=method,
        )
        try:
            wrong.fetch_token(sigil.token_endpoint, grant_type="client_credentials")
            check(False, f"a wrong client secret ({method}) is refused")
        except OAuthError as e:
            check(e.error == "invalid_client", f"a wrong client secret ({method}): OAuthError.error is invalid_client", e.error)
    client = confidential(env, "client_secret_basic")
    try:
        client.fetch_token(sigil.token_endpoint, grant_type="client_credentials", scope="admin")
        check(False, "a scope the client lacks is refused")
    except OAuthError as e:
        check(e.error == "invalid_scope", "a scope the client lacks: OAuthError.error is invalid_scope", e.error)


def main(argv: list) -> int:
    if len(argv) != 2:
        print("usage: oauth_authlib.py METADATA_URL (see the docstring for the environment)", file=sys.stderr)
        return CANNOT_RUN
    metadata_url = argv[1]
    names = {
        "email": "SIGIL_INTEROP_USER_EMAIL",
        "password": "SIGIL_INTEROP_USER_PASSWORD",
        "client_id": "SIGIL_INTEROP_CLIENT_ID",
        "client_secret": "SIGIL_INTEROP_CLIENT_SECRET",
        "client_scope": "SIGIL_INTEROP_CLIENT_SCOPE",
        "audience": "SIGIL_INTEROP_AUDIENCE",
    }
    missing = [v for v in names.values() if not os.environ.get(v)]
    if missing:
        print(f"cannot run: {', '.join(missing)} not set", file=sys.stderr)
        return CANNOT_RUN
    env = {k: os.environ[v] for k, v in names.items()}
    env["public_client_id"] = os.environ.get("SIGIL_INTEROP_PUBLIC_CLIENT_ID") or "sigil"
    try:
        sigil = Sigil(metadata_url)
    except (requests.RequestException, ValueError) as e:
        print(f"cannot run: metadata at {metadata_url}: {e}", file=sys.stderr)
        return CANNOT_RUN
    try:
        sigil.check_metadata()
        password_flow(sigil, env)
        client_credentials_flow(sigil, env, "client_secret_basic")
        client_credentials_flow(sigil, env, "client_secret_post")
        failures(sigil, env)
    except CheckFailed as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return FAILED
    except (OAuthError, requests.RequestException, KeyError, ValueError) as e:
        print(f"FAILED: unexpected {type(e).__name__}: {e}", file=sys.stderr)
        return FAILED
    print("all authlib checks passed")
    return PASSED


if __name__ == "__main__":
    sys.exit(main(sys.argv))
