"""A filter wheel server speaking evora's line protocol (`get`, `move N`, `home`; replies
`OK,<value>`), whose `home` and `move` take a given number of seconds: a slow wheel for the
test that slow camera commands never hold up pings. Usage: slow_filter_wheel.py PORT SECONDS"""
import socketserver
import sys
import threading
import time

port, seconds = int(sys.argv[1]), float(sys.argv[2])
position = 0
lock = threading.Lock()


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        global position
        line = self.rfile.readline().decode().strip()
        if line == "get":
            with lock:
                reply = f"OK,{position}"
        elif line == "home" or line.startswith("move "):
            time.sleep(seconds)
            with lock:
                position = 0 if line == "home" else int(line.split()[1])
            reply = "OK"
        else:
            reply = f"ERR,unknown command {line!r}"
        self.wfile.write((reply + "\n").encode())


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


with Server(("127.0.0.1", port), Handler) as server:
    server.serve_forever()
