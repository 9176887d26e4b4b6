"""A weather source for the tests: an ASCOM Alpaca ObservingConditions device 0 and a JSON
document, on 127.0.0.1:PORT (argv[1]).

GET /api/v1/observingconditions/0/<member>   Alpaca replies; members not listed answer 0x400
GET /station.json                             {"main": {"temp": 18.0, "humidity": 55}, "wind": {"speed": 4.5}, ...}
GET /control/hang, /control/ok                from now on /station.json hangs for 60 s, or answers
GET /control/count                            how many weather requests were answered
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

ALPACA = {
    "temperature": 12.5, "humidity": 40.0, "dewpoint": -1.25, "pressure": 1013.0,
    "windspeed": 3.0, "winddirection": 270.0, "cloudcover": 20.0,
    # A broken sensor: out of its physical range, to be left out.
    "skyquality": 99.0,
}
STATION = {"main": {"temp": 18.0, "humidity": 55, "pressure": "1009.5"},
           "wind": {"speed": 4.5, "deg": True}, "list": [{"sky": 33}], "name": "test station"}
state = {"hang": False, "count": 0}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        parts = url.path.strip("/").split("/")
        if url.path == "/control/hang":
            with lock:
                state["hang"] = True
            return self.reply(200, {"hang": True})
        if url.path == "/control/ok":
            with lock:
                state["hang"] = False
            return self.reply(200, {"hang": False})
        if url.path == "/control/count":
            with lock:
                return self.reply(200, {"count": state["count"]})
        with lock:
            state["count"] += 1
            hang = state["hang"]
        if url.path == "/station.json":
            if hang:
                time.sleep(60)
            return self.reply(200, STATION)
        if len(parts) == 5 and parts[:4] == ["api", "v1", "observingconditions", "0"]:
            query = {k.lower(): v for k, v in parse_qs(url.query).items()}
            transaction = int(query.get("clienttransactionid", ["0"])[0])
            member = parts[4]
            envelope = {"ClientTransactionID": transaction, "ServerTransactionID": state["count"]}
            if member in ALPACA:
                return self.reply(200, dict(envelope, Value=ALPACA[member], ErrorNumber=0, ErrorMessage=""))
            return self.reply(200, dict(envelope, Value=0, ErrorNumber=0x400,
                                        ErrorMessage=member + " is not implemented"))
        self.reply(404, {"error": "no " + url.path})


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
server.daemon_threads = True
server.serve_forever()
