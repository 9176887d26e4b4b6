"""The Flask side of the gateway HTTP benchmark (issue 6; Benchmarks/gateway-http.sh).

Serves the same JSON as aperture-gateway for `GET /getTemperature` and `GET /v1/camera`, as
evora-server serves its routes: a Flask app run by `flask run --with-threads` (Werkzeug's
development server, a thread per request), each reply built with `jsonify` from a dict.

The replies are the gateway's own, captured by the benchmark script before the run and passed
in files named by FLASK_EVORA_TEMPERATURE and FLASK_EVORA_CAMERA, so that both servers send
bodies of the same size and shape. Flask does not talk to a camera: its figures are the HTTP
stack's cost alone, while the gateway's also include the round trip to aperture-camera over
the bus (evora's getTemperature called the Andor SDK in-process).

    FLASK_APP=Benchmarks/flask_evora.py flask run --with-threads --host 127.0.0.1 --port 3001
"""

import json
import os

from flask import Flask, jsonify


def _load(variable, fallback):
    path = os.environ.get(variable)
    if not path:
        return fallback
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


TEMPERATURE = _load("FLASK_EVORA_TEMPERATURE", {"temperature": 20.0, "status": 20034})
CAMERA = _load("FLASK_EVORA_CAMERA", {"state": "idle", "connected": True, "driver": "simulator"})

app = Flask(__name__)
# The gateway sends compact JSON with sorted keys; so does this.
app.json.compact = True
app.json.sort_keys = True


@app.route("/getTemperature")
def get_temperature():
    # evora-server: `return jsonify({"temperature": ..., "status": ...})` from a fresh dict.
    return jsonify(dict(TEMPERATURE))


@app.route("/v1/camera")
def camera():
    return jsonify(dict(CAMERA))
