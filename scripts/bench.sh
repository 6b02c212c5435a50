#!/usr/bin/env bash
# End-to-end benchmark of sigil on loopback. Run with --help for details.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/bench.sh [--postgres URL [--two-instances]] [--duration SECONDS]
                        [--mix SPEC] [--no-build]

Builds the release binary and the crypto bench, measures the raw
single-thread rates of the cryptography sigil uses (`cargo bench --bench
crypto`, tests/bench/crypto.rs), then starts `sigil serve` on a
fresh SQLite database in a temporary folder and drives it with wrk from a
separate process over loopback. With --postgres, the same HTTP measurements
run a second time on a fresh PostgreSQL database.

Every measurement prints one line:

  NAME rps=… p50_ms=… p99_ms=… errors=… cpu_us_per_req=… wrk_cpu_us_per_req=… [key=value …]

cpu_us_per_req is the server's CPU time (user + system, all threads, from
/proc/PID/stat before and after) divided by the requests answered; wrk runs
on the same cores, so rps alone understates what the server could do.
wrk_cpu_us_per_req is the load generator's own CPU time (its rusage, from
the shell's `times`) per request. On a local PostgreSQL, db_cpu_us_per_req
is the CPU time of every `postgres` process over the same window.
Crypto lines read `crypto_NAME impl=… ops_per_s=… us_per_op=…`; the
crypto_openssl_* lines are `openssl speed -mr -seconds 3` signing rates
(RSA-2048, Ed25519); crypto_argon2id_*_concurrent lines are argon2 on every
core at once (threads=…, ops_per_s is the sum, scaling= that sum over
threads x the single-thread rate). `limit_NAME rps=…` lines are limits
computed from this run's figures and nproc (e.g. /me's: 1/(1/healthz + 1/(cores
x single-thread access-token verifications/s))). `ratio NAME value=…
target=…` lines compare figures of this run and end with `met` or `not met`
(`target=none`: explanatory, no verdict). For logins these explain the
ratio to the argon2 limit: argon2_*_concurrent_cpu_scaling (single-thread
CPU per verification over the concurrent threads'), login_*_argon2_cpu_share
(concurrent argon2 CPU over the whole CPU of a login: sigil + postgres +
wrk), and login_*_cpu_bound_ceiling (single-thread argon2 CPU time over that
whole CPU: the login ratio the two cores allow when CPU is what runs out).
Lines that start with `#` are notes.

The access log: healthz_access_log_on_N and healthz_access_log_off_N are
/healthz on two servers running side by side, one with the logs as shipped
(RUST_LOG unset), the other with RUST_LOG=info,sigil::access=off, the filter
that turns off exactly the per-request access line (whose target is
sigil::access), measured in the order on, off, off, on. `ratio
access_log_cpu_share` is (on - off) / on of their mean cpu_us_per_req, target
<= 0.10. On a build whose access line has another target the filter matches
nothing, and the share is about 0 (within the noise, a few hundredths).

Capacity: after each database's measurements, one line per operation

  capacity OP db=… sigil_cpu_us=… postgres_cpu_us=… wrk_cpu_us=…
      per_sigil_core_rps=… per_postgres_core_rps=… sigil_cores_per_postgres_core=…
      predicted_rps_here=… measured_rps=…

(CPU microseconds per request of this run; per_sigil_core_rps = 1e6 /
sigil_cpu_us, what one core of sigil serves of this operation alone;
sigil_cores_per_postgres_core, how many sigil cores one PostgreSQL core keeps
up with; predicted_rps_here = nproc x 1e6 / (sigil + postgres + wrk CPU per
request), what this machine should do when the three share its cores),
and one `capacity mix=…` line for the mix of --mix: the same figures for a
weighted mix of operations, plus instances_per_postgres_core (instances of
nproc cores each).

Options:
  --postgres URL     also measure on PostgreSQL: URL names a server and a
                     database to connect to (e.g.
                     postgres://postgres@127.0.0.1:5432/test); a fresh database
                     sigil_bench_<random> is created there and dropped at the end
  --two-instances    (with --postgres) after the PostgreSQL measurements, start
                     TWO sigil instances on that one database and drive both at
                     once with two wrk processes: /me on both, refresh on both,
                     and /me on one with refresh on the other. Each prints
                     `capacity_check NAME predicted=… measured=… ratio=…`:
                     predicted is nproc x 1e6 / (sigil + postgres + wrk CPU per
                     request of the single-instance measurements of this run,
                     weighted by the measured mix), measured the sum of both
                     wrk's rps; predicted_free_cpu and ratio_free use the cores
                     left after what other processes took in the same window
                     (/proc/stat). `ratio two_instances_NAME_over_prediction`
                     has the target >= 0.8.
  --mix SPEC         the mix of the `capacity mix=` line, OPERATION:WEIGHT,…
                     (default me_rs256:100,refresh_rs256:10,
                     login_m19456_t2_p1:1,client_credentials_rs256:1;
                     operations are measurement names of this run)
  --duration SECONDS length of each measurement, 1 to 10 (default 10)
  --no-build         use the sigil binary and the crypto bench built by an
                     earlier run as they are
  -h, --help         show this help

Environment:
  SIGIL_BIN          the sigil binary to measure, used as it is (not built);
                     a relative path is taken from the directory the script is
                     started from. Default: the release binary cargo builds,
                     in the target folder `cargo metadata` names
                     (CARGO_TARGET_DIR honoured), like the crypto bench.

Needs curl, openssl and wrk; wrk is installed with apt-get when missing (as root).
Listens on 127.0.0.1 only, cleans up after itself, stops by itself (about
two and a half minutes per database at the default duration, plus about
half a minute for --two-instances).
EOF
}

DURATION=10
PG_URL=""
BUILD=1
TWO_INSTANCES=0
MIX="me_rs256:100,refresh_rs256:10,login_m19456_t2_p1:1,client_credentials_rs256:1"
while [ $# -gt 0 ]; do
    case "$1" in
    --postgres)
        [ $# -ge 2 ] || { echo "bench.sh: --postgres needs a URL" >&2; exit 2; }
        PG_URL="$2"
        shift 2
        ;;
    --duration)
        [ $# -ge 2 ] || { echo "bench.sh: --duration needs a number" >&2; exit 2; }
        DURATION="$2"
        shift 2
        ;;
    --mix)
        [ $# -ge 2 ] || { echo "bench.sh: --mix needs OPERATION:WEIGHT,…" >&2; exit 2; }
        MIX="$2"
        shift 2
        ;;
    --two-instances) TWO_INSTANCES=1; shift ;;
    --no-build) BUILD=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$DURATION" in
