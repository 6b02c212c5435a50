#!/usr/bin/env bash
# Checks the running API against its own OpenAPI document with schemathesis.
#
# Builds sigil (debug), starts it on a free port with a throw-away database and
# keys folder and cheap argon2, creates an administrator and logs in so that
# the bearer routes are exercised too, then lets schemathesis generate
# requests for every documented operation and check each answer: no 5xx, the
# status, content type, headers and body as documented. A second run sends
# the client-authenticated operations (token endpoint, revocation,
# introspection) with HTTP Basic of a confidential client made through
# POST /admin/clients. Stops the server and exits non-zero when any check
# failed.
#
# `cargo test` runs this script (tests/api/interop/contract.rs) when schemathesis is
# installed; `--install` only installs it, as .ci/run does.
#
# Usage: scripts/schemathesis.sh [--install] [--help]
# Environment:
#   SCHEMATHESIS_EXAMPLES  test cases per operation and phase (default 100)
#   SCHEMATHESIS_SEED      fix the random seed, to replay a failing run
#   SIGIL_BIN              a sigil binary to check instead of building one
set -euo pipefail

usage() {
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
}
INSTALL_ONLY=""
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  --install) INSTALL_ONLY=1 ;;
  "") ;;
  *) usage >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Pinned so a new release cannot change what CI checks without a commit here.
SCHEMATHESIS_VERSION="4.32.5"
VENV="$ROOT/target/schemathesis-venv"
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-100}"

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "version $SCHEMATHESIS_VERSION\$"; then
  echo "== installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv --clear "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
PY="$VENV/bin/python"
if [ -n "$INSTALL_ONLY" ]; then
  echo "schemathesis $SCHEMATHESIS_VERSION is in $VENV"
  exit 0
fi

if [ -n "${SIGIL_BIN:-}" ]; then
  BIN="$SIGIL_BIN"
else
  echo "== building sigil"
  cargo build --locked --quiet --manifest-path "$ROOT/Cargo.toml" --bin sigil
  BIN="$ROOT/target/debug/sigil"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sigil-schemathesis.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  cd /
  rm -rf "$WORK"
}
trap cleanup EXIT

# Only what the server needs: nothing from the caller's SIGIL_* variables, and
# no .env file (sigil reads one from its working folder, the empty $WORK).
cd "$WORK"
SIGIL_ENV=(PATH="$PATH" HOME="$WORK" RUST_LOG=info
  SIGIL_DATABASE_URL="sqlite://$WORK/sigil.db"
  SIGIL_KEYS_DIR="$WORK/keys"
  SIGIL_PID_FILE="$WORK/sigil.pid"
  SIGIL_ARGON2_MEMORY_KIB=256
  SIGIL_ARGON2_ITERATIONS=1
  SIGIL_SCOPES="orders:read orders:write"
  SIGIL_LOG_FORMAT=json)

echo "== starting sigil"
env -i "${SIGIL_ENV[@]}" "$BIN" serve --bind 127.0.0.1:0 2>"$WORK/server.log" &
SERVER_PID=$!

# The server logs `{"address": "127.0.0.1:PORT", ...}` once it listens.
ADDRESS="$("$PY" - "$WORK/server.log" "$SERVER_PID" <<'EOF'
import json, os, sys, time
log, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    with open(log) as lines:
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "address" in event:
                print(event["address"])
                sys.exit(0)
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("sigil exited before listening")
    time.sleep(0.2)
sys.exit("sigil did not report its address within 60 s")
EOF
)" || { cat "$WORK/server.log" >&2; exit 1; }
BASE="http://$ADDRESS"
echo "   listening on $BASE"

