#!/usr/bin/env bash
# Frame preview (issue 6): how long `GET /v1/frames/latest.png` takes to render a 2048x2048
# frame (8 MB) for each stretch and width, against the baseline of the same run: downloading the
# frame itself (`GET /v1/frames/latest.fits`, the bytes the preview is made from). Each render is
# first made (a width not asked before), then asked again (from the gateway's cache).
#
#   Benchmarks/preview.sh              # builds the release binaries into .build-bench first
#   SKIP_BUILD=1 Benchmarks/preview.sh
#   BUILD=.build Benchmarks/preview.sh  # the debug build (what the tests run)
#
# Settings (environment): SIZE (frame side, default 2048), TRIALS (renders per case, each at a
# width of its own, default 5), BUILD (scratch path, default .build-bench; CONFIGURATION=debug
# for a debug scratch path).
#
# Everything binds to 127.0.0.1 on a free port in a fresh temporary directory, removed at the
# end. The figures are printed; the script fails only if a request fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/.build-bench}
CONFIGURATION=${CONFIGURATION:-release}
SIZE=${SIZE:-2048}
TRIALS=${TRIALS:-5}

for tool in python3 curl; do
    command -v "$tool" >/dev/null || { echo "preview.sh: $tool is needed" >&2; exit 2; }
done
if [ -z "${SKIP_BUILD:-}" ]; then
    (cd "$ROOT" && swift build -c "$CONFIGURATION" --scratch-path "$BUILD") >&2
fi
BIN=$(cd "$ROOT" && swift build -c "$CONFIGURATION" --scratch-path "$BUILD" --show-bin-path)
[ -x "$BIN/aperture" ] || { echo "preview.sh: no $BIN/aperture (build it, or unset SKIP_BUILD)" >&2; exit 2; }

DIR=$(mktemp -d /tmp/aperture-preview.XXXXXX)
SERVICE_PID=
cleanup() {
    if [ -n "$SERVICE_PID" ]; then
        kill -TERM "$SERVICE_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$SERVICE_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVICE_PID" 2>/dev/null || true
        wait "$SERVICE_PID" 2>/dev/null || true
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
GATEWAY=http://127.0.0.1:$PORT
APERTURE_GATEWAY_LISTEN=127.0.0.1:$PORT APERTURE_ALPACA_PORT=-1 \
APERTURE_CAMERA_WIDTH=$SIZE APERTURE_CAMERA_HEIGHT=$SIZE APERTURE_CAMERA_TIME_SCALE=0.01 \
APERTURE_DATA_ROOT=$DIR/data APERTURE_STATE_DIRECTORY=$DIR/state \
    "$BIN/aperture" run --runtime-dir "$DIR/run" >"$DIR/service.log" 2>&1 &
SERVICE_PID=$!

python3 - "$GATEWAY" "$SIZE" "$TRIALS" "$(nproc)" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse

gateway, size, trials, cores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
host, port = urllib.parse.urlparse(gateway).hostname, urllib.parse.urlparse(gateway).port

def request(method, path, body=None):
    connection = http.client.HTTPConnection(host, port, timeout=120)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    start = time.perf_counter()
    connection.request(method, path, body, headers)
    response = connection.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - start
    connection.close()
    return response.status, data, elapsed

deadline = time.time() + 60
while True:
    try:
        status, data, _ = request("GET", "/v1/camera")
        if status == 200 and json.loads(data).get("connected"):
            break
    except OSError:
        pass
    if time.time() > deadline:
        sys.exit("preview.sh: the camera did not answer within 60 s")
    time.sleep(0.1)

status, data, _ = request("POST", "/v1/exposures", json.dumps({"type": "object", "time": 1}))
if status not in (200, 201, 202):
    sys.exit(f"preview.sh: the exposure was refused: {status} {data[:200]!r}")
exposure = json.loads(data)["id"]
deadline = time.time() + 120
while True:
    status, data, _ = request("GET", f"/v1/exposures/{exposure}")
    if status == 200 and json.loads(data).get("status") not in ("running", "queued"):
        break
    if time.time() > deadline:
        sys.exit("preview.sh: the exposure did not end within 120 s")
    time.sleep(0.05)

def ms(values):
    return f"{statistics.median(values) * 1000:.1f} ms (best {min(values) * 1000:.1f})"

fits = []
for _ in range(trials):
    status, data, elapsed = request("GET", "/v1/frames/latest.fits")
    if status != 200:
        sys.exit(f"preview.sh: latest.fits: {status}")
    fits.append(elapsed)
print(f"{size}x{size} frame, {len(data) / 1e6:.1f} MB FITS; {cores} cores; median of {trials}")
print(f"baseline: GET /v1/frames/latest.fits  {ms(fits)}")
for stretch in ("zscale", "asinh", "linear"):
    for width in (256, 512, 1024):
        first, cached = [], []
        for trial in range(trials):
            path = f"/v1/frames/latest.png?width={width - trial}&stretch={stretch}"
            for times in (first, cached):
                status, data, elapsed = request("GET", path)
                if status != 200 or not data.startswith(b"\x89PNG"):
                    sys.exit(f"preview.sh: {path}: {status}")
                times.append(elapsed)
        ratio = statistics.median(first) / statistics.median(fits)
        print(f"{stretch:7} width {width:4}: rendered {ms(first)}, {ratio:.2f}x the FITS download; cached {ms(cached)}")
PY