[1-9] | 10) ;;
*) echo "bench.sh: --duration must be a whole number from 1 to 10" >&2; exit 2 ;;
esac
if [ "$TWO_INSTANCES" = 1 ] && [ -z "$PG_URL" ]; then
    echo "bench.sh: --two-instances needs --postgres (two instances share one PostgreSQL database)" >&2
    exit 2
fi
[[ "$MIX" =~ ^[a-z0-9_]+:[0-9]+(,[a-z0-9_]+:[0-9]+)*$ ]] || {
    echo "bench.sh: --mix must read OPERATION:WEIGHT[,OPERATION:WEIGHT…], e.g. me_rs256:100,refresh_rs256:10" >&2
    exit 2
}

# A relative SIGIL_BIN means what it meant where the script was started.
# A bare name is looked up on PATH.
case "${SIGIL_BIN:-}" in
"" | /*) ;;
*/*) SIGIL_BIN="$PWD/$SIGIL_BIN" ;;
*) SIGIL_BIN="$(command -v -- "$SIGIL_BIN")" || { echo "bench.sh: SIGIL_BIN names no command on PATH" >&2; exit 1; } ;;
esac
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/cargo-target.sh
source "$ROOT/scripts/lib/cargo-target.sh"
LUA="$ROOT/scripts/bench/wrk.lua"
# Where cargo builds (CARGO_TARGET_DIR, build.target-dir or target/).
TARGET="$(cargo_target_dir)" || { echo "bench.sh: cargo metadata did not name the target folder (is cargo installed?)" >&2; exit 1; }
BIN="${SIGIL_BIN:-$TARGET/release/sigil}"
# The crypto bench (a bench target, not part of the product), copied here
# from cargo's hashed file name at build time.
CRYPTO_BENCH="$TARGET/release/sigil-crypto-bench"
PASSWORD='correct horse battery staple'
# The API scope the bench servers declare and the bench clients get.
CLIENT_SCOPE='orders:read'

# --- Tools -------------------------------------------------------------------
need_package() { # command package
    command -v "$1" >/dev/null 2>&1 && return 0
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "# installing $2 with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends "$2" >/dev/null
    fi
    command -v "$1" >/dev/null 2>&1 || {
        echo "bench.sh: $1 is missing; install the $2 package" >&2
        exit 1
    }
}
need_package wrk wrk
need_package curl curl
command -v openssl >/dev/null 2>&1 || { echo "bench.sh: openssl is missing (its speed command gives the signing limits)" >&2; exit 1; }
if [ -n "$PG_URL" ]; then need_package psql postgresql-client; fi

if [ "$BUILD" = 1 ]; then
    if [ -z "${SIGIL_BIN:-}" ]; then
        echo "# building the release binary" >&2
        cargo build --release --locked --quiet --bin sigil
    fi
    echo "# building the crypto bench" >&2
    # The JSON also lists the sigil binary (benches may run it): keep the bench.
    bench_exe="$(cargo bench --locked --quiet --no-run --bench crypto --message-format=json |
        grep '"kind":\["bench"\]' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)" || true
    [ -n "$bench_exe" ] || { echo "bench.sh: cargo did not report the crypto bench's executable" >&2; exit 1; }
    cp "$bench_exe" "$CRYPTO_BENCH"
fi
[ -x "$BIN" ] || { echo "bench.sh: $BIN is missing (build it, drop --no-build, or set SIGIL_BIN)" >&2; exit 1; }
[ -x "$CRYPTO_BENCH" ] || { echo "bench.sh: $CRYPTO_BENCH is missing (drop --no-build)" >&2; exit 1; }

# --- Clean-up ------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sigil-bench.XXXXXX")"
SERVER_PID=""
# Servers of the two-instance check, besides SERVER_PID.
EXTRA_PIDS=()
PG_DB=""
PG_LOCAL=0
DB_KIND=""
cleanup() {
    local status=$? pid
    stop_server
    for pid in "${EXTRA_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$PG_DB" ]; then
        psql "$PG_URL" -q -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Server ------------------------------------------------------------------
BASE=""
# start_server NAME DATABASE_URL KEYS_DIR [VAR=VALUE …]: starts `sigil serve`
# on 127.0.0.1:0 in a clean environment and waits until it listens.
start_server() {
    local name="$1" db="$2" keys="$3"
    shift 3
    mkdir -p "$WORK/$name"
    local log="$WORK/$name/server.log"
    : >"$log"
    (cd "$WORK/$name" && exec env -i PATH="$PATH" HOME="$HOME" \
        SIGIL_BIND=127.0.0.1:0 \
        SIGIL_DATABASE_URL="$db" \
        SIGIL_KEYS_DIR="$keys" \
        SIGIL_PID_FILE="$WORK/$name/sigil.pid" \
        SIGIL_ADDRESS_FREE_REGISTRATIONS=1000 \
        SIGIL_LOGIN_FREE_ATTEMPTS=100000 \
        SIGIL_ADDRESS_FREE_LOGIN_FAILURES=100000 \
        "$@" "$BIN" serve 2>>"$log" >/dev/null) &
    SERVER_PID=$!
    local address=""
    for _ in $(seq 1 600); do
        address="$(sed -n 's/.*sigil listening.*address=\([0-9.]*:[0-9]*\).*/\1/p' "$log" | head -n 1)"
        [ -n "$address" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$address" ]; then
        echo "bench.sh: sigil did not start; its log:" >&2
        cat "$log" >&2
        exit 1
    fi
    BASE="http://$address"
}

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

# Server CPU time so far, in clock ticks (utime + stime of every thread);
# of the server PID when given, else of SERVER_PID.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/${1:-$SERVER_PID}/stat"
}

