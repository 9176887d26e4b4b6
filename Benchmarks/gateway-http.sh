#!/usr/bin/env bash
# Gateway HTTP (issue 6): requests/s and p50/p99 latency of `GET /getTemperature` and
# `GET /v1/camera` on aperture-gateway beside a Flask app serving the same JSON (evora's
# deployment: `flask run --with-threads`), measured with wrk on loopback in the same run; and
# the command latency through the gateway to the camera and back (`POST /v1/camera/cooling`).
#
#   Benchmarks/gateway-http.sh            # builds the release binaries into .build-bench first
#   SKIP_BUILD=1 Benchmarks/gateway-http.sh
#
# Settings (environment): DURATION (wrk seconds per case, default 10), THREADS (wrk threads,
# default 2), CONNECTIONS (wrk connections, default 16), COMMANDS (sequential cooling commands,
# default 1000), BUILD (scratch path, default .build-bench).
#
# Everything binds to 127.0.0.1 on free ports and runs in a fresh temporary directory; the
# service and Flask are stopped and the directory removed at the end, whatever happens. The
# script prints its figures and never fails on them: the goal (at least 10x Flask's requests/s,
# p99 under 5 ms) is reported as met or not met.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/.build-bench}
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
COMMANDS=${COMMANDS:-1000}

for tool in wrk python3 flask curl; do
    command -v "$tool" >/dev/null || { echo "gateway-http.sh: $tool is needed" >&2; exit 2; }
done
if [ -z "${SKIP_BUILD:-}" ]; then
    (cd "$ROOT" && swift build -c release --scratch-path "$BUILD") >&2
fi
BIN=$(cd "$ROOT" && swift build -c release --scratch-path "$BUILD" --show-bin-path)
[ -x "$BIN/aperture" ] || { echo "gateway-http.sh: no $BIN/aperture (build it, or unset SKIP_BUILD)" >&2; exit 2; }

DIR=$(mktemp -d /tmp/aperture-gateway-http.XXXXXX)
SERVICE_PID=
FLASK_PID=
cleanup() {
    for pid in $FLASK_PID $SERVICE_PID; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $FLASK_PID $SERVICE_PID; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
wait_for() {  # URL: until it answers 200 (60 s at most)
    for _ in $(seq 600); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ] && return 0
        sleep 0.1
    done
    echo "gateway-http.sh: $1 did not answer 200 within 60 s" >&2
    return 1
}

GATEWAY_PORT=$(free_port)
FLASK_PORT=$(free_port)
GATEWAY=http://127.0.0.1:$GATEWAY_PORT
FLASK=http://127.0.0.1:$FLASK_PORT

# The service as deployed (simulated camera, default log level), on loopback, Alpaca off.
APERTURE_GATEWAY_LISTEN=127.0.0.1:$GATEWAY_PORT APERTURE_ALPACA_PORT=-1 \
APERTURE_DATA_ROOT=$DIR/data APERTURE_STATE_DIRECTORY=$DIR/state \
    "$BIN/aperture" run --runtime-dir "$DIR/run" >"$DIR/service.log" 2>&1 &
SERVICE_PID=$!
wait_for "$GATEWAY/getTemperature"
curl -s "$GATEWAY/getTemperature" >"$DIR/temperature.json"
curl -s "$GATEWAY/v1/camera" >"$DIR/camera.json"

# Flask serving the gateway's own replies, as evora runs it.
(cd "$ROOT/Benchmarks" && FLASK_APP=flask_evora.py FLASK_EVORA_TEMPERATURE=$DIR/temperature.json \
    FLASK_EVORA_CAMERA=$DIR/camera.json exec flask run --with-threads --host 127.0.0.1 --port "$FLASK_PORT") \
    >"$DIR/flask.log" 2>&1 &
FLASK_PID=$!
wait_for "$FLASK/getTemperature"

