"""psen_processing's own client and test sequence, replayed against Aperture's /psen/ face.

PsenClient below makes exactly the requests that psen_processing's PsenProcessingClient makes
(paulscherrerinstitute/psen_processing, psen_processing/rest_api/client.py) and reads exactly
the fields it reads; the line numbers cited are client.py's. It is written here, not copied:
the upstream file is GPL-3.0 and the mirror is not on CI. The scenarios translate the steps of
its tests/test_client.py; where psen fed frames over bsread, Aperture's camera takes them
(POST /v1/exposures), and where psen read its output stream, Aperture's processor results
(GET /v1/processor/results) are read.

Usage: psen_client.py SCENARIO HOST:PORT [ARGS...]. Prints a JSON summary on stdout; each failed
check is written to stderr and the exit status is 1.
"""

import datetime
import json
import sys
import threading
import time

import requests

FAILURES = []
SUMMARY = {}


def check(condition, message):
    if not condition:
        FAILURES.append(message)
    return condition


def validate_response(server_response):
    # client.py lines 6-10: anything but state "ok" raises ValueError with the server's status
    # text; a reply without "state" raises KeyError (what middleware errors used to cause).
    if server_response["state"] != "ok":
        raise ValueError(server_response.get("status", "Unknown error occurred."))
    return server_response


class PsenClient(object):
    def __init__(self, address):
        # client.py line 19: address.rstrip("/") + config.API_PREFIX ("") + "%s".
        self.api_address_format = address.rstrip("/") + "" + "%s"

    def start(self):
        # client.py lines 33-36: POST without a body, returns "status".
        return validate_response(requests.post(self.api_address_format % "/start").json())["status"]

    def stop(self):
        # client.py lines 43-46.
        return validate_response(requests.post(self.api_address_format % "/stop").json())["status"]

    def get_status(self):
        # client.py lines 53-56.
        return validate_response(requests.get(self.api_address_format % "/status").json())["status"]

    def get_statistics(self):
        # client.py lines 63-66: returns "statistics".
        return validate_response(requests.get(self.api_address_format % "/statistics").json())["statistics"]

    def get_roi_signal(self):
        # client.py lines 73-76.
        return validate_response(requests.get(self.api_address_format % "/roi_signal").json())["roi_signal"]

    def set_roi_signal(self, roi):
        # client.py lines 84-87: the ROI as the JSON body (json=roi: "null" for None).
        return validate_response(requests.post(self.api_address_format % "/roi_signal", json=roi).json())["roi_signal"]

    def get_roi_background(self):
        # client.py lines 94-97.
        return validate_response(requests.get(self.api_address_format % "/roi_background").json())["roi_background"]

    def set_roi_background(self, roi):
        # client.py lines 105-108.
        return validate_response(requests.post(self.api_address_format % "/roi_background",
                                               json=roi).json())["roi_background"]


def raises_value_error(call, pattern, what):
    """assertRaisesRegex(ValueError, pattern): the client's own error, not a KeyError or a
    JSON decoding error; returns the text."""
    try:
        call()
    except ValueError as error:
        if isinstance(error, json.JSONDecodeError) or type(error).__name__ == "JSONDecodeError":
            check(False, "%s: the reply is not JSON (%s)" % (what, error))
            return None
        check(pattern in str(error), "%s: ValueError %r does not contain %r" % (what, str(error), pattern))
        return str(error)
    except Exception as error:  # noqa: BLE001 - any other error is the failure under test
        check(False, "%s: raised %s %r instead of ValueError" % (what, type(error).__name__, error))
        return None
    check(False, "%s: no error raised" % what)
    return None


def base(address):
    return "http://" + address


def take_frames(address, count):
    """The bsread sender of test_client.py: the camera takes `count` frames."""
    reply = requests.post(base(address) + "/v1/exposures", json={"type": "object", "time": 0.05, "count": count})
    check(reply.status_code == 202, "POST /v1/exposures: %s %s" % (reply.status_code, reply.text))
    return reply.json().get("id")