# Busy clock ticks of the whole machine so far (every CPU: user, nice,
# system, irq, softirq and steal, from /proc/stat): what the processes of a
# window left to others is this minus theirs.
machine_busy_ticks() {
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# CPU time of every local PostgreSQL process so far (0 unless the pass runs on
# a PostgreSQL server on this machine), so that its share is not hidden.
db_ticks() {
    if [ "$DB_KIND" = postgres ] && [ "$PG_LOCAL" = 1 ]; then
        # A process may end between the glob and cat: what was read counts.
        { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '$2 == "(postgres)" { t += $14 + $15 } END { print t + 0 }'
    else
        echo 0
    fi
}
TICKS_PER_SECOND="$(getconf CLK_TCK)"

# --- HTTP helpers ------------------------------------------------------------
json_field() { # field, JSON on stdin (which has no final newline)
    { cat; echo; } | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"
}

register() { # email
    local body
    body="$(curl -sS --fail-with-body "$BASE/auth/register" -H 'content-type: application/json' \
        -d "{\"email\":\"$1\",\"password\":\"$PASSWORD\",\"name\":\"Bench\"}")" || {
        echo "bench.sh: registration failed: $body" >&2
        exit 1
    }
    printf '%s' "$body"
}

# urlencode TEXT: application/x-www-form-urlencoded, as RFC 6749 §2.3.1 asks
# of the client id and secret before they go into HTTP Basic.
urlencode() {
    local LC_ALL=C text="$1" out="" c i
    for ((i = 0; i < ${#text}; i++)); do
        c="${text:i:1}"
        case "$c" in
        [a-zA-Z0-9._~-]) out+="$c" ;;
        ' ') out+='+' ;;
        *) out+="$(printf '%%%02X' "'$c")" ;;
        esac
    done
    printf '%s' "$out"
}

# client_basic_auth ADMIN_EMAIL SCOPE: creates a confidential client with SCOPE
# through POST /admin/clients (as the administrator) and prints the value of
# its Authorization header for client_secret_basic, after checking that one
# client_credentials grant with it succeeds.
client_basic_auth() {
    local admin created id secret basic body
    admin="$(login "$1" | json_field access_token)"
    created="$(curl -sS --fail-with-body "$BASE/admin/clients" -H "authorization: Bearer $admin" \
        -H 'content-type: application/json' -d "{\"name\":\"bench\",\"scopes\":[\"$2\"]}")" || {
        echo "bench.sh: creating a client failed: $created" >&2
        exit 1
    }
    id="$(json_field client_id <<<"$created")"
    secret="$(json_field client_secret <<<"$created")"
    if [ -z "$id" ] || [ -z "$secret" ]; then
        echo "bench.sh: no client_id/client_secret in: ${created%%client_secret*}…" >&2
        exit 1
    fi
    basic="Basic $(printf '%s:%s' "$(urlencode "$id")" "$(urlencode "$secret")" | base64 -w0)"
    body="$(curl -sS --fail-with-body "$BASE/auth/login" -H "authorization: $basic" \
        -d grant_type=client_credentials)" || {
        echo "bench.sh: a client_credentials grant failed: $body" >&2
        exit 1
    }
    printf '%s' "$basic"
}

login() { # email
    local body
    body="$(curl -sS --fail-with-body "$BASE/auth/login" \
        --data-urlencode "username=$1" --data-urlencode "password=$PASSWORD")" || {
        echo "bench.sh: login failed: $body" >&2
        exit 1
    }
    printf '%s' "$body"
}

# --- Measurements ------------------------------------------------------------
# run_wrk THREADS CONNECTIONS PATH [VAR=VALUE …]: wrk's report line, with
# wrk_cpu_us= (wrk's own CPU time, user + system, in microseconds) at its
# end. Run it in a subshell of its own (`$(run_wrk …)` or `run_wrk … &`):
# the CPU time is that subshell's children's, which start at zero with it.
run_wrk() {
    local threads="$1" connections="$2" path="$3" out times_file
    shift 3
    out="$(env "$@" wrk -t "$threads" -c "$connections" -d "${DURATION}s" --timeout 10s \
        -s "$LUA" "$BASE$path")"
    # `times` is a builtin: redirected, it runs in this shell, whose
    # children's line (the second) is wrk's rusage. Its fields read 1m2.345s.
    times_file="$WORK/times.$BASHPID"
    times >"$times_file"
    printf '%s wrk_cpu_us=%s\n' "$(grep '^requests=' <<<"$out")" \
        "$(awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, ms, /[ms]/); t += ms[1] * 60 + ms[2] }; printf "%.0f", t * 1e6 }' "$times_file")"
    rm -f "$times_file"
}

# wrk_us_of REPORT: wrk's CPU time in microseconds from run_wrk's line.
wrk_us_of() { sed -n 's/.* wrk_cpu_us=\([0-9]*\).*/\1/p' <<<"$1"; }

# measure NAME THREADS CONNECTIONS PATH [VAR=VALUE …]: one line for NAME.
measure() {
    local name="$1"
    shift
    local before after db_before db_after report
    before="$(cpu_ticks)"
    db_before="$(db_ticks)"
    report="$(run_wrk "$@")"
    after="$(cpu_ticks)"
    db_after="$(db_ticks)"
    emit "$name" "$report" $((after - before)) $((db_after - db_before)) "$(requests_of "$report")" "" "$(wrk_us_of "$report")"
}

requests_of() { sed -n 's/^requests=\([0-9]*\).*/\1/p' <<<"$1"; }

