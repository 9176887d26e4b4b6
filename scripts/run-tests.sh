#!/usr/bin/env bash
# Runs the test suite (`swift test --skip-build`, arguments passed on) under a watchdog. The
# whole suite takes about three minutes; if it is still running after APERTURE_TEST_LIMIT
# seconds (1500 by default) something is stuck, and waiting longer tells nobody what. The
# watchdog then prints every thread's backtrace of the test process (lldb, from the Swift
# toolchain, or gdb), stops it, and this script fails with 124: a hang becomes a failure that
# says where each thread waited.
set -uo pipefail
cd "$(dirname "$0")/.."

limit="${APERTURE_TEST_LIMIT:-1500}"
swift="${SWIFT:-swift}"

"$swift" test --skip-build "$@" &
runner=$!

# The test process swift test started: the package's test bundle, from this checkout (read
# from /proc: procps may not be installed).
test_process() {
    local entry
    for entry in /proc/[0-9]*; do
        if tr '\0' ' ' < "$entry/cmdline" 2>/dev/null | grep -q "$PWD/.build/.*PackageTests"; then
            echo "${entry#/proc/}"
            return
        fi
    done
}

backtraces() {
    local pid="$1" debugger
    debugger="$(dirname "$(readlink -f "$(command -v "$swift")")")/lldb"
    if [[ -x "$debugger" ]] && "$debugger" --version >/dev/null 2>&1; then
        timeout 120 "$debugger" --batch -p "$pid" -o "thread backtrace all" -o "process detach" 2>&1
    elif command -v gdb >/dev/null; then
        timeout 120 gdb -p "$pid" -batch -ex "thread apply all bt" 2>&1 | grep -v "^During symbol reading"
    else
        echo "(neither lldb nor gdb to print the backtraces)"
    fi
}

waited=0
while kill -0 "$runner" 2>/dev/null; do
    if (( waited >= limit )); then
        echo "run-tests: the tests still run after ${limit} s; the backtraces of every thread follow" >&2
        pid="$(test_process)"
        if [[ -n "$pid" ]]; then
            backtraces "$pid" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
        kill -KILL "$runner" 2>/dev/null
        # What the tests started from this checkout's build (the service's processes).
        for entry in /proc/[0-9]*; do
            if tr '\0' ' ' < "$entry/cmdline" 2>/dev/null | grep -q "^$PWD/.build/"; then
                kill -KILL "${entry#/proc/}" 2>/dev/null
            fi
        done
        wait "$runner" 2>/dev/null
        exit 124
    fi
    sleep 5
    waited=$((waited + 5))
done
wait "$runner"