def wait_for(predicate, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    check(False, "%s: not within %.0f s" % (what, timeout))
    return None


def results(address, exposure_id, count):
    def ready():
        reply = requests.get(base(address) + "/v1/processor/results",
                             params={"count": 1000, "full": "true", "exposure_id": exposure_id}).json()
        found = reply.get("results", [])
        return found if len(found) >= count else None
    return wait_for(ready, "%d results of exposure %s" % (count, exposure_id)) or []


def python_time(text, what):
    """str(datetime.datetime.now()): 'YYYY-MM-DD HH:MM:SS[.ffffff]', local time, close to now."""
    try:
        value = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f" if "." in text else "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        check(False, "%s: %r is not str(datetime.now())" % (what, text))
        return
    check(abs((datetime.datetime.now() - value).total_seconds()) < 600, "%s: %r is not about now" % (what, text))


PSEN_KEYS = ["processing_start_time", "last_sent_pulse_id", "last_sent_time", "n_processed_images"]


def classic(address, width, height):
    """test_classic_interaction, plus the ROI checked against the sensor before any frame."""
    client = PsenClient(base(address) + "/psen/")
    check(client.get_status() == "stopped", "get_status() is not 'stopped' at first")
    check(client.get_roi_signal() == [], "get_roi_signal() is not [] at first")
    check(client.get_roi_background() == [], "get_roi_background() is not [] at first")
    check(client.set_roi_signal(None) == [], "set_roi_signal(None) does not return []")
    check(client.get_roi_signal() == [], "get_roi_signal() after None is not []")
    SUMMARY["negative"] = raises_value_error(lambda: client.set_roi_signal([-1, -1, -1, -1]), "ROI offsets",
                                             "set_roi_signal([-1, -1, -1, -1])")
    # Before any frame: outside the sensor is refused, naming the field, the sum and the size.
    outside = [0, width + 1, 0, 10]
    SUMMARY["outside"] = raises_value_error(lambda: client.set_roi_signal(outside),
                                            "roi_signal: offset_x + size_x = %d exceeds the sensor width %d"
                                            % (width + 1, width), "set_roi_signal(%s)" % outside)
    below = [0, 10, height - 5, 10]
    raises_value_error(lambda: client.set_roi_background(below),
                       "roi_background: offset_y + size_y = %d exceeds the sensor height %d" % (height + 5, height),
                       "set_roi_background(%s)" % below)
    raw = requests.post(base(address) + "/psen/roi_signal", json=outside)
    check(raw.status_code == 400, "an ROI outside the sensor answers %d, not 400" % raw.status_code)
    check(raw.json().get("error", {}).get("field") == "roi_signal", "the error does not name roi_signal: %s" % raw.text)

    roi_signal = [0, width, 0, height]
    check(client.set_roi_signal(roi_signal) == roi_signal, "set_roi_signal(whole sensor) does not return it")
    check(client.get_roi_signal() == roi_signal, "get_roi_signal() is not the ROI set")
    roi_background = [0, 100, 0, 100]
    check(client.set_roi_background(roi_background) == roi_background, "set_roi_background does not return it")
    check(client.get_roi_background() == roi_background, "get_roi_background() is not the ROI set")
    check(client.get_statistics() == {}, "get_statistics() before the first start is not {}")

    check(client.start() == "processing", "start() does not return 'processing'")
    check(client.get_status() == "processing", "get_status() after start() is not 'processing'")
    statistics = client.get_statistics()
    for key in PSEN_KEYS:
        check(key in statistics, "statistics after start lack %s: %s" % (key, statistics))
    check(statistics.get("n_processed_images") == 0, "n_processed_images is not 0 before a frame")
    check(statistics.get("last_sent_pulse_id") is None and statistics.get("last_sent_time") is None,
          "last_sent_* are not None before a frame: %s" % statistics)
    python_time(statistics.get("processing_start_time"), "processing_start_time")
    SUMMARY["extra_statistics"] = sorted(key for key in statistics if key not in PSEN_KEYS)

    n_images = 5
    take_frames(address, n_images)
    wait_for(lambda: client.get_statistics().get("n_processed_images") == n_images, "n_processed_images == 5")
    statistics = client.get_statistics()
    check(statistics.get("n_processed_images") == n_images, "n_processed_images: %s" % statistics)
    # "Pulse ids are 0 based": the camera's frames since it started, from 0.
    check(statistics.get("last_sent_pulse_id") == n_images - 1, "last_sent_pulse_id: %s" % statistics)
    check(isinstance(statistics.get("last_sent_pulse_id"), int), "last_sent_pulse_id is not an int")
    python_time(statistics.get("last_sent_time"), "last_sent_time")
    python_time(statistics.get("processing_start_time"), "processing_start_time")
    check(client.get_status() == "processing", "get_status() is not 'processing' after the frames")

    check(client.stop() == "stopped", "stop() does not return 'stopped'")
    check(client.get_status() == "stopped", "get_status() after stop() is not 'stopped'")
    check(client.start() == "processing", "start() again does not return 'processing'")
    check(client.get_status() == "processing", "get_status() is not 'processing' again")
    check(client.get_statistics().get("n_processed_images") == 0, "n_processed_images does not restart at 0")
    check(client.stop() == "stopped", "stop() again does not return 'stopped'")
    check(client.get_status() == "stopped", "get_status() is not 'stopped' again")
    SUMMARY["statistics"] = statistics


def change_roi(address):
    """test_change_roi_while_running: frames after the change use the new ROI."""
    client = PsenClient(base(address) + "/psen/")
    roi_signal = [0, 200, 0, 100]
    client.set_roi_signal(roi_signal)
    client.set_roi_background([0, 100, 0, 100])
    client.start()
    first = results(address, take_frames(address, 5), 5)
    updated = [100, 50, 100, 20]
    check(client.set_roi_signal(updated) == updated, "set_roi_signal while running does not return it")
    last = results(address, take_frames(address, 5), 5)
    client.stop()
    widths = [len(r["analysis"].get("roi_signal_x_profile") or []) for r in first + last]
    check(widths == [200] * 5 + [50] * 5, "signal profile widths before and after the change: %s" % widths)
    SUMMARY["widths"] = widths


def no_roi(address):
    """test_no_roi: with no ROI, no ROI profile is in the output."""
    client = PsenClient(base(address) + "/psen/")
    check(client.set_roi_signal([]) == [], "set_roi_signal([]) does not return []")
    check(client.set_roi_background(None) == [], "set_roi_background(None) does not return []")
    client.start()
    found = results(address, take_frames(address, 5), 5)
    client.stop()
    for result in found:
        analysis = result["analysis"]
        check(analysis.get("roi_signal_x_profile") is None, "a signal profile without an ROI")
        check(analysis.get("roi_background_x_profile") is None, "a background profile without an ROI")
    SUMMARY["results"] = len(found)


def stop_while_running(address):
    """test_stop_when_blocking_send: stop() from another client returns while frames flow."""
    client = PsenClient(base(address) + "/psen/")
    client.start()
    take_frames(address, 20)
    outcome = {}

    def stop_client():
        outcome["status"] = PsenClient(base(address) + "/psen/").stop()

    stopper = threading.Thread(target=stop_client)
    stopper.start()
    stopper.join(timeout=10)
    check(not stopper.is_alive(), "The stop call is blocked.")
    check(outcome.get("status") == "stopped", "stop() from another client: %s" % outcome)
    check(client.get_status() == "stopped", "get_status() after the other client's stop()")
    # The camera goes on taking its 20 frames: end them before the next scenario exposes.
    requests.post(base(address) + "/v1/exposures/abort")
    wait_for(lambda: requests.get(base(address) + "/v1/camera").json().get("state") == "idle", "the camera idle")


def consecutive(address):
    """test_received_data_on_send_timeout: every frame is processed, in order, none lost."""
    client = PsenClient(base(address) + "/psen/")
    client.start()
    found = results(address, take_frames(address, 8), 8)
    client.stop()
    sequences = [r["sequence"] for r in found]
    check(sequences == list(range(sequences[0], sequences[0] + 8)) if sequences else False,
          "sequences are not consecutive: %s" % sequences)
    SUMMARY["sequences"] = sequences


def binned(address, width, height):
    """An ROI within the sensor but not within a 2x2-binned frame: that frame is analysed without
    the ROI's profile, the reason in roi_errors; a whole-sensor frame afterwards has it again."""
    client = PsenClient(base(address) + "/psen/")
    roi = [0, width, 0, height]
    check(client.set_roi_signal(roi) == roi, "set_roi_signal(whole sensor)")
    client.start()
    reply = requests.post(base(address) + "/v1/exposures",
                          json={"type": "object", "time": 0.05, "bin_x": 2, "bin_y": 2})
    check(reply.status_code == 202, "a binned exposure: %s %s" % (reply.status_code, reply.text))
    small = results(address, reply.json().get("id"), 1)
    full = results(address, take_frames(address, 1), 1)
    client.stop()
    if small:
        analysis = small[0]["analysis"]
        errors = analysis.get("roi_errors") or []
        check(any("exceeds the image width %d" % (width // 2) in error for error in errors),
              "the binned frame's roi_errors: %s" % errors)
        check(analysis.get("roi_signal_x_profile") is None, "a profile for an ROI outside the frame")
        check(analysis.get("min_max") is not None, "the rest of the binned frame's analysis is missing")
        SUMMARY["roi_errors"] = errors
    if full:
        check(len(full[0]["analysis"].get("roi_signal_x_profile") or []) == width, "the whole frame lost its profile")
        check(not full[0]["analysis"].get("roi_errors"), "roi_errors on a frame the ROI fits")
    check(client.get_roi_signal() == roi, "the ROI is kept")


def expect_envelope(reply, status, code, what):
    """psen's envelope with the proper status: validate_response raises ValueError(status text)."""
    check(reply.status_code == status, "%s: HTTP %d, expected %d (%s)" % (what, reply.status_code, status, reply.text))
    try:
        body = reply.json()
    except ValueError:
        check(False, "%s: the body is not JSON: %r" % (what, reply.text[:200]))
        return None
    check(body.get("state") == "error", "%s: state is %r" % (what, body.get("state")))
    check(isinstance(body.get("status"), str) and len(body["status"]) > 10, "%s: status is %r" % (what, body.get("status")))
    check(body.get("error", {}).get("code") == code, "%s: error.code is %r, expected %r" % (what, body.get("error"), code))
    try:
        validate_response(body)
        check(False, "%s: validate_response accepted it" % what)
    except ValueError as error:
        check(str(error) == body.get("status"), "%s: ValueError text is not status" % what)
    except KeyError as error:
        check(False, "%s: validate_response raised KeyError %s" % (what, error))
    return body


def errors(address, max_body):
    """Errors made before a route runs, and bad bodies: psen's envelope with the HTTP status."""
    url = base(address) + "/psen"
    found = {}
    found["404"] = expect_envelope(requests.get(url + "/no_such_route"), 404, "not_found", "GET /psen/no_such_route")
    found["405"] = expect_envelope(requests.get(url + "/start"), 405, "method_not_allowed", "GET /psen/start")
    check(requests.get(url + "/start").headers.get("Allow") == "POST", "405 without Allow: POST")
    found["405 put"] = expect_envelope(requests.put(url + "/roi_signal", json=[0, 1, 0, 1]), 405,
                                       "method_not_allowed", "PUT /psen/roi_signal")
    found["413"] = expect_envelope(requests.post(url + "/roi_signal", data=b"[" + b" " * (max_body + 10) + b"]",
                                                 headers={"Content-Type": "application/json"}),
                                   413, "body_too_large", "POST /psen/roi_signal with a body over gateway.max_body")
    found["403"] = expect_envelope(requests.post(url + "/stop", headers={"Origin": "http://elsewhere.example"}),
                                   403, "forbidden_origin", "POST /psen/stop from a foreign Origin")
    found["403 host"] = expect_envelope(requests.get(url + "/status", headers={"Host": "rebound.example"}),
                                        403, "forbidden_host", "GET /psen/status with a foreign Host")
    for body in [b"[1, 2", b"{\"a\": 1}", b"\"text\"", b"[1.5, 1, 0, 1]", b"[true, 1, 0, 1]", b"[1e300, 1, 0, 1]"]:
        found["400 " + body.decode()] = expect_envelope(
            requests.post(url + "/roi_signal", data=body, headers={"Content-Type": "application/json"}),
            400, "invalid_argument", "POST /psen/roi_signal %s" % body.decode())
    # The client's own methods raise its ValueError for these too.
    client = PsenClient(url + "/nothing_here/")
    raises_value_error(client.get_status, "no route", "get_status() on a wrong address")
    # evora and /v1 keep their own shape.
    other = requests.get(base(address) + "/v1/no_such_route")
    check(other.status_code == 404 and "state" not in other.json() and "error" in other.json(),
          "/v1's 404 changed shape: %s" % other.text)
    SUMMARY["errors"] = {key: (value or {}).get("status") for key, value in found.items()}


def token(address, token_value):
    """With gateway.token set, the client (which sends no token) gets its own error, 401."""
    client = PsenClient(base(address) + "/psen/")
    SUMMARY["401"] = raises_value_error(client.start, "Authorization", "start() without the token")
    expect_envelope(requests.post(base(address) + "/psen/roi_signal", json=[0, 1, 0, 1]), 401, "unauthorized",
                    "POST /psen/roi_signal without the token")
    wrong = requests.post(base(address) + "/psen/stop", headers={"Authorization": "Bearer wrong-token-0123456789"})
    expect_envelope(wrong, 401, "unauthorized", "POST /psen/stop with a wrong token")
    check(wrong.headers.get("WWW-Authenticate", "").startswith("Bearer"), "401 without WWW-Authenticate")
    right = requests.post(base(address) + "/psen/stop", headers={"Authorization": "Bearer " + token_value}).json()
    check(right.get("state") == "ok" and right.get("status") == "stopped", "POST /psen/stop with the token: %s" % right)
    check(client.get_status() == "stopped", "reads need no token")


def unavailable(address, method, status, code, pattern):
    """One client method while a process it needs is down or not connected."""
    client = PsenClient(base(address) + "/psen/")
    calls = {
        "get_status": client.get_status,
        "set_roi_signal": lambda: client.set_roi_signal([0, 10, 0, 10]),
    }
    SUMMARY["text"] = raises_value_error(calls[method], pattern, method)
    path = "/psen/status" if method == "get_status" else "/psen/roi_signal"
    reply = requests.get(base(address) + path) if method == "get_status" else \
        requests.post(base(address) + path, json=[0, 10, 0, 10])
    expect_envelope(reply, int(status), code, "%s while unavailable" % method)
    if int(status) == 503:
        check(reply.headers.get("Retry-After") is not None, "503 without Retry-After")
    # Disabling an ROI needs no sensor size.
    if method == "set_roi_signal":
        check(client.set_roi_signal(None) == [], "set_roi_signal(None) while the camera is not connected")


def main():
    scenario, address = sys.argv[1], sys.argv[2]
    arguments = sys.argv[3:]
    if scenario == "classic":
        classic(address, int(arguments[0]), int(arguments[1]))
    elif scenario == "change_roi":
        change_roi(address)
    elif scenario == "no_roi":
        no_roi(address)
    elif scenario == "stop_while_running":
        stop_while_running(address)
    elif scenario == "consecutive":
        consecutive(address)
    elif scenario == "binned":
        binned(address, int(arguments[0]), int(arguments[1]))
    elif scenario == "errors":
        errors(address, int(arguments[0]))
    elif scenario == "token":
        token(address, arguments[0])
    elif scenario == "unavailable":
        unavailable(address, *arguments)
    else:
        FAILURES.append("unknown scenario %s" % scenario)
    print(json.dumps(SUMMARY, default=str))
    for failure in FAILURES:
        sys.stderr.write(failure + "\n")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