# emit NAME REPORT CPU_TICKS DB_TICKS CPU_REQUESTS EXTRA WRK_US: prints the
# line and keeps it; CPU times (and WRK_US, the load generators' CPU time in
# microseconds) are divided by CPU_REQUESTS.
emit() {
    local name="$1" report="$2" ticks="$3" db="$4" cpu_requests="$5" extra="$6" wrk_us="$7"
    per_request() {
        awk -v t="$1" -v hz="$TICKS_PER_SECOND" -v n="$cpu_requests" \
            'BEGIN { printf "%.1f", (n > 0) ? t / hz * 1e6 / n : 0 }'
    }
    local line
    local shown="${report#requests=* }"
    shown="${shown% wrk_cpu_us=*}"
    line="$name $shown cpu_us_per_req=$(per_request "$ticks")"
    line="$line wrk_cpu_us_per_req=$(awk -v u="$wrk_us" -v n="$cpu_requests" 'BEGIN { printf "%.1f", (n > 0) ? u / n : 0 }')"
    line="$line requests=$(requests_of "$report") db=$DB_KIND"
    if [ "$DB_KIND" = postgres ] && [ "$PG_LOCAL" = 1 ]; then
        line="$line db_cpu_us_per_req=$(per_request "$db")"
    fi
    line="$line$extra"
    echo "$line"
    echo "$line" >>"$WORK/results"
}

# value NAME KEY [FILTER]: KEY of the last line named NAME (of this database,
# for HTTP lines; FILTER, a regular expression, narrows further).
value() {
    awk -v name="$1" -v key="$2" -v db=" db=$DB_KIND" -v filter="${3:-}" '
        $1 == name && (index($0, db) || $1 ~ /^crypto_/) && (filter == "" || $0 ~ filter) {
            for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) v = kv[2] }
        }
        END { print v + 0 }' "$WORK/results"
}

# fastest_us NAME: microseconds per operation of the fastest implementation of
# crypto_NAME measured in this run.
fastest_us() {
    awk -v name="crypto_$1" '
        $1 == name { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "us_per_op" && (best == "" || kv[2] + 0 < best)) best = kv[2] + 0 } }
        END { print best + 0 }' "$WORK/results"
}

# ratio NAME TARGET EXPRESSION: evaluates EXPRESSION (awk) and prints a line
# that ends with `met` or `not met` (nothing when TARGET is `none`).
ratio() {
    local line value verdict=""
    value="$(awk "BEGIN { printf \"%.3f\", $3 }" 2>/dev/null)" || value="n/a"
    if [ "$2" != none ]; then
        verdict="$(awk -v v="$value" -v t="$2" 'BEGIN {
            if (v == "n/a") { print "not met"; exit }
            op = substr(t, 1, 2); bound = substr(t, 3) + 0
            ok = (op == ">=") ? (v + 0 >= bound) : (op == "<=") ? (v + 0 <= bound) : 0
            print ok ? "met" : "not met" }')"
        verdict=" $verdict"
    fi
    line="ratio $1 value=$value target=$2 db=$DB_KIND$verdict"
    echo "$line"
    echo "$line" >>"$WORK/results"
}

# limit NAME EXPRESSION FORMULA: prints (and keeps) the line limit_NAME, a
# limit computed from figures of this run, in requests per second.
limit() {
    local line value
    value="$(awk "BEGIN { printf \"%.1f\", $2 }" 2>/dev/null)" || value=0
    line="limit_$1 rps=$value db=$DB_KIND formula=$3"
    echo "$line"
    echo "$line" >>"$WORK/results"
}