ADMIN_EMAIL="admin@schemathesis.test"
ADMIN_PASSWORD="schemathesis-admin-$RANDOM$RANDOM"
printf '%s\n' "$ADMIN_PASSWORD" | env -i "${SIGIL_ENV[@]}" "$BIN" users create --email "$ADMIN_EMAIL" --name Admin --admin >/dev/null
TOKEN="$(ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" "$PY" - "$BASE" <<'EOF'
import json, os, sys, urllib.parse, urllib.request
form = urllib.parse.urlencode({
    "grant_type": "password",
    "username": os.environ["ADMIN_EMAIL"],
    "password": os.environ["ADMIN_PASSWORD"],
}).encode()
with urllib.request.urlopen(sys.argv[1] + "/auth/login", form) as answer:
    print(json.load(answer)["access_token"])
EOF
)"

# A confidential client for the operations that take client authentication;
# "id:secret" on one line (both are URL-safe, as HTTP Basic wants them).
CLIENT="$(TOKEN="$TOKEN" "$PY" - "$BASE" <<'EOF'
import json, os, sys, urllib.request
request = urllib.request.Request(
    sys.argv[1] + "/admin/clients",
    data=json.dumps({"name": "schemathesis", "scopes": ["orders:read"]}).encode(),
    headers={"Authorization": "Bearer " + os.environ["TOKEN"], "Content-Type": "application/json"},
)
with urllib.request.urlopen(request) as answer:
    client = json.load(answer)
print(client["client_id"] + ":" + client["client_secret"])
EOF
)"

echo "== schemathesis: $EXAMPLES examples per operation"
SEED_ARGS=()
if [ -n "${SCHEMATHESIS_SEED:-}" ]; then
  SEED_ARGS=(--seed "$SCHEMATHESIS_SEED")
fi
# Every check but two, each left out for a stated reason:
# - positive_data_acceptance: sigil's input rules (email syntax, password 8-128
#   and name 1-100 characters, known scopes, grant_type values) are answered
#   422/400 by the handlers, as SPEC section 2 requires, and are only described
#   in the field docs, not as schema keywords: poem-openapi validators would
#   enforce them at parse time and turn the 422 into a 400. Schema-valid but
#   rule-breaking bodies therefore get a (documented) 4xx.
# - negative_data_rejection: poem-openapi reads a JSON number or boolean sent
#   for a string field as its text (`{"refresh_token": 5}` is "5") and `null`
#   for an optional field as absent (`{"disabled": null}` changes nothing);
#   the handlers then apply their usual rules to that string, so nothing gets
#   through that could not have been sent as a string. Reported, left open.
# One worker: with two threads, hypothesis's first ast.parse of a large module
# can hit CPython 3.11's "AST constructor recursion depth mismatch"
# SystemError (python/cpython#106905, a race in the AST recursion counter),
# which schemathesis reports as a runtime error of whichever operation it
# was generating for.
COMMON_ARGS=(--checks all
  --exclude-checks positive_data_acceptance,negative_data_rejection
  --max-examples "$EXAMPLES"
  --workers 1
  --request-timeout 10
  --suppress-health-check too_slow
  --no-color
  "${SEED_ARGS[@]}")
STATUS=0
echo "== run 1 of 2: every operation, as the administrator (Bearer)"
("$VENV/bin/schemathesis" run "$BASE/openapi.json" \
  --header "Authorization: Bearer $TOKEN" \
  "${COMMON_ARGS[@]}") || STATUS=$?
# The operations a confidential client calls with client_secret_basic.
echo "== run 2 of 2: client authentication (HTTP Basic of a confidential client)"
("$VENV/bin/schemathesis" run "$BASE/openapi.json" \
  --include-path-regex '^/(auth/login|oauth/revoke|oauth/introspect)$' \
  --auth "$CLIENT" \
  "${COMMON_ARGS[@]}") || STATUS=$?

echo "== stopping sigil"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || { echo "sigil did not exit cleanly" >&2; STATUS=1; }
SERVER_PID=""
if grep -q '"level":"ERROR"' "$WORK/server.log"; then
  echo "the server logged errors:" >&2
  grep '"level":"ERROR"' "$WORK/server.log" >&2
  STATUS=1
fi
exit "$STATUS"
