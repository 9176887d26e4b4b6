#!/usr/bin/env bash
# Processor memory over 10,000 frames (issue 5): RSS of aperture-processor after 500 frames and
# after 10,000, with a preview run of the simulated camera feeding it as fast as it can.
set -euo pipefail
BIN=${BIN:-/work/main/.build/debug}
DIR=$(mktemp -d /tmp/aperture-memory.XXXXXX)
export APERTURE_GATEWAY_LISTEN=127.0.0.1:0 APERTURE_CAMERA_WIDTH=512 APERTURE_CAMERA_HEIGHT=512 \
       APERTURE_CAMERA_TIME_SCALE=0.0001 APERTURE_DATA_ROOT=$DIR/data APERTURE_LOG_LEVEL=warning
"$BIN/aperture" --runtime-dir "$DIR/run" 2>/dev/null &
SUP=$!
trap 'kill $SUP 2>/dev/null; wait $SUP 2>/dev/null; rm -rf "$DIR"' EXIT
sleep 3
python3 - "$DIR/run" <<'PY'
import json, sys, time, pynng
run = sys.argv[1]
def call(sock, cmd, args={}):
    s = pynng.Req0(dial=f"ipc://{run}/{sock}", recv_timeout=5000, send_timeout=5000, resend_time=-1)
    s.send(json.dumps({"v": 1, "id": "m", "command": cmd, "args": args}).encode())
    r = json.loads(s.recv()); s.close(); return r["result"]
def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1])
pid = next(c["pid"] for c in call("supervisor.ctl", "status")["children"] if c["name"] == "processor")
call("camera.ctl", "expose", {"type": "object", "time": 1, "mode": "preview", "count": 10000})
marks = {}
start = time.time()
while True:
    st = call("processor.ctl", "statistics")
    done = st["frames_processed"] + st["frames_dropped"]
    for mark in (500, 2500, 5000, 10000):
        if done >= mark and mark not in marks:
            marks[mark] = (rss(pid), st["frames_processed"], st["frames_dropped"])
    if done >= 10000 or time.time() - start > 600: break
    time.sleep(0.2)
print("frames seen   processed  dropped  processor RSS")
for mark, (kib, processed, dropped) in sorted(marks.items()):
    print(f"{mark:>11}  {processed:>9}  {dropped:>7}  {kib/1024:8.1f} MiB")
PY