# --- One pass over every HTTP measurement ----------------------------------
run_pass() { # DB_KIND DATABASE_URL_FOR_A DATABASE_URL_FOR_B
    DB_KIND="$1"
    local db_a="$2" db_b="$3"
    local keys_rs="$WORK/$DB_KIND-keys-rs256" keys_ed="$WORK/$DB_KIND-keys-eddsa"
    local user="bench-$DB_KIND@example.com"
    local form="username=bench-$DB_KIND%40example.com&password=correct+horse+battery+staple"

    # Server A: RS256 keys, default argon2 (m=19456 KiB, t=2, p=1). The
    # bootstrap administrator creates the confidential clients; it is made on
    # a database's first start only and ignored afterwards.
    local admin="admin-$DB_KIND@example.com"
    local bootstrap=(SIGIL_BOOTSTRAP_ADMIN_EMAIL="$admin" SIGIL_BOOTSTRAP_ADMIN_PASSWORD="$PASSWORD"
        SIGIL_SCOPES="$CLIENT_SCOPE")
    start_server "$DB_KIND-a" "$db_a" "$keys_rs" SIGIL_SIGNING_ALG=RS256 "${bootstrap[@]}"
    local access
    access="$(register "$user" | json_field access_token)"
    register "flood-$DB_KIND@example.com" >/dev/null

    measure healthz 2 16 /healthz
    measure jwks 2 16 /.well-known/jwks.json
    measure me_rs256 2 16 /me BENCH_BEARER="$access"
    refresh_tokens "$user" 16 >"$WORK/tokens"
    measure refresh_rs256 16 16 / BENCH_MODE=refresh BENCH_TOKENS="$WORK/tokens"
    measure login_m19456_t2_p1 2 4 /auth/login BENCH_MODE=post \
        BENCH_CONTENT_TYPE=application/x-www-form-urlencoded BENCH_BODY="$form"
    measure_client_credentials client_credentials_rs256 "$admin"

    # /me while a second wrk floods /auth/login with correct passwords of
    # another user, on as many connections as the hashing queue has places.
    local flood_form="username=flood-$DB_KIND%40example.com&password=correct+horse+battery+staple"
    local before after db_before db_after me_report flood_report
    before="$(cpu_ticks)"
    db_before="$(db_ticks)"
    run_wrk 1 64 /auth/login BENCH_MODE=post BENCH_CONTENT_TYPE=application/x-www-form-urlencoded \
        BENCH_BODY="$flood_form" >"$WORK/flood" &
    local flood_pid=$!
    me_report="$(run_wrk 2 16 /me BENCH_BEARER="$access")"
    wait "$flood_pid"
    after="$(cpu_ticks)"
    db_after="$(db_ticks)"
    flood_report="$(cat "$WORK/flood")"
    local both=$(($(requests_of "$me_report") + $(requests_of "$flood_report")))
    # The window's CPU serves both loads: it is divided by the requests of both.
    local wrk_both=$(($(wrk_us_of "$me_report") + $(wrk_us_of "$flood_report")))
    emit me_during_login_flood "$me_report" $((after - before)) $((db_after - db_before)) "$both" " cpu_over=me+login" "$wrk_both"
    emit login_flood_during_me "$flood_report" $((after - before)) $((db_after - db_before)) "$both" " cpu_over=me+login" "$wrk_both"
    stop_server

    # Server B: EdDSA keys.
    start_server "$DB_KIND-b" "$db_b" "$keys_ed" SIGIL_SIGNING_ALG=EdDSA "${bootstrap[@]}"
    local ed_user="bench-ed-$DB_KIND@example.com"
    access="$(register "$ed_user" | json_field access_token)"
    measure me_eddsa 2 16 /me BENCH_BEARER="$access"
    refresh_tokens "$ed_user" 16 >"$WORK/tokens"
    measure refresh_eddsa 16 16 / BENCH_MODE=refresh BENCH_TOKENS="$WORK/tokens"
    measure_client_credentials client_credentials_eddsa "$admin"
    stop_server

    # The access log's cost: /healthz on a server with the logs as shipped
    # and on one with the access line turned off, both running, measured in
    # the order on, off, off, on, so that a drift in the machine's load
    # weighs on both alike.
    local on_pid on_base off_pid off_base
    start_server "$DB_KIND-log-on" "$db_b" "$keys_ed" SIGIL_SIGNING_ALG=EdDSA
    on_pid="$SERVER_PID"
    on_base="$BASE"
    EXTRA_PIDS+=("$on_pid")
    start_server "$DB_KIND-log-off" "$db_b" "$keys_ed" SIGIL_SIGNING_ALG=EdDSA \
        RUST_LOG=info,sigil::access=off
    off_pid="$SERVER_PID"
    off_base="$BASE"
    EXTRA_PIDS+=("$off_pid")
    local round
    for round in on_1 off_1 off_2 on_2; do
        if [ "${round%_*}" = on ]; then
            SERVER_PID="$on_pid" BASE="$on_base"
        else
            SERVER_PID="$off_pid" BASE="$off_base"
        fi
        measure "healthz_access_log_$round" 2 16 /healthz
    done
    SERVER_PID=""
    local pid
    for pid in "$on_pid" "$off_pid"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    EXTRA_PIDS=()

    # Server A again at the FastAPI peer's argon2 parameters; the first login
    # upgrades the stored hash to them.
    start_server "$DB_KIND-a" "$db_a" "$keys_rs" SIGIL_SIGNING_ALG=RS256 \
        SIGIL_ARGON2_MEMORY_KIB=65536 SIGIL_ARGON2_ITERATIONS=3 SIGIL_ARGON2_PARALLELISM=4
    login "$user" >/dev/null
    measure login_m65536_t3_p4 2 4 /auth/login BENCH_MODE=post \
        BENCH_CONTENT_TYPE=application/x-www-form-urlencoded BENCH_BODY="$form"
    stop_server

    report_ratios
    report_capacity
}

# measure_client_credentials NAME ADMIN_EMAIL: grant_type=client_credentials
# with client_secret_basic and no scope parameter, for a client of its own.
measure_client_credentials() {
    local basic
    basic="$(client_basic_auth "$2" "$CLIENT_SCOPE")"
    measure "$1" 2 16 /auth/login BENCH_MODE=post BENCH_AUTHORIZATION="$basic" \
        BENCH_CONTENT_TYPE=application/x-www-form-urlencoded BENCH_BODY="grant_type=client_credentials"
}

refresh_tokens() { # email count: one fresh refresh-token family per line
    local i
    for i in $(seq 1 "$2"); do
        login "$1" | json_field refresh_token
    done
}