# wrk --latency; prints "requests/s p50_ms p99_ms errors".
measure() {
    local output
    output=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$1")
    echo "$output" >>"$DIR/wrk.log"
    python3 - "$output" <<'PY'
import re, sys
text = sys.argv[1]
def ms(value):
    number, unit = re.match(r"([0-9.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rate = float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
errors = 0
for match in re.finditer(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text):
    errors += sum(int(g) for g in match.groups())
match = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors += int(match.group(1)) if match else 0
print(f"{rate:.0f} {p50:.3f} {p99:.3f} {errors}")
PY
}

echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency, loopback; $(nproc) cores; load $(cut -d' ' -f1 /proc/loadavg)" >&2
declare -A RESULT
for path in /getTemperature /v1/camera; do
    for server in gateway flask; do
        url=$GATEWAY$path
        [ "$server" = flask ] && url=$FLASK$path
        curl -s -o /dev/null "$url"  # one request first: connections, caches
        RESULT[$server$path]=$(measure "$url")
        echo "  $server $path: ${RESULT[$server$path]}" >&2
    done
done

# For comparison, a gateway route that does not ask another process (a listing of the empty data
# root): the HTTP stack alone, without the bus round trip to aperture-camera.
curl -s -o /dev/null "$GATEWAY/v1/files"
RESULT[gateway/v1/files]=$(measure "$GATEWAY/v1/files")
echo "  gateway /v1/files: ${RESULT[gateway/v1/files]}" >&2

# Command latency: sequential POST /v1/camera/cooling on one kept-alive connection, each
# answered once the camera process applied the set-point and replied over the bus.
COMMAND=$(python3 - "$GATEWAY_PORT" "$COMMANDS" <<'PY'
import http.client, json, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
connection = http.client.HTTPConnection("127.0.0.1", port)
body = json.dumps({"setpoint": -20})
headers = {"Content-Type": "application/json"}
def post():
    start = time.perf_counter_ns()
    connection.request("POST", "/v1/camera/cooling", body, headers)
    response = connection.getresponse()
    reply = response.read()
    elapsed = (time.perf_counter_ns() - start) / 1e6
    if response.status != 200 or json.loads(reply).get("setpoint") != -20:
        sys.exit(f"POST /v1/camera/cooling: {response.status} {reply[:200]!r}")
    return elapsed
for _ in range(50):
    post()
samples = sorted(post() for _ in range(count))
def percentile(p):
    return samples[min(len(samples) - 1, int(round(p / 100 * (len(samples) - 1))))]
print(f"{percentile(50):.3f} {percentile(99):.3f} {samples[-1]:.3f}")
PY
)

python3 - "$COMMANDS" "$COMMAND" "${RESULT[gateway/getTemperature]}" "${RESULT[flask/getTemperature]}" \
    "${RESULT[gateway/v1/camera]}" "${RESULT[flask/v1/camera]}" "${RESULT[gateway/v1/files]}" <<'PY'
import sys
commands, command = sys.argv[1], sys.argv[2].split()
rows = [("GET /getTemperature", sys.argv[3].split(), sys.argv[4].split()),
        ("GET /v1/camera", sys.argv[5].split(), sys.argv[6].split())]
print("| path | server | requests/s | p50 (ms) | p99 (ms) | errors | x Flask | goal (>= 10x, p99 < 5 ms) |")
print("|---|---|---|---|---|---|---|---|")
for path, gateway, flask in rows:
    ratio = float(gateway[0]) / max(float(flask[0]), 1e-9)
    met = ratio >= 10 and float(gateway[2]) < 5 and gateway[3] == "0"
    print(f"| {path} | aperture-gateway | {float(gateway[0]):,.0f} | {gateway[1]} | {gateway[2]} | {gateway[3]} | {ratio:.1f} | {'met' if met else 'not met'} |")
    print(f"| {path} | Flask --with-threads | {float(flask[0]):,.0f} | {flask[1]} | {flask[2]} | {flask[3]} | 1.0 | |")
files = sys.argv[7].split()
print(f"| GET /v1/files (no bus) | aperture-gateway | {float(files[0]):,.0f} | {files[1]} | {files[2]} | {files[3]} | | |")
print()
print(f"POST /v1/camera/cooling {{\"setpoint\": -20}}, {commands} sequential requests on one connection:"
      f" p50 {command[0]} ms, p99 {command[1]} ms, max {command[2]} ms")
PY
