#!/usr/bin/env python3
"""Drives aperture-archive's facility dashboard in headless Chromium (the DevTools driver of
dashboard_browser.py).

    facility_browser.py URL --frames N --camera SITE/CAMERA=STATE ... [--filter-site SITE]
                        [--chromium PATH] [--timeout 60] [--screenshot FILE]

Opens URL (the archive's `/`), waits until the cameras table lists every --camera with the
state given, and the frames table shows N frames; then picks --filter-site in the site filter,
submits the form, and waits until every row shown is of that site. Console errors, uncaught
exceptions, error log entries and HTTP errors are collected.

Prints one JSON line; exits 0 when every step passed and nothing was logged as an error, 1
otherwise (the message says which step failed).
"""

import argparse
import json
import shutil
import sys

from dashboard_browser import Browser, Failure


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--frames", type=int, required=True, help="frames the table must show")
    parser.add_argument("--camera", action="append", default=[], help="SITE/CAMERA=STATE the cameras table must show")
    parser.add_argument("--filter-site", help="a site to pick in the frames filter")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--screenshot")
    options = parser.parse_args()

    errors = []
    summary = {"url": options.url, "steps": []}

    def log(message):
        method, params = message["method"], message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append("console: %s" % [a.get("value", a.get("description")) for a in params.get("args", [])])
        elif method == "Runtime.exceptionThrown":
            errors.append("exception: %s" % params.get("exceptionDetails", {}).get("text"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append("log: %s %s" % (params["entry"].get("text"), params["entry"].get("url") or ""))
        elif method == "Network.responseReceived" and params.get("response", {}).get("status", 0) >= 400:
            errors.append("HTTP %s %s" % (params["response"]["status"], params["response"].get("url")))

    browser = None
    code = 0
    try:
        browser = Browser(options.chromium, log)
        browser.load(options.url, options.timeout)
        summary["steps"].append("loaded")

        cameras = """Array.from(document.querySelectorAll('#cameras tbody tr')).map(r =>
            r.dataset.site + '/' + r.dataset.camera + '=' + r.querySelector('.state').textContent)"""
        wanted = sorted(options.camera)
        browser.wait_for("(() => { const shown = %s; return %s.every(c => shown.includes(c)); })()"
                         % (cameras, json.dumps(wanted)), options.timeout, "the cameras %s" % wanted)
        summary["cameras"] = browser.evaluate(cameras)
        summary["steps"].append("cameras")

        rows = "document.querySelectorAll('#frames tbody tr').length"
        browser.wait_for("%s === %d" % (rows, options.frames), options.timeout, "%d frames in the table" % options.frames)
        summary["steps"].append("frames")

        if options.filter_site:
            browser.wait_for("Array.from(document.getElementById('site').options).some(o => o.value === %s)"
                             % json.dumps(options.filter_site), options.timeout, "the site %s in the filter" % options.filter_site)
            browser.evaluate("""(() => { const s = document.getElementById('site'); s.value = %s;
                                        document.getElementById('filters').requestSubmit(); return true; })()"""
                             % json.dumps(options.filter_site))
            sites = "Array.from(document.querySelectorAll('#frames tbody tr')).map(r => r.children[1].textContent)"
            browser.wait_for("(() => { const s = %s; return s.length > 0 && s.every(x => x === %s); })()"
                             % (sites, json.dumps(options.filter_site)), options.timeout,
                             "only %s's frames after filtering" % options.filter_site)
            summary["filtered"] = browser.evaluate(sites)
            summary["steps"].append("filtered")
        browser.pump(1)
        if options.screenshot:
            import base64
            shot = browser.send("Page.captureScreenshot", {"format": "png"})
            with open(options.screenshot, "wb") as handle:
                handle.write(base64.b64decode(shot["data"]))
    except Failure as failure:
        summary["failure"] = str(failure)
        code = 1
    finally:
        if browser is not None:
            browser.close()
    summary["console_errors"] = errors
    if errors:
        code = 1
    print(json.dumps(summary))
    return code


if __name__ == "__main__":
    sys.exit(main())