# report_ratios: issue 15's targets (and the older ones that still hold), as
# ratios of figures of this pass and of the limits measured in the same run.
report_ratios() {
    local cores healthz me_rs
    cores="$(nproc)"
    healthz="$(value healthz rps)"
    me_rs="$(value me_rs256 rps)"
    # /me's limit: the HTTP floor and the access-token verification on every
    # core, one after the other.
    local alg
    for alg in rs256 eddsa; do
        limit "me_$alg" "1 / (1 / $healthz + 1 / ($cores * $(value "crypto_${alg}_access_token_verify" ops_per_s ' path=sigil')))" \
            "1/(1/healthz+1/(cores*${alg}_access_token_verify_per_s))"
    done
    # argon2's rate from its time per operation: ops_per_s is rounded to whole
    # operations, too coarse at a few per second.
    limit refresh_rs256_openssl "$cores * $(value crypto_openssl_rsa2048_sign ops_per_s)" "cores*openssl_rsa2048_sign_per_s"
    limit login_m19456_t2_p1 "$cores * 1e6 / $(value crypto_argon2id_verify_m19456_t2_p1 us_per_op)" "cores*argon2_per_s"
    limit login_m65536_t3_p4 "$cores * 1e6 / $(value crypto_argon2id_verify_m65536_t3_p4 us_per_op)" "cores*argon2_per_s"

    ratio me_rs256_over_limit '>=0.85' "$me_rs / $(value limit_me_rs256 rps)"
    ratio me_eddsa_over_limit '>=0.85' "$(value me_eddsa rps) / $(value limit_me_eddsa rps)"
    ratio refresh_eddsa_over_healthz '>=0.15' "$(value refresh_eddsa rps) / $healthz"
    ratio refresh_rs256_over_openssl_limit '>=0.4' "$(value refresh_rs256 rps) / $(value limit_refresh_rs256_openssl rps)"
    ratio login_m65536_t3_p4_over_argon2_limit '>=0.85' \
        "$(value login_m65536_t3_p4 rps) / $(value limit_login_m65536_t3_p4 rps)"
    ratio login_m19456_t2_p1_over_argon2_limit '>=0.85' \
        "$(value login_m19456_t2_p1 rps) / $(value limit_login_m19456_t2_p1 rps)"
    # Why the login ratios are what they are (no target; see --help): argon2
    # on both cores at once, and what a login costs beside argon2.
    local params login_cpu
    for params in m19456_t2_p1 m65536_t3_p4; do
        limit "login_${params}_concurrent_argon2" "$(value "crypto_argon2id_verify_${params}_concurrent" ops_per_s)" \
            "argon2_per_s_on_every_core_at_once"
        ratio "argon2_${params}_concurrent_cpu_scaling" none \
            "$(value "crypto_argon2id_verify_${params}_concurrent" cpu_scaling)"
        login_cpu="($(value "login_$params" cpu_us_per_req) + $(value "login_$params" db_cpu_us_per_req) + $(value "login_$params" wrk_cpu_us_per_req))"
        ratio "login_${params}_argon2_cpu_share" none \
            "$(value "crypto_argon2id_verify_${params}_concurrent" cpu_us_per_op) / $login_cpu"
        ratio "login_${params}_cpu_bound_ceiling" none \
            "$(value "crypto_argon2id_verify_$params" cpu_us_per_op) / $login_cpu"
    done
    ratio me_during_login_flood_over_me '>=0.7' "$(value me_during_login_flood rps) / $me_rs"
    ratio me_during_login_flood_p99_ms '<=10' "$(value me_during_login_flood p99_ms)"

    ratio jwks_rps_over_healthz_rps '>=0.90' "$(value jwks rps) / $healthz"
    ratio me_rs256_rps_over_fastapi_2400 '>=10' "$me_rs / 2400"
    ratio me_eddsa_rps_over_fastapi_2400 '>=10' "$(value me_eddsa rps) / 2400"
    ratio refresh_rs256_cpu_over_fastest_rs256_sign '<=1.25' \
        "$(value refresh_rs256 cpu_us_per_req) / $(fastest_us rs256_sign)"
    if [ "$DB_KIND" = postgres ] && [ "$PG_LOCAL" = 1 ]; then
        ratio refresh_rs256_cpu_with_postgres_over_fastest_rs256_sign '<=1.25' \
            "($(value refresh_rs256 cpu_us_per_req) + $(value refresh_rs256 db_cpu_us_per_req)) / $(fastest_us rs256_sign)"
    fi
    local log_on log_off
    log_on="($(value healthz_access_log_on_1 cpu_us_per_req) + $(value healthz_access_log_on_2 cpu_us_per_req)) / 2"
    log_off="($(value healthz_access_log_off_1 cpu_us_per_req) + $(value healthz_access_log_off_2 cpu_us_per_req)) / 2"
    ratio access_log_cpu_share '<=0.10' "(($log_on) - ($log_off)) / ($log_on)"
    ratio login_m65536_rps_over_fastapi_8 '>=1' "$(value login_m65536_t3_p4 rps) / 8"
    ratio client_credentials_eddsa_rps_over_healthz_rps '>=0.25' \
        "$(value client_credentials_eddsa rps) / $healthz"
    ratio client_credentials_rs256_rps_over_healthz_rps 'none' \
        "$(value client_credentials_rs256 rps) / $healthz"
    ratio client_credentials_rs256_cpu_over_fastest_rs256_sign 'none' \
        "$(value client_credentials_rs256 cpu_us_per_req) / $(fastest_us rs256_sign)"
}

# --- Capacity ----------------------------------------------------------------
# capacity_line NAME SIGIL_US POSTGRES_US WRK_US EXTRA: one `capacity` line
# from CPU microseconds per request (POSTGRES_US only counts on a local
# PostgreSQL; on SQLite the database is inside sigil's figure).
capacity_line() {
    local line
    line="$(awk -v name="$1" -v s="$2" -v pg="$3" -v w="$4" -v cores="$(nproc)" \
        -v db="$DB_KIND" -v show_pg="$([ "$DB_KIND" = postgres ] && [ "$PG_LOCAL" = 1 ] && echo 1 || echo 0)" 'BEGIN {
        printf "capacity %s db=%s sigil_cpu_us=%.1f", name, db, s
        if (show_pg) printf " postgres_cpu_us=%.1f", pg; else pg = 0
        printf " wrk_cpu_us=%.1f per_sigil_core_rps=%.0f", w, (s > 0) ? 1e6 / s : 0
        if (show_pg) {
            if (pg >= 0.05) printf " per_postgres_core_rps=%.0f sigil_cores_per_postgres_core=%.2f", 1e6 / pg, s / pg
            else printf " per_postgres_core_rps=unbounded sigil_cores_per_postgres_core=unbounded"
        }
        printf " predicted_rps_here=%.0f", (s + pg + w > 0) ? cores * 1e6 / (s + pg + w) : 0
    }')"
    line="$line$5"
    echo "$line"
    echo "$line" >>"$WORK/results"
}

# report_capacity: CPU per operation of this pass, requests per core, and
# the PostgreSQL cores a mix needs (see --help).
report_capacity() {
    local op
    for op in healthz jwks me_rs256 me_eddsa refresh_rs256 refresh_eddsa login_m19456_t2_p1 \
        login_m65536_t3_p4 client_credentials_rs256 client_credentials_eddsa; do
        capacity_line "$op" "$(value "$op" cpu_us_per_req)" "$(value "$op" db_cpu_us_per_req)" \
            "$(value "$op" wrk_cpu_us_per_req)" " measured_rps=$(value "$op" rps)"
    done
    # The mix: CPU per request weighted by the operations' weights.
    local sigil=0 pg=0 wrk=0 total=0 item weight items
    IFS=, read -ra items <<<"$MIX"
    for item in "${items[@]}"; do
        op="${item%%:*}"
        weight="${item##*:}"
        if [ "$(value "$op" requests)" = 0 ]; then
            echo "# --mix: no measurement $op on $DB_KIND; left out of the mix"
            continue
        fi
        sigil="$(awk -v a="$sigil" -v w="$weight" -v v="$(value "$op" cpu_us_per_req)" 'BEGIN { print a + w * v }')"
        pg="$(awk -v a="$pg" -v w="$weight" -v v="$(value "$op" db_cpu_us_per_req)" 'BEGIN { print a + w * v }')"
        wrk="$(awk -v a="$wrk" -v w="$weight" -v v="$(value "$op" wrk_cpu_us_per_req)" 'BEGIN { print a + w * v }')"
        total=$((total + weight))
    done
    [ "$total" -gt 0 ] || return 0
    local per
    per() { awk -v a="$1" -v n="$total" 'BEGIN { printf "%.2f", a / n }'; }
    local extra=""
    if [ "$DB_KIND" = postgres ] && [ "$PG_LOCAL" = 1 ]; then
        extra="$(awk -v s="$sigil" -v pg="$pg" -v cores="$(nproc)" 'BEGIN {
            if (pg > 0) printf " instances_per_postgres_core=%.2f instance_cores=%d", s / pg / cores, cores
            else printf " instances_per_postgres_core=unbounded instance_cores=%d", cores }')"
    fi
    capacity_line "mix=$MIX" "$(per "$sigil")" "$(per "$pg")" "$(per "$wrk")" "$extra"
}

