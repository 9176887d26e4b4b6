"""Many /v1/events clients and one that does not read, against the running gateway.

Usage: sse_clients.py HOST:PORT CLIENTS SECONDS

Opens CLIENTS readers and one slow client (a tiny receive buffer, reads nothing for SECONDS),
starts a stream of preview frames through POST /v1/exposures, keeps asking GET /v1/camera
meanwhile, aborts, then reads the slow client. Prints one JSON line with what each saw.

The slow client falls behind only once more events were sent than the kernel's socket buffers
hold (some 100 KB). On a loaded machine the previews come slower, so the stream goes on past
SECONDS, up to 60 s, until the gateway's metrics count a slow client's dropped event.
"""
import http.client
import json
import socket
import sys
import threading
import time

host, port = sys.argv[1].rsplit(":", 1)
port = int(port)
clients = int(sys.argv[2])
seconds = float(sys.argv[3])


def open_stream(rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect((host, port))
    s.sendall(f"GET /v1/events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
    return s


counts = [dict(frames=0, dropped=0, bytes=0) for _ in range(clients)]
stop = threading.Event()


def reader(index, s):
    s.settimeout(0.5)
    buffer = b""
    while not stop.is_set():
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        counts[index]["bytes"] += len(chunk)
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line == b"event: camera.frame":
                counts[index]["frames"] += 1
            elif line == b"event: dropped":
                counts[index]["dropped"] += 1
    s.close()


readers = []
for i in range(clients):
    t = threading.Thread(target=reader, args=(i, open_stream()), daemon=True)
    t.start()
    readers.append(t)
slow = open_stream(rcvbuf=2048)
time.sleep(0.5)

api = http.client.HTTPConnection(host, port, timeout=10)
body = json.dumps({"type": "object", "time": 0.01, "mode": "preview", "count": 100000})
api.request("POST", "/v1/exposures", body, {"Content-Type": "application/json"})
started = api.getresponse()
started_body = started.read()
assert started.status == 202, (started.status, started_body)



def slow_client_dropped():
    api.request("GET", "/metrics")
    reply = api.getresponse()
    text = reply.read().decode()
    for line in text.split("\n"):
        if line.startswith('aperture_events_dropped_total{reason="slow_client"}'):
            return float(line.split()[-1]) > 0
    return False


latencies = []
began = time.time()
deadline = began + seconds
while time.time() < deadline:
    t0 = time.perf_counter()
    api.request("GET", "/v1/camera")
    reply = api.getresponse()
    reply.read()
    latencies.append(time.perf_counter() - t0)
    assert reply.status == 200, reply.status
    time.sleep(0.05)
    if time.time() >= deadline and time.time() < began + 60 and not slow_client_dropped():
        deadline = min(began + 60, time.time() + 0.5)

api.request("POST", "/v1/exposures/abort", "", {"Content-Type": "application/json"})
api.getresponse().read()
time.sleep(1.0)
stop.set()
for t in readers:
    t.join(timeout=5)

# Now drain the slow client: it must have been told that events were dropped.
slow.settimeout(1.0)
data = b""
drain_until = time.time() + 10  # periodic events (telemetry, the export's status) never leave it quiet for long
try:
    while time.time() < drain_until:
        chunk = slow.recv(1 << 20)
        if not chunk:
            break
        data += chunk
        if len(data) > 50_000_000:
            break
except socket.timeout:
    pass
slow.close()
dropped_counts = [json.loads(line[6:])["dropped"] for line in data.split(b"\n")
                  if line.startswith(b"data: {\"dropped\"")]
latencies.sort()
print(json.dumps({
    "clients": counts,
    "slow": {"bytes": len(data), "dropped_events": sum(dropped_counts), "dropped_notices": len(dropped_counts)},
    "camera_requests": len(latencies),
    "camera_p50_ms": latencies[len(latencies) // 2] * 1000,
    "camera_max_ms": latencies[-1] * 1000,
}))
