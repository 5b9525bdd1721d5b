#!/usr/bin/env bash
# Runs the vmicast benchmarks (bench/README.md) and prints the summary table.
#
#   bench/run.sh [--quick] [--update-readme] [NAME...]
#
# NAME: ingest parallel resume verify caster scaling glance startup (default: all, in that order).
# --quick: small sizes, one round, under 2 minutes: a smoke run for CI; results go to
#          bench/results/quick/ (not committed). Without it: the full sizes, about 25
#          minutes on a 2-core machine; results in bench/results/ (latest.json,
#          README-table.md, one JSON file per benchmark).
# --update-readme: paste the new table into README.md between <!-- bench:start --> and
#          <!-- bench:end --> (bench/update-readme.mjs).
#
# Benchmarks are not tests: a goal that is not met, a slow machine (a benchmark running
# past its time limit) or a missing tool (nginx, glance-api: skipped with a notice) never
# make this script fail. It exits non-zero only when the harness itself is broken (a
# benchmark crashed), so that CI notices.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(ingest parallel resume verify caster scaling glance startup)
quick=0
update_readme=0
selected=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --update-readme) update_readme=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "run.sh: unknown option $arg" >&2
      exit 2
      ;;
    *)
      if [[ " ${ALL[*]} " != *" $arg "* ]]; then
        echo "run.sh: unknown benchmark $arg (one of: ${ALL[*]})" >&2
        exit 2
      fi
      selected+=("$arg")
      ;;
  esac
done
[ ${#selected[@]} -gt 0 ] || selected=("${ALL[@]}")

flags=()
results=bench/results
if [ "$quick" = 1 ]; then
  flags=(--quick)
  results=bench/results/quick
fi
# Time limit per benchmark (seconds): a guard against a hung run, not a goal.
limit_for() {
  if [ "$quick" = 1 ]; then
    echo 120
  elif [ "$1" = ingest ] || [ "$1" = glance ]; then
    echo 900
  else
    echo 600
  fi
}
mkdir -p "$results"
status_file="$results/run-status.txt"
: >"$status_file"

# Random test images are made once and shared by all benchmarks, then removed.
data=$(mktemp -d "${TMPDIR:-/tmp}/vmicast-bench-data.XXXXXX")
export VMICAST_BENCH_DATA="$data"
verify_saved=""
# bench/verify.ts always writes bench/results/verify.json; a quick run must not replace the
# committed full result: its file is moved to the quick directory and the old one put back.
restore_verify() {
  [ -n "$verify_saved" ] || return 0
  if [ -f bench/results/verify.json ]; then mv bench/results/verify.json "$results/verify.json"; fi
  if [ -s "$verify_saved" ]; then cat "$verify_saved" >bench/results/verify.json; fi
  rm -f "$verify_saved"
  verify_saved=""
}
cleanup() {
  restore_verify
  rm -rf "$data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$(date +%s)
echo "bench: preparing (dependencies, build)" >&2
node scripts/ensure-install.mjs
node --import tsx bench/lib/build.ts

broken=0
for name in "${selected[@]}"; do
  echo "bench: === $name ===" >&2
  t0=$(date +%s)
  if [ "$name" = verify ] && [ "$quick" = 1 ]; then
    verify_saved=$(mktemp "${TMPDIR:-/tmp}/vmicast-verify-json.XXXXXX")
    cp bench/results/verify.json "$verify_saved" 2>/dev/null || true
  fi
  limit=$(limit_for "$name")
  set +e
  timeout --kill-after=15 "$limit" node --import tsx "bench/$name.ts" "${flags[@]}"
  rc=$?
  set -e
  restore_verify
  echo "$name $rc $(($(date +%s) - t0))" >>"$status_file"
  case "$rc" in
    0) ;;
    124 | 137) echo "bench: $name ran past its limit of $limit s (slow machine?); its figures are missing" >&2 ;;
    *)
      echo "bench: $name failed (exit $rc)" >&2
      broken=1
      ;;
  esac
done

node --import tsx bench/summary.ts "${flags[@]}" --status "$status_file"
if [ "$update_readme" = 1 ]; then node bench/update-readme.mjs --table "$results/README-table.md"; fi
echo "bench: finished in $(($(date +%s) - started)) s; results in $results/" >&2
exit "$broken"
