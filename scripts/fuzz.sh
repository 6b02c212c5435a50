#!/usr/bin/env bash
# Runs sigil's cargo-fuzz targets (tests/fuzz), each for a bounded time.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  libFuzzer's -max_total_time for each target (default 60)
#   TARGET              verify_token, verify_signed, http_api (default: all)
#
# Installs cargo-fuzz if it is missing. The machine has a stable toolchain
# only, so RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly flags
# (sanitizer, coverage). Corpora grow in tests/fuzz/corpus/TARGET and are
# reused by the next run; a crash is saved under tests/fuzz/artifacts/TARGET
# and makes the script exit 1 after the other targets ran.
set -euo pipefail

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
}
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
esac

SECONDS_PER_TARGET="${1:-60}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
  usage >&2
  exit 2
fi
shift || true
ALL_TARGETS=(verify_token verify_signed http_api)
TARGETS=("$@")
if [ "${#TARGETS[@]}" -eq 0 ]; then
  TARGETS=("${ALL_TARGETS[@]}")
fi
for target in "${TARGETS[@]}"; do
  if ! [[ " ${ALL_TARGETS[*]} " == *" $target "* ]]; then
    echo "unknown target $target (known: ${ALL_TARGETS[*]})" >&2
    exit 2
  fi
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ_DIR="$ROOT/tests/fuzz"
cd "$ROOT"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

echo "== building the fuzz targets (release, debug assertions, AddressSanitizer)"
cargo fuzz build --fuzz-dir "$FUZZ_DIR"
# cargo (and so cargo-fuzz) builds into CARGO_TARGET_DIR when it is set.
TARGET_DIR="${CARGO_TARGET_DIR:-$FUZZ_DIR/target}"
BIN_DIR="$TARGET_DIR/$(rustc -vV | sed -n 's/^host: //p')/release"
"$BIN_DIR/write_seeds" "$FUZZ_DIR/corpus/verify_token" >/dev/null

LOG_DIR="$TARGET_DIR/logs"
mkdir -p "$LOG_DIR"
SUMMARY=()
FAILED=0
for target in "${TARGETS[@]}"; do
  corpus="$FUZZ_DIR/corpus/$target"
  log="$LOG_DIR/$target.log"
  mkdir -p "$corpus"
  echo "== $target: ${SECONDS_PER_TARGET}s (log: $log)"
  status=0
  cargo fuzz run --fuzz-dir "$FUZZ_DIR" "$target" "$corpus" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=20 -rss_limit_mb=4096 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  # libFuzzer's last status line: "#RUNS DONE cov: N ft: N corp: N/SIZE ...".
  done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)"
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  per_sec="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
  rss="$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")"
  corp="$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$done_line")"
  if [ "$status" -eq 0 ]; then
    result="ok"
  else
    result="FAILED (exit $status; see the log and tests/fuzz/artifacts/$target)"
    FAILED=1
    grep -E 'panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer|SUMMARY:' "$log" | head -n 5 >&2 || true
  fi
  SUMMARY+=("$(printf '%-14s %-8s runs=%-10s exec/s=%-7s cov=%-6s ft=%-6s corpus=%-6s rss=%sMB' \
    "$target" "$result" "${runs:-?}" "${per_sec:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}")")
done

echo "== summary (${SECONDS_PER_TARGET}s per target)"
printf '%s\n' "${SUMMARY[@]}"
exit "$FAILED"
