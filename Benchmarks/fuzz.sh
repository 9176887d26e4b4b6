#!/usr/bin/env bash
# Fuzzing (issue 11, item 7): builds the libFuzzer harness of Benchmarks/Fuzz and runs each target
# (or those named) for a given time, one at a time under `nice -n 19`, then prints per target the
# executions, executions per second, coverage, features and crashes (libFuzzer's final stats).
#
#   Benchmarks/fuzz.sh                          every target, 600 s each
#   Benchmarks/fuzz.sh --seconds 600 envelope   one target
#   Benchmarks/fuzz.sh --smoke                  10 s each (what CI can run); exits 1 on a crash
#   Benchmarks/fuzz.sh --keep-going envelope    go on after a crash (libFuzzer -fork=1
#                                               -ignore_crashes=1: one fuzzing child at a time)
#   Benchmarks/fuzz.sh --random 100000          without libFuzzer: the ordinary build's seeded
#                                               random generator (where -sanitize=fuzzer fails)
#
# Targets: envelope, http-body, alpaca, frame-ring. Seeds: Benchmarks/Fuzz/corpus/<target>
# (read only); inputs libFuzzer finds go to OUT/corpus/<target>, crash inputs to
# OUT/crashes/<target>/ (OUT: --out DIR, default .build-fuzz/runs/<time>). The harness is built in
# .build-fuzz with `swift build -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING`.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(envelope http-body alpaca frame-ring)
SECONDS_EACH=600
RANDOM_RUNS=0
KEEP_GOING=0
BUILD=1
OUT=""
TARGETS=()
while (($#)); do
    case $1 in
        --seconds) SECONDS_EACH=$2; shift 2 ;;
        --smoke) SECONDS_EACH=10; shift ;;
        --random) RANDOM_RUNS=$2; shift 2 ;;
        --keep-going) KEEP_GOING=1; shift ;;
        --no-build) BUILD=0; shift ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) TARGETS+=("$1"); shift ;;
    esac
done
((${#TARGETS[@]})) || TARGETS=("${ALL[@]}")
for target in "${TARGETS[@]}"; do
    [[ " ${ALL[*]} " == *" $target "* ]] || { echo "fuzz.sh: unknown target $target (${ALL[*]})" >&2; exit 2; }
done
OUT=${OUT:-.build-fuzz/runs/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"

# The largest input per target: an envelope or a body of a few KB, a form, a ring file header
# and a few slot headers (Benchmarks/Fuzz/FrameRing/FrameRingFuzz.swift).
max_len() {
    case $1 in envelope|http-body) echo 4096 ;; alpaca) echo 1024 ;; frame-ring) echo 2048 ;; esac
}

if ((RANDOM_RUNS)); then
    ((BUILD)) && nice -n 19 swift build >/dev/null
    for target in "${TARGETS[@]}"; do
        mkdir -p "$OUT/crashes/$target"
        echo "== $target: $RANDOM_RUNS random inputs (crash input: $OUT/crashes/$target/last-input)"
        nice -n 19 ".build/debug/aperture-fuzz-$target" "Benchmarks/Fuzz/corpus/$target" \
            --random "$RANDOM_RUNS" --seed 1 --dict "Benchmarks/Fuzz/dict/$target.dict" \
            --save "$OUT/crashes/$target/last-input"
    done
    exit 0
fi

# `nice` does not reach the compilers swift-build starts (they run at priority 0), so the build's
# processes are reniced while it runs: other builds on the machine keep their share.
niced_build() {
    nice -n 19 swift build "$@" 2>&1 | grep -E "error:|complete!" &
    local build=$!
    while kill -0 "$build" 2>/dev/null; do
        for pid in $(pgrep -f -- "--scratch-path $PWD/.build-fuzz|$PWD/.build-fuzz/" || true); do
            renice -n 19 -p "$pid" >/dev/null 2>&1 || true
        done
        sleep 1
    done
    wait "$build" || true
}

if ((BUILD)); then
    for target in "${TARGETS[@]}"; do
        niced_build --scratch-path "$PWD/.build-fuzz" -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING \
            --product "aperture-fuzz-$target"
    done
fi
BIN=.build-fuzz/debug

# Swift's own backtracer trips over ASan when a check traps; libFuzzer's deadly-signal handler then
# prints the stack instead (ASan's unwinder, Swift names mangled, with file:line).
export SWIFT_BACKTRACE=enable=no
status=0
rows=()
for target in "${TARGETS[@]}"; do
    corpus="$OUT/corpus/$target" crashes="$OUT/crashes/$target" log="$OUT/$target.log"
    mkdir -p "$corpus" "$crashes"
    command=(nice -n 19 "$BIN/aperture-fuzz-$target" "$corpus" "Benchmarks/Fuzz/corpus/$target"
             -max_total_time="$SECONDS_EACH" -max_len="$(max_len "$target")"
             -dict="Benchmarks/Fuzz/dict/$target.dict" -artifact_prefix="$crashes/"
             -timeout=10 -rss_limit_mb=4096 -print_final_stats=1)
    ((KEEP_GOING)) && command+=(-fork=1 -ignore_crashes=1)
    echo "== $target: ${command[*]}"
    started=$SECONDS
    set +e
    "${command[@]}" >"$log" 2>&1
    code=$?
    set -e
    elapsed=$((SECONDS - started))  # shorter than asked when a crash stops the run
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
    executions=$(stat number_of_executed_units)
    rate=$(stat average_exec_per_sec)
    if ((KEEP_GOING)); then
        # Fork mode's own status lines: "#EXECS: cov: C ft: F corp: N exec/s: R oom/timeout/crash: ..."
        executions=$(grep -oE '^#[0-9]+: cov' "$log" | tail -1 | tr -dc '0-9')
        rate=$(( ${executions:-0} / (elapsed > 0 ? elapsed : 1) ))  # its exec/s is the last job's
    fi
    coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    features=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    found=$(find "$crashes" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
    if ((code != 0)); then
        status=1
        grep -m1 -E "Fatal error|Swift runtime failure|ERROR: (AddressSanitizer|libFuzzer)" "$log" | sed "s/^/   /" || true
        grep -m4 -E "^ *#[0-9]+ 0x.* /.*/(Sources|Benchmarks)/" "$log" | sed "s/^ */   /" || true
    fi
    rows+=("$(printf '%-11s %7s %12s %8s %7s %8s %7s  %s' "$target" "$elapsed" "${executions:-?}" "${rate:-?}" \
        "${coverage:-?}" "${features:-?}" "$found" "$crashes")")
done

echo
printf '%-11s %7s %12s %8s %7s %8s %7s  %s\n' target seconds executions exec/s cov ft crashes "crash inputs"
printf '%s\n' "${rows[@]}"
echo "logs: $OUT/<target>.log"
exit $status
