#!/usr/bin/env python3
"""Checks a running Aperture control socket against docs/protocol.md, from outside Swift.

Usage:
    python3 protocol_client.py ipc:///path/to/run/camera.ctl [--process NAME] [--timeout SECONDS]

Talks to the socket with pynng (a req0 socket, resend disabled as docs/protocol.md asks) and
checks what the document promises:

    ping             a well-formed `ping` gets {"v":1,"id":<same id>,"result":{...}} with
                     process == NAME (default aperture-camera), an integer pid, a boolean ready,
                     a numeric uptime and version 1
    malformed        bytes that are not JSON get error.code "bad_request", a non-empty message
                     and no id (the member is absent or null)
    unknown_command  valid JSON naming no command the peer knows gets "unknown_command" with
                     the request's id echoed
    missing_command  a request without "command" gets "bad_request" whose message names
                     'command', with the request's id echoed
    oversized        a 2 MiB request gets "bad_request" whose message states the 1048576-byte
                     limit, with no id
    alive            the peer still answers `ping` after all of the above

Prints one line per check, `ok NAME` or `FAIL NAME: DETAIL` (followed by the reply body), and
exits 0 when every check passed, 1 otherwise (2 for a usage error).
"""

import argparse
import json
import os
import sys
import uuid

import pynng

MAX_REQUEST_BYTES = 1 << 20  # docs/protocol.md: "Size limits"


class Failure(Exception):
    """A check failed; carries the reply body for the report."""

    def __init__(self, detail, body=None):
        super().__init__(detail)
        self.detail = detail
        self.body = body


class Probe:
    def __init__(self, url, timeout):
        milliseconds = int(timeout * 1000)
        self.url = url
        self.timeout = timeout
        # resend_time=-1 (NNG_DURATION_INFINITE): NNG must never resend a request.
        self.socket = pynng.Req0(
            resend_time=-1,
            recv_timeout=milliseconds,
            send_timeout=milliseconds,
            recv_max_size=0,
        )
        # A blocking dial fails at once (ConnectionRefused, ...) when nothing listens at url.
        self.socket.dial(url, block=True)
        self.id_prefix = "protocol-client-%d-%s-" % (os.getpid(), uuid.uuid4().hex[:8])
        self.counter = 0

    def new_id(self):
        self.counter += 1
        return self.id_prefix + str(self.counter)

    def exchange(self, request):
        """Sends raw bytes as one request; returns (body, reply object)."""
        try:
            self.socket.send(request)
            body = self.socket.recv()
        except pynng.Timeout:
            raise Failure("no reply from %s within %.1f s" % (self.url, self.timeout))
        except pynng.NNGException as error:
            raise Failure("transport error talking to %s: %s (%s)" % (self.url, error, type(error).__name__))
        try:
            reply = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise Failure("reply is not UTF-8 JSON: %s" % error, body)
        if not isinstance(reply, dict):
            raise Failure("reply is not a JSON object", body)
        if type(reply.get("v")) is not int or reply["v"] != 1:
            raise Failure("reply's v is %r, expected the integer 1" % (reply.get("v"),), body)
        return body, reply

    def send_json(self, obj):
        return self.exchange(json.dumps(obj).encode("utf-8"))


def expect_error(body, reply, code, request_id):
    """Checks an error reply: code, non-empty message, no result, and the id rule."""
    error = reply.get("error")
    if not isinstance(error, dict):
        raise Failure("reply has no error object", body)
    if "result" in reply:
        raise Failure("an error reply must not carry a result", body)
    if error.get("code") != code:
        raise Failure("error.code is %r, expected %r" % (error.get("code"), code), body)
    message = error.get("message")
    if not isinstance(message, str) or not message.strip():
        raise Failure("error.message is %r, expected a non-empty string" % (message,), body)
    if request_id is None:
        if reply.get("id") is not None:
            raise Failure("id is %r, expected none (absent or null)" % (reply.get("id"),), body)
    elif reply.get("id") != request_id:
        raise Failure("id is %r, expected %r" % (reply.get("id"), request_id), body)
    return message


