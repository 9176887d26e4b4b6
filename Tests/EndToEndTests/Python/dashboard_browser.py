#!/usr/bin/env python3
"""Drives the Aperture dashboard in headless Chromium through the DevTools protocol.

    dashboard_browser.py URL [--chromium PATH] [--time 2] [--timeout 120] [--screenshot FILE]

Opens URL (the dashboard, e.g. http://127.0.0.1:8000/), waits until it has loaded its data and
opened the events stream, fills the exposure form (an object exposure of --time seconds),
submits it, waits until the progress bar moves and then until the preview <img> shows a frame
of that exposure. Every console error, uncaught exception and error log entry is collected
(Runtime.consoleAPICalled type error, Runtime.exceptionThrown, Log.entryAdded level error).

Prints one JSON line with what happened; exits 0 when every step passed and nothing was
logged as an error, 1 otherwise (the message says which step failed), 2 on bad usage.
Chromium is killed at the end in every case.
"""

import argparse
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import websocket  # websocket-client


class Failure(Exception):
    pass


class Browser:
    """A headless Chromium and one DevTools connection to its page."""

    def __init__(self, chromium, log):
        self.log = log
        self.profile = tempfile.mkdtemp(prefix="aperture-chromium-")
        arguments = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--remote-debugging-port=0", "--remote-allow-origins=*",
            "--user-data-dir=" + self.profile, "--window-size=1400,1000", "about:blank",
        ]
        self.process = subprocess.Popen(arguments, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, start_new_session=True)
        self.stderr_lines = []
        endpoint = queue.Queue()

        def read_stderr():
            for raw in self.process.stderr:
                line = raw.decode("utf-8", "replace").rstrip()
                self.stderr_lines.append(line)
                if "DevTools listening on " in line:
                    endpoint.put(line.split("DevTools listening on ", 1)[1].strip())

        threading.Thread(target=read_stderr, daemon=True).start()
        try:
            browser_url = endpoint.get(timeout=60)
        except queue.Empty:
            raise Failure("Chromium did not report its DevTools address within 60 s; stderr:\n"
                          + "\n".join(self.stderr_lines[-20:]))
        # ws://127.0.0.1:PORT/devtools/browser/ID -> the page target from /json/list.
        host_port = browser_url.split("//", 1)[1].split("/", 1)[0]
        page = None
        deadline = time.time() + 30
        while page is None and time.time() < deadline:
            with urllib.request.urlopen("http://%s/json/list" % host_port, timeout=10) as reply:
                targets = json.load(reply)
            page = next((t for t in targets if t.get("type") == "page" and t.get("webSocketDebuggerUrl")), None)
            if page is None:
                time.sleep(0.2)
        if page is None:
            raise Failure("Chromium has no page target")
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events = []

    def send(self, method, params=None, timeout=30):
        """Calls a DevTools method; returns its result (events meanwhile go to self.events)."""
        self.next_id += 1
        ident = self.next_id
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        deadline = time.time() + timeout
        while True:
            remaining = deadline - time.time()
            if remaining <= 0:
                raise Failure("DevTools %s did not answer within %s s" % (method, timeout))
            self.socket.settimeout(remaining)
            message = json.loads(self.socket.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise Failure("DevTools %s failed: %s" % (method, message["error"]))
                return message.get("result", {})
            if "method" in message:
                self.log(message)

    def pump(self, seconds):
        """Reads events for up to `seconds`."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            self.socket.settimeout(max(0.01, deadline - time.time()))
            try:
                message = json.loads(self.socket.recv())
            except websocket.WebSocketTimeoutException:
                return
            if "method" in message:
                self.log(message)

    def evaluate(self, expression, timeout=30):
        """Evaluates JavaScript in the page; returns its value (promises are awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            description = details.get("exception", {}).get("description") or details.get("text")
            raise Failure("evaluating %r threw: %s" % (expression[:80], description))
        return result.get("result", {}).get("value")

    def wait_for(self, expression, timeout, what):
        """Polls `expression` until it is truthy; returns its value."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            self.pump(0.2)
        raise Failure("timed out after %s s waiting for %s" % (timeout, what))

    def load(self, url, timeout):
        """Enables the domains whose events are collected, opens `url` and waits until it has loaded."""
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.send(domain + ".enable")
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'", timeout, "the page to load")

    def close(self):
        try:
            self.socket.send(json.dumps({"id": 999999, "method": "Browser.close", "params": {}}))
        except Exception:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--time", type=float, default=2.0, help="the exposure time in seconds")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds allowed for each step")
    parser.add_argument("--screenshot", help="save a PNG of the page at the end")
    parser.add_argument("--focus", action="store_true",
                        help="then add the newest listed file to the focus panel and wait for its point and plot")
    parser.add_argument("--history", action="store_true",
                        help="then wait for the history panel to list the exposure's frame and chart its FWHM, "
                             "and pick its filter in the panel's form")
    parser.add_argument("--plans", action="store_true",
                        help="then queue a plan from the Plans panel's form, wait for it to run, pause it with its "
                             "button, then cancel it")
    parser.add_argument("--export", action="store_true",
                        help="then wait for the Export panel to show the exposure's frame sent, pause the export "
                             "with its button and resume it")
    parser.add_argument("--token", help="the gateway's bearer token: the first POST must answer 401, the page must "
                                        "then ask for the token, keep it and retry with it")
    parser.add_argument("--token-key", default="aperture.token",
                        help="the localStorage key the page keeps the token under (aperture.token:NAME at /cam/NAME/)")
    options = parser.parse_args()

    errors = []
    network_failures = []
    summary = {"url": options.url, "steps": []}

    def log(message):
        method = message["method"]
        params = message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            texts = [a.get("value") if "value" in a else a.get("description") for a in params.get("args", [])]
            errors.append("console.%s: %s" % (params.get("type"), " ".join(str(t) for t in texts)))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            description = details.get("exception", {}).get("description") or details.get("text")
            errors.append("uncaught exception: %s (%s:%s)" % (description, details.get("url"), details.get("lineNumber")))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                errors.append("log (%s): %s %s" % (entry.get("source"), entry.get("text"), entry.get("url") or ""))
        elif method == "Network.responseReceived":
            response = params.get("response", {})
            if response.get("status", 0) >= 400:
                network_failures.append("%s %s" % (response.get("status"), response.get("url")))
        elif method == "Network.loadingFailed":
            network_failures.append("failed %s: %s" % (params.get("requestId"), params.get("errorText")))

    browser = None
    code = 0
    try:
        browser = Browser(options.chromium, log)
        browser.load(options.url, options.timeout)
        summary["steps"].append("loaded")
        browser.wait_for("window.apertureDashboard && window.apertureDashboard.ready && window.apertureDashboard.streamOpen",
                         options.timeout, "the dashboard to load its data and open the events stream")
        summary["steps"].append("ready")
        title = browser.evaluate("document.title")
        if title != "Aperture":
            raise Failure("the page's title is %r, not 'Aperture'" % title)
        state = browser.evaluate("document.getElementById('camera-state').textContent")
        summary["camera_state"] = state

        # The form, as a user fills it.
        fill = """(() => {
            const set = (id, value) => { const e = document.getElementById(id); e.value = value;
                                         e.dispatchEvent(new Event('change', {bubbles: true})); };
            set('exp-type', 'object');
            set('exp-time', %s);
            set('exp-count', '1');
            set('exp-object', 'M 42');
            set('exp-comment', 'headless browser test');
            const filters = Array.from(document.getElementById('exp-filter').options).map(o => o.value).filter(v => v);
            if (filters.length) set('exp-filter', filters[0]);
            document.getElementById('exposure-form').requestSubmit();
            return filters;
        })()""" % json.dumps(str(options.time))
        summary["filters"] = browser.evaluate(fill)
        summary["steps"].append("submitted")
        if options.token:
            browser.wait_for("!document.getElementById('auth').hidden", 30,
                             "the token field to show after the POST was refused with 401")
            browser.evaluate("""(() => { document.getElementById('token-input').value = %s;
                                        document.getElementById('auth-form').requestSubmit(); return true; })()"""
                             % json.dumps(options.token))
            summary["steps"].append("token")
        exposure = browser.wait_for("window.apertureDashboard.lastSubmitted", 30,
                                    "the exposure request to be accepted (POST v1/exposures)")
        summary["exposure_id"] = exposure
        progress = browser.wait_for(
            "(() => { const v = document.getElementById('progress').value; return v > 0 ? v : 0; })()",
            options.timeout + options.time, "the progress bar to show progress")
        summary["progress"] = progress
        summary["progress_text"] = browser.evaluate("document.getElementById('progress-text').textContent")
        summary["steps"].append("progress")
        preview = browser.wait_for(
            """(() => { const img = document.getElementById('preview');
                        return img.complete && img.naturalWidth > 0 && !img.hidden && img.dataset.exposure === %s
                            ? {width: img.naturalWidth, height: img.naturalHeight, frame: img.dataset.frame} : null; })()"""
            % json.dumps(exposure),
            options.timeout + options.time, "the preview to show a frame of exposure %s" % exposure)
        summary["preview"] = preview
        summary["steps"].append("preview")
        summary["preview_caption"] = browser.evaluate("document.getElementById('preview-caption').textContent")
        # The rest of the page follows the frame: statistics, the file list (not required to pass).
        browser.pump(3)
        summary["stats_rows"] = browser.evaluate("document.querySelectorAll('#stats tbody tr').length")
        summary["files_rows"] = browser.evaluate("document.querySelectorAll('#files-table tbody tr').length")
        summary["progress_final"] = browser.evaluate("document.getElementById('progress-text').textContent")
        summary["children_running"] = browser.evaluate(
            "Array.from(document.querySelectorAll('#children-table tbody tr')).filter(r => r.textContent.includes('running')).length")
        if options.focus:
            # The focus panel, as a user fills it: a position and the newest file of the night listed.
            filename = browser.wait_for(
                """(() => { const row = document.querySelector('#files-table tbody tr td');
                            const night = document.getElementById('night-select').value;
                            return row && night ? night + '/' + row.textContent.trim() : null; })()""",
                options.timeout, "the files panel to list the exposure's file")
            browser.evaluate("""(() => { document.getElementById('focus-position').value = '5000';
                                        document.getElementById('focus-file').value = %s;
                                        document.getElementById('focus-form').requestSubmit(); return true; })()"""
                             % json.dumps(filename))
            summary["focus"] = browser.wait_for(
                """(() => { const img = document.getElementById('focus-plot');
                            const rows = document.querySelectorAll('#focus-points tbody tr');
                            return rows.length === 1 && img.complete && img.naturalWidth > 0 && !img.hidden
                                ? {file: %s, width: img.naturalWidth, height: img.naturalHeight,
                                   row: rows[0].textContent, session: document.getElementById('focus-session').textContent,
                                   best: document.getElementById('focus-best-fwhm').textContent} : null; })()"""
                % json.dumps(filename), options.timeout, "the focus panel to show the point and its plot")
            summary["steps"].append("focus")
        if options.history:
            # The history panel: tonight in the picker, the exposure's frame in the table, its FWHM
            # and sky level on the chart; then the form narrowed to the frame's filter.
            summary["history"] = browser.wait_for(
                """(() => { const rows = document.querySelectorAll('#history-table tbody tr');
                            const dots = document.querySelectorAll('#history-chart circle.fwhm');
                            const rings = document.querySelectorAll('#history-chart circle.sky');
                            return rows.length >= 1 && dots.length >= 1
                                ? {rows: rows.length, fwhm_points: dots.length, sky_points: rings.length,
                                   night: document.getElementById('history-night').value,
                                   nights: document.getElementById('history-night').options.length,
                                   first_row: rows[0].textContent,
                                   link: (rows[0].querySelector('a') || {}).href || null,
                                   legend: document.getElementById('history-legend').textContent,
                                   summary: document.getElementById('history-summary').textContent} : null; })()""",
                options.timeout, "the history panel to list and chart the exposure's frame")
            loads = browser.evaluate("window.apertureDashboard.historyLoads")
            browser.evaluate("""(() => { document.getElementById('history-filter').value = 'no-such-filter';
                                        document.getElementById('history-form').requestSubmit(); return true; })()""")
            summary["history_filtered"] = browser.wait_for(
                """(() => window.apertureDashboard.historyLoads > %d
                          ? {rows: document.querySelectorAll('#history-table tbody tr').length,
                             summary: document.getElementById('history-summary').textContent} : null)()""" % loads,
                options.timeout, "the history panel to apply its filter")
            summary["steps"].append("history")
        if options.plans:
            # The plan queue panel: a plan queued from its form shows running with its progress;
            # its Pause button pauses it, its Cancel button cancels it.
            plan = {"name": "browser plan", "steps": [{"exposure": {"type": "dark", "time": 1, "count": 30}}]}
            browser.evaluate("""(() => { document.getElementById('plan-json').value = %s;
                                        document.getElementById('plan-form').requestSubmit(); return true; })()"""
                             % json.dumps(json.dumps(plan)))
            def row_in(state, extra="true"):
                return ("""(() => { const row = [...document.querySelectorAll('#plans-table tbody tr')]
                                      .find((r) => r.cells[1].textContent === 'browser plan');
                                  return row && row.dataset.state === '%s' && (%s)
                                      ? {id: row.dataset.id, state: row.dataset.state, frames: row.cells[3].textContent,
                                         progress: row.querySelector('progress').value,
                                         summary: document.getElementById('plans-summary').textContent} : null; })()"""
                        % (state, extra))
            summary["plan_running"] = browser.wait_for(
                row_in("running", "row.querySelector('progress').value > 0"), options.timeout,
                "the plans panel to show the queued plan running with progress")
            browser.evaluate("""(() => { document.querySelector('#plans-table tr[data-id="%s"] button[data-action="pause"]').click();
                                        return true; })()""" % summary["plan_running"]["id"])
            summary["plan_paused"] = browser.wait_for(row_in("paused"), options.timeout, "the plan to show paused")
            browser.evaluate("""(() => { document.querySelector('#plans-table tr[data-id="%s"] button[data-action="cancel"]').click();
                                        return true; })()""" % summary["plan_running"]["id"])
            summary["plan_cancelled"] = browser.wait_for(row_in("cancelled"), options.timeout, "the plan to show cancelled")
            summary["steps"].append("plans")
        if options.export:
            # The export panel: the frame just taken is sent (nothing waits), then its Pause
            # button pauses the export and its Resume button resumes it.
            def export_in(state, extra="true"):
                return ("""(() => { const s = document.getElementById('export-state');
                                  return s.dataset.state === '%s' && (%s)
                                      ? {state: s.textContent, waiting: document.getElementById('export-backlog').textContent,
                                         sent: document.getElementById('export-sent').textContent,
                                         last: document.getElementById('export-last').textContent} : null; })()"""
                        % (state, extra))
            summary["export_sent"] = browser.wait_for(
                export_in("connected", "window.apertureDashboard.exportBacklog === 0 && "
                                       "!document.getElementById('export-sent').textContent.startsWith('0 ')"),
                options.timeout, "the export panel to show the frame sent and nothing waiting")
            browser.evaluate("(() => { document.getElementById('export-pause').click(); return true; })()")
            summary["export_paused"] = browser.wait_for(
                export_in("paused", "!document.getElementById('export-resume').hidden"), options.timeout,
                "the export panel to show the export paused")
            browser.evaluate("(() => { document.getElementById('export-resume').click(); return true; })()")
            summary["export_resumed"] = browser.wait_for(export_in("connected"), options.timeout,
                                                         "the export panel to show the export resumed")
            summary["steps"].append("export")
        # The weather panel: shown with its readings when the gateway has a weather source.
        summary["weather"] = browser.evaluate(
            """(() => ({hidden: document.getElementById('weather-panel').hidden,
                        temperature: document.getElementById('weather-temp').textContent,
                        humidity: document.getElementById('weather-humidity').textContent,
                        caption: document.getElementById('weather-caption').textContent}))()""")
        summary["debug"] = browser.evaluate("Object.assign({}, window.apertureDashboard)")
        if options.token:
            kept = browser.evaluate("localStorage.getItem(%s)" % json.dumps(options.token_key))
            if kept != options.token:
                raise Failure("the token was not kept in localStorage under %r (found %r)" % (options.token_key, kept))
            # A camera's own key (behind the instances' site) leaves the other cameras' pages alone.
            if options.token_key != "aperture.token" and browser.evaluate("localStorage.getItem('aperture.token')") is not None:
                raise Failure("the token was also kept under 'aperture.token', which every camera's page would send")
            # Chromium logs every 4xx as an error: the one refused POST is expected, nothing else.
            expected = [e for e in errors if "status of 401" in e and e.rstrip().endswith("v1/exposures")]
            if not expected:
                raise Failure("no 401 was logged for POST v1/exposures before the token was given")
            summary["expected_errors"] = expected
            errors[:] = [e for e in errors if e not in expected]
        if options.screenshot:
            import base64
            shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
            with open(options.screenshot, "wb") as out:
                out.write(base64.b64decode(shot["data"]))
        browser.pump(0.5)
        if errors:
            raise Failure("%d console error(s):\n  %s" % (len(errors), "\n  ".join(errors)))
    except Failure as failure:
        code = 1
        summary["failure"] = str(failure)
        if errors:
            summary["failure"] += "\nconsole errors:\n  " + "\n  ".join(errors)
    except Exception as error:  # the browser or the socket went away
        code = 1
        summary["failure"] = "%s: %s" % (type(error).__name__, error)
    finally:
        if browser is not None:
            browser.close()
    summary["console_errors"] = errors
    summary["network_failures"] = network_failures
    print(json.dumps(summary))
    if code:
        print("FAILED: " + summary["failure"], file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