# --- Two instances on one PostgreSQL ------------------------------------------
# wrk_op OP BASE_URL TOKENS: run_wrk for OP (me_rs256 with TWO_ACCESS, or
# refresh_rs256 from the token chains in the file TOKENS) against BASE_URL,
# with half the connections of the single-instance measurement.
wrk_op() {
    local BASE="$2"
    case "$1" in
    me_rs256) run_wrk 1 8 /me BENCH_BEARER="$TWO_ACCESS" ;;
    refresh_rs256) run_wrk 8 8 / BENCH_MODE=refresh BENCH_TOKENS="$3" ;;
    *) echo "bench.sh: wrk_op knows no $1" >&2; exit 1 ;;
    esac
}

# pair_check NAME OP_A OP_B: OP_A against the first instance and OP_B
# against the second, at once, compared with the prediction from this pass's
# single-instance figures.
pair_check() {
    local name="$1" op_a="$2" op_b="$3" side
    for side in a b; do
        local op_var="op_$side" base_var="base_$side"
        if [ "${!op_var}" = refresh_rs256 ]; then
            BASE="${!base_var}" refresh_tokens "$TWO_USER" 8 >"$WORK/two-tokens-$side"
        fi
    done
    local a0 b0 db0 busy0 t0 a1 b1 db1 busy1 t1 job_a job_b
    a0="$(cpu_ticks "$pid_a")"
    b0="$(cpu_ticks "$pid_b")"
    db0="$(db_ticks)"
    busy0="$(machine_busy_ticks)"
    t0="$(date +%s.%N)"
    wrk_op "$op_a" "$base_a" "$WORK/two-tokens-a" >"$WORK/two-a" &
    job_a=$!
    wrk_op "$op_b" "$base_b" "$WORK/two-tokens-b" >"$WORK/two-b" &
    job_b=$!
    wait "$job_a"
    wait "$job_b"
    t1="$(date +%s.%N)"
    a1="$(cpu_ticks "$pid_a")"
    b1="$(cpu_ticks "$pid_b")"
    db1="$(db_ticks)"
    busy1="$(machine_busy_ticks)"
    local ra rb line
    ra="$(cat "$WORK/two-a")"
    rb="$(cat "$WORK/two-b")"
    # Cost per request of each operation in the single-instance measurements.
    cost() { awk -v s="$(value "$1" cpu_us_per_req)" -v d="$(value "$1" db_cpu_us_per_req)" \
        -v w="$(value "$1" wrk_cpu_us_per_req)" 'BEGIN { print s + d + w }'; }
    line="$(awk -v name="$name" -v op_a="$op_a" -v op_b="$op_b" -v cores="$(nproc)" -v hz="$TICKS_PER_SECOND" \
        -v na="$(requests_of "$ra")" -v nb="$(requests_of "$rb")" \
        -v rps_a="$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$ra")" \
        -v rps_b="$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$rb")" \
        -v err_a="$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$ra")" \
        -v err_b="$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$rb")" \
        -v ca="$(cost "$op_a")" -v cb="$(cost "$op_b")" \
        -v sigil=$((a1 - a0 + b1 - b0)) -v db=$((db1 - db0)) -v busy=$((busy1 - busy0)) \
        -v wrk_us=$(($(wrk_us_of "$ra") + $(wrk_us_of "$rb"))) -v seconds="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" '
        BEGIN {
            n = na + nb
            mean = (n > 0) ? (na * ca + nb * cb) / n : 0
            predicted = (mean > 0) ? cores * 1e6 / mean : 0
            measured = rps_a + rps_b
            ours = sigil + db + wrk_us / 1e6 * hz
            others = busy - ours; if (others < 0) others = 0
            others_cores = others / hz / seconds; if (others_cores > cores) others_cores = cores
            free = (mean > 0) ? (cores - others_cores) * 1e6 / mean : 0
            printf "capacity_check %s a=%s b=%s db=postgres predicted=%.0f measured=%.0f ratio=%.3f", name, op_a, op_b, predicted, measured, (predicted > 0) ? measured / predicted : 0
            printf " predicted_free_cpu=%.0f ratio_free=%.3f others_cores=%.2f", free, (free > 0) ? measured / free : 0, others_cores
            printf " rps_a=%.1f rps_b=%.1f errors=%d", rps_a, rps_b, err_a + err_b
            printf " cpu_us_per_req_predicted=%.1f cpu_us_per_req_measured=%.1f", mean, (n > 0) ? (sigil + db) / hz * 1e6 / n + wrk_us / n : 0
            printf " sigil_cpu_us_per_req=%.1f postgres_cpu_us_per_req=%.1f wrk_cpu_us_per_req=%.1f\n", (n > 0) ? sigil / hz * 1e6 / n : 0, (n > 0) ? db / hz * 1e6 / n : 0, (n > 0) ? wrk_us / n : 0
        }')"
    echo "$line"
    echo "$line" >>"$WORK/results"
    if ! grep -q ' errors=0 ' <<<"$line"; then
        echo "# capacity_check $name: some requests failed, so its figures say nothing (see errors=)"
    fi
    ratio "two_instances_${name}_over_prediction" '>=0.8' "$(sed -n 's/.* ratio=\([0-9.]*\).*/\1/p' <<<"$line")"
}

