#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz: for each, first replays every
# input in tests/fuzz/regressions/<target>/ (each must pass), then fuzzes for
# a set time from tests/fuzz/corpus/<target>/ (read only; new inputs go to a
# scratch directory in the build). Exit status 0 only if nothing crashed.
#
#   run.sh --build DIR [--cc CLANG]  configure and build a fuzz build in DIR
#   run.sh --prebuilt DIR            use the fuzz build already in DIR
#   --seconds N   time per target (default $FUZZ_SECONDS, else 60)
#   --only NAME   one target (e.g. filter); repeatable
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
seconds=${FUZZ_SECONDS:-60}
build="" cc="clang" prebuilt=0 only=()
all=(requests filter pagetoken note tiles tlogproof witness pbjson)

while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --prebuilt) build=$2; prebuilt=1; shift 2 ;;
    --cc) cc=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --only) only+=("$2"); shift 2 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 64 ;;
  esac
done
[ -n "$build" ] || { echo "run.sh: --build DIR or --prebuilt DIR is required" >&2; exit 64; }
[ ${#only[@]} -gt 0 ] || only=("${all[@]}")

if [ "$prebuilt" = 0 ]; then
  jobs=$(nproc 2>/dev/null || echo 2)
  cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Debug \
        -DTALLINN_FUZZ=ON >/dev/null
  cmake --build "$build" -j "$jobs" --target fuzz-all >/dev/null
fi

work="$build/fuzz-work"
failed=()
for t in "${only[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz_$t: not built ($bin)" >&2; failed+=("$t"); continue; }
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"

  # 1. Every crash found so far stays fixed.
  regs=()
  if [ -d "$here/regressions/$t" ]; then
    while IFS= read -r -d '' f; do regs+=("$f"); done \
      < <(find "$here/regressions/$t" -type f ! -name '*.md' -print0 | sort -z)
  fi
  if [ ${#regs[@]} -gt 0 ]; then
    if ! "$bin" -runs=1 "${regs[@]}" >"$work/$t/regressions.log" 2>&1; then
      echo "fuzz_$t: a regression input fails again; see $work/$t/regressions.log" >&2
      tail -n 40 "$work/$t/regressions.log" >&2
      failed+=("$t")
      continue
    fi
  fi

  # 2. Fuzz for the set time. The seed corpus is only read.
  log="$work/$t/fuzz.log"
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$work/$t/artifacts/" \
       "$work/$t/corpus" "$here/corpus/$t" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    feat=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    echo "fuzz_$t: ok, ${#regs[@]} regressions replayed, ${execs:-?} execs in ${seconds}s, cov ${cov:-?}, ft ${feat:-?}"
  else
    echo "fuzz_$t: FAILED; input kept in $work/$t/artifacts/ — copy it to tests/fuzz/regressions/$t/" >&2
    grep -E 'check failed|runtime error|ERROR: (Address|Leak|Undefined)|SUMMARY|Test unit written' \
      "$log" | head -n 12 >&2 || true
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
