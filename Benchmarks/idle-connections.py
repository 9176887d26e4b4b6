#!/usr/bin/env python3
"""Idle connections against a running gateway (issue 11): opens N TCP connections that send
nothing, measures /healthz while they are held, then how long the gateway takes to close them
(gateway.idle_timeout). Run against a gateway started for the purpose, e.g.

    APERTURE_GATEWAY_IDLE_TIMEOUT=5 APERTURE_GATEWAY_LISTEN=127.0.0.1:8123 \
        .build/debug/aperture --runtime-dir /tmp/idle-bench/run &
    python3 Benchmarks/idle-connections.py 127.0.0.1:8123 5000

Prints one JSON line: connections opened, /healthz latencies (ms) while held, seconds from the
last connect until the gateway had closed each (min, median, max), and any still open.
"""
import http.client, json, resource, select, socket, sys, time

host, port = sys.argv[1].rsplit(":", 1)
count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 256), hard))

sockets = []
started = time.monotonic()
for _ in range(count):
    sockets.append(socket.create_connection((host, int(port))))
opened = time.monotonic()

latencies = []
for _ in range(5):
    t = time.monotonic()
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    c.request("GET", "/healthz")
    status = c.getresponse().status
    c.close()
    latencies.append((status, round((time.monotonic() - t) * 1000, 1)))

closed_after = []
poller = select.poll()
by_fd = {s.fileno(): s for s in sockets}
for fd in by_fd:
    poller.register(fd, select.POLLIN)
deadline = time.monotonic() + 600
while by_fd and time.monotonic() < deadline:
    for fd, _ in poller.poll(1000):
        if not by_fd[fd].recv(1, socket.MSG_PEEK):
            closed_after.append(time.monotonic() - opened)
            poller.unregister(fd)
            by_fd.pop(fd).close()
closed_after.sort()
print(json.dumps({
    "connections": count,
    "open_seconds": round(opened - started, 2),
    "healthz_while_held": latencies,
    "closed_after_seconds": [round(closed_after[0], 2), round(closed_after[len(closed_after) // 2], 2),
                             round(closed_after[-1], 2)] if closed_after else None,
    "still_open": len(by_fd),
}))