def check_ping(probe, process):
    request_id = probe.new_id()
    body, reply = probe.send_json({"v": 1, "id": request_id, "command": "ping", "args": {}})
    if "error" in reply:
        raise Failure("ping was answered with an error", body)
    if reply.get("id") != request_id:
        raise Failure("id is %r, expected %r" % (reply.get("id"), request_id), body)
    result = reply.get("result")
    if not isinstance(result, dict):
        raise Failure("reply has no result object", body)
    if result.get("process") != process:
        raise Failure("result.process is %r, expected %r" % (result.get("process"), process), body)
    pid = result.get("pid")
    if type(pid) is not int or pid <= 0:
        raise Failure("result.pid is %r, expected a positive integer" % (pid,), body)
    if type(result.get("ready")) is not bool:
        raise Failure("result.ready is %r, expected a boolean" % (result.get("ready"),), body)
    uptime = result.get("uptime")
    if type(uptime) not in (int, float) or uptime < 0:
        raise Failure("result.uptime is %r, expected a non-negative number" % (uptime,), body)
    if type(result.get("version")) is not int or result["version"] != 1:
        raise Failure("result.version is %r, expected 1" % (result.get("version"),), body)


def check_malformed(probe):
    body, reply = probe.exchange(b"this is not JSON {")
    expect_error(body, reply, "bad_request", None)


def check_unknown_command(probe):
    request_id = probe.new_id()
    command = "no-such-command-" + uuid.uuid4().hex[:6]
    body, reply = probe.send_json({"v": 1, "id": request_id, "command": command, "args": {}})
    expect_error(body, reply, "unknown_command", request_id)


def check_missing_command(probe):
    request_id = probe.new_id()
    body, reply = probe.send_json({"v": 1, "id": request_id, "args": {}})
    message = expect_error(body, reply, "bad_request", request_id)
    if "'command'" not in message:
        raise Failure("error.message %r does not name 'command'" % message, body)


def check_oversized(probe):
    request_id = probe.new_id()
    padding = "x" * (2 << 20)
    request = json.dumps({"v": 1, "id": request_id, "command": "ping", "args": {"padding": padding}})
    request = request.encode("utf-8")
    if len(request) <= MAX_REQUEST_BYTES:
        raise Failure("internal: the test request of %d bytes is not over the limit" % len(request))
    body, reply = probe.exchange(request)
    message = expect_error(body, reply, "bad_request", None)
    if "limit" not in message or str(MAX_REQUEST_BYTES) not in message:
        raise Failure("error.message %r does not state the limit of %d bytes" % (message, MAX_REQUEST_BYTES), body)


def check_alive(probe, process):
    check_ping(probe, process)


def main():
    parser = argparse.ArgumentParser(description="Check an Aperture control socket against docs/protocol.md.")
    parser.add_argument("url", help="the control socket, e.g. ipc:///run/aperture/camera.ctl")
    parser.add_argument("--process", default="aperture-camera",
                        help="the process name `ping` must report (default: aperture-camera)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each reply (default: 5)")
    options = parser.parse_args()
    if not (options.url.startswith("ipc://") or options.url.startswith("tcp://")):
        parser.error("url must start with ipc:// or tcp://")

    try:
        probe = Probe(options.url, options.timeout)
    except pynng.NNGException as error:
        print("FAIL connect: cannot dial %s: %s (%s)" % (options.url, error, type(error).__name__))
        return 1

    checks = [
        ("ping", lambda: check_ping(probe, options.process)),
        ("malformed", lambda: check_malformed(probe)),
        ("unknown_command", lambda: check_unknown_command(probe)),
        ("missing_command", lambda: check_missing_command(probe)),
        ("oversized", lambda: check_oversized(probe)),
        ("alive", lambda: check_alive(probe, options.process)),
    ]
    failures = 0
    for name, check in checks:
        try:
            check()
        except Failure as failure:
            failures += 1
            print("FAIL %s: %s" % (name, failure.detail))
            if failure.body is not None:
                text = failure.body.decode("utf-8", errors="replace")
                if len(text) > 4000:
                    text = text[:4000] + "... (%d bytes in all)" % len(failure.body)
                print("  reply: %s" % text)
        except Exception as error:  # a bug in this script or pynng: still one line, still a failure
            failures += 1
            print("FAIL %s: unexpected %s: %s" % (name, type(error).__name__, error))
        else:
            print("ok %s" % name)
        sys.stdout.flush()
    probe.socket.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