# two_instances DATABASE_URL: two RS256 instances on one database.
two_instances() {
    local keys="$WORK/$DB_KIND-keys-rs256"
    echo "# two instances: two sigil serve on one PostgreSQL database, RS256 keys of server A; wrk: /me -t1 -c8 and refresh -t8 -c8 per instance (half of the single-instance connections each); predicted = nproc x 1e6 / (sigil + postgres + wrk CPU per request of this pass's single-instance lines, weighted by the measured mix)"
    local pid_a base_a pid_b base_b
    # One issuer for both (by default each names its own address), so that
    # a token from one is accepted by the other, as behind a load balancer.
    local shared=(SIGIL_SIGNING_ALG=RS256 SIGIL_ISSUER=http://sigil-bench.example)
    start_server "$DB_KIND-one" "$1" "$keys" "${shared[@]}"
    pid_a="$SERVER_PID"
    base_a="$BASE"
    EXTRA_PIDS+=("$pid_a")
    SERVER_PID=""
    start_server "$DB_KIND-two" "$1" "$keys" "${shared[@]}"
    pid_b="$SERVER_PID"
    base_b="$BASE"
    EXTRA_PIDS+=("$pid_b")
    SERVER_PID=""
    BASE="$base_a"
    TWO_USER="two-$DB_KIND@example.com"
    TWO_ACCESS="$(register "$TWO_USER" | json_field access_token)"
    pair_check me_me me_rs256 me_rs256
    pair_check refresh_refresh refresh_rs256 refresh_rs256
    pair_check me_refresh me_rs256 refresh_rs256
    local pid
    for pid in "$pid_a" "$pid_b"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    EXTRA_PIDS=()
}

# --- Run ---------------------------------------------------------------------
: >"$WORK/results"
echo "# sigil bench $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)), load average $(cut -d' ' -f1-3 /proc/loadavg), ${DURATION}s per measurement"
echo "# wrk: -t2 -c16 for GETs (enough to keep both cores busy); refresh: 16 connections, one thread each, each following its own refresh-token chain; login: -t2 -c4"
echo "# logins: one registered user with its correct password, from one address; every attempt counts against the throttles until its password is checked, so more simultaneous logins than SIGIL_LOGIN_FREE_ATTEMPTS would be refused: the bench sets it, SIGIL_ADDRESS_FREE_LOGIN_FAILURES and SIGIL_ADDRESS_FREE_REGISTRATIONS high (it measures capacity, not the throttles)"
echo "# hashing: SIGIL_HASH_CONCURRENCY and SIGIL_HASH_QUEUE at their defaults ($(nproc) and 64); the flood uses 64 connections, so the queue is full and no login is refused"
echo "# logs: RUST_LOG unset (info), text format, to a file; one line per request as shipped (healthz_access_log_off_*: RUST_LOG=info,sigil::access=off, on a second server beside the first)"
echo "# client_credentials: -t2 -c16, grant_type=client_credentials with client_secret_basic (a client made through POST /admin/clients with scope $CLIENT_SCOPE), no scope parameter, no refresh token; target: EdDSA rps >= 0.25 x healthz rps"

# In the work folder with a clean environment, so that no .env or SIGIL_*
# variable changes what is measured.
# `--bench` is what `cargo bench` passes: without it the bench only checks itself.
crypto() { (cd "$WORK" && env -i PATH="$PATH" "$CRYPTO_BENCH" --bench "$@") | tee -a "$WORK/results"; }
crypto --argon2-memory-kib 19456 --argon2-iterations 2 --argon2-parallelism 1
crypto --argon2-only --argon2-memory-kib 65536 --argon2-iterations 3 --argon2-parallelism 4

# openssl_sign ALGORITHM NAME: OpenSSL's single-thread signing rate (`openssl
# speed -mr`, whose final `+F…` line ends with sign/s and verify/s).
openssl_sign() {
    local out rate
    out="$(cd "$WORK" && openssl speed -mr -seconds 3 "$1" 2>/dev/null)" || {
        echo "bench.sh: openssl speed $1 failed" >&2
        exit 1
    }
    rate="$(awk -F: '/^\+F[0-9]*:/ { r = $(NF - 1) } END { print r }' <<<"$out")"
    [ -n "$rate" ] || { echo "bench.sh: no +F line in openssl speed -mr $1's output" >&2; exit 1; }
    awk -v name="$2" -v r="$rate" -v impl="$(openssl version | cut -d' ' -f1-2 | tr ' ' '-')" 'BEGIN {
        printf "crypto_%s impl=%s path=openssl ops_per_s=%.0f us_per_op=%.2f\n", name, impl, r, 1e6 / r }' |
        tee -a "$WORK/results"
}
openssl_sign rsa2048 openssl_rsa2048_sign
openssl_sign ed25519 openssl_ed25519_sign
echo "cores nproc=$(nproc)" | tee -a "$WORK/results"

run_pass sqlite "sqlite://$WORK/sqlite.db" "sqlite://$WORK/sqlite-ed.db"

if [ -n "$PG_URL" ]; then
    PG_DB="sigil_bench_$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
    psql "$PG_URL" -q -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
    pg_db_url="$(sed -E "s#^(postgres(ql)?://[^/]*)/?[^?]*#\1/$PG_DB#" <<<"$PG_URL")"
    case "$PG_URL" in
    *@127.0.0.1[:/]* | *@localhost[:/]* | *@\[::1\][:/]*) PG_LOCAL=1 ;;
    esac
    run_pass postgres "$pg_db_url" "$pg_db_url"
    if [ "$TWO_INSTANCES" = 1 ]; then
        two_instances "$pg_db_url"
    fi
fi
