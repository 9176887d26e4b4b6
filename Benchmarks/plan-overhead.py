#!/usr/bin/env python3
"""Plan overhead (issue 15): the time between two frames of a plan against the same frames taken
as one series, in the same run, through the real service with the simulated camera.

    swift build -c release && python3 Benchmarks/plan-overhead.py [--bin .build/release]
        [--frames 20] [--time 1.0] [--size 1024] [--repeats 2]

Starts `aperture` (its own runtime, state and data directories under /tmp, gateway on a free
loopback port, simulator in real time), then for each repeat takes, one after the other:
  series  one POST /v1/exposures of FRAMES frames;
  plan-1  a plan of one step of FRAMES frames;
  plan-N  a plan of FRAMES steps of one frame each (a repeat): the worst case, where every frame
          is a new camera request chosen by the sequencer after the catalog holds the last.
For each it reads the frames' DATE-OBS from the catalog (GET /v1/frames) and prints the mean
interval between consecutive frame starts, and its excess over the series' (the overhead).
"""
import argparse, http.client, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time
from datetime import datetime

parser = argparse.ArgumentParser()
parser.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release"))
parser.add_argument("--frames", type=int, default=20)
parser.add_argument("--time", type=float, default=1.0)
parser.add_argument("--size", type=int, default=1024)
parser.add_argument("--repeats", type=int, default=2)
options = parser.parse_args()

root = tempfile.mkdtemp(prefix="aperture-plan-bench-")
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
env = dict(os.environ, APERTURE_GATEWAY_LISTEN="127.0.0.1:%d" % port, APERTURE_ALPACA_PORT="0",
           APERTURE_STATE_DIRECTORY=root + "/state", APERTURE_DATA_ROOT=root + "/data", APERTURE_LOG_LEVEL="warning",
           APERTURE_CAMERA_WIDTH=str(options.size), APERTURE_CAMERA_HEIGHT=str(options.size), APERTURE_CAMERA_TIME_SCALE="1")
for key in ("NOTIFY_SOCKET", "JOURNAL_STREAM"):
    env.pop(key, None)
log = open(root + "/service.log", "w")
service = subprocess.Popen([os.path.join(options.bin, "aperture"), "--runtime-dir", root + "/run"], env=env,
                           stdout=log, stderr=log)


def call(method, path, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, body=json.dumps(body) if body is not None else None,
                       headers={"Content-Type": "application/json"} if body is not None else {})
    reply = connection.getresponse()
    data = reply.read()
    connection.close()
    return reply.status, (json.loads(data) if data else None)


def wait(predicate, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.05)
    raise SystemExit("timed out; see " + root + "/service.log")


def starts(query):
    frames = call("GET", "/v1/frames?limit=1000&" + query)[1]["frames"]
    return sorted(datetime.fromisoformat(f["date_obs"]).timestamp() for f in frames)


def intervals(times):
    return [b - a for a, b in zip(times, times[1:])]


try:
    wait(lambda: call("GET", "/healthz")[1]["status"] == "ok" and call("GET", "/v1/camera")[1].get("connected"))
    exposure = {"type": "dark", "time": options.time}
    results = {"series": [], "plan-1": [], "plan-N": []}
    for _ in range(options.repeats):
        status, record = call("POST", "/v1/exposures", dict(exposure, count=options.frames))
        wait(lambda: call("GET", "/v1/exposures/" + record["id"])[1]["status"] != "running")
        times = wait(lambda: (lambda t: t if len(t) == options.frames else None)(starts("exposure=" + record["id"])))
        results["series"] += intervals(times)
        for kind, steps in (("plan-1", [{"exposure": dict(exposure, count=options.frames)}]),
                            ("plan-N", [{"repeat": {"times": options.frames, "steps": [{"exposure": exposure}]}}])):
            status, plan = call("POST", "/v1/plans", {"name": kind, "steps": steps})
            assert status == 201, plan
            wait(lambda: call("GET", "/v1/plans/" + plan["id"])[1]["state"] in ("done", "failed", "cancelled"))
            times = starts("plan=" + plan["id"])
            assert len(times) == options.frames, (kind, len(times))
            results[kind] += intervals(times)
    series = statistics.mean(results["series"])
    print("frames %d x %.2f s darks, %dx%d, %d repeat(s); mean interval between frame starts:" %
          (options.frames, options.time, options.size, options.size, options.repeats))
    for kind, values in results.items():
        mean = statistics.mean(values)
        print("  %-7s %.4f s (p50 %.4f, max %.4f)  overhead %+.1f%%" %
              (kind, mean, statistics.median(values), max(values), 100 * (mean / series - 1)))
finally:
    service.send_signal(signal.SIGTERM)
    try:
        service.wait(timeout=60)
    except subprocess.TimeoutExpired:
        service.kill()
    shutil.rmtree(root, ignore_errors=True)
