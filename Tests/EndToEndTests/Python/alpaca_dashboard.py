#!/usr/bin/env python3
"""A filter change asked through Alpaca, seen on the dashboard: opens the page in headless
Chromium (dashboard_browser.py's Browser), moves the wheel with alpyca's FilterWheel, and waits
for the page's Filter line to say it moves to the new filter, then that it is there, without a
reload (the page follows `camera.filter` events).

Usage: alpaca_dashboard.py DASHBOARD_URL ALPACA_ADDRESS SLOT [--chromium PATH] [--timeout S]
Prints a JSON summary; exits 1 with the reason on stderr.
"""
import argparse
import json
import shutil
import sys

from alpaca.filterwheel import FilterWheel

from dashboard_browser import Browser, Failure


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("alpaca")
    parser.add_argument("slot", type=int)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--timeout", type=float, default=60)
    options = parser.parse_args()
    errors = []

    def log(message):
        if message["method"] == "Runtime.exceptionThrown":
            errors.append(json.dumps(message.get("params", {}))[:500])

    browser = Browser(options.chromium, log)
    summary = {}
    code = 0
    try:
        for domain in ("Runtime", "Page"):
            browser.send(domain + ".enable")
        browser.send("Page.navigate", {"url": options.url})
        browser.wait_for("window.apertureDashboard && window.apertureDashboard.ready && window.apertureDashboard.streamOpen",
                         options.timeout, "the dashboard to load and open the events stream")
        line = "document.getElementById('camera-filter').textContent"
        summary["before"] = browser.evaluate(line)
        wheel = FilterWheel(options.alpaca, 0)
        wheel.Connected = True
        name = wheel.Names[options.slot]
        wheel.Position = options.slot
        summary["moving"] = browser.wait_for(
            f"(() => {{ const t = {line}; return t.includes('moving to {name}') ? t : null; }})()",
            options.timeout, f"the Filter line to say it moves to {name}")
        summary["after"] = browser.wait_for(
            f"(() => {{ const t = {line}; return t === '{name} (slot {options.slot})' ? t : null; }})()",
            options.timeout, f"the Filter line to say {name} (slot {options.slot})")
        summary["alpaca_position"] = wheel.Position
        wheel.Connected = False
        if errors:
            raise Failure("page errors: " + "; ".join(errors))
    except Failure as failure:
        print(str(failure), file=sys.stderr)
        code = 1
    finally:
        browser.close()
    print(json.dumps(summary))
    sys.exit(code)


if __name__ == "__main__":
    main()
