#!/usr/bin/env python3
"""The module graph of docs/architecture.md, generated from Package.swift so that it cannot drift.

    scripts/module-graph.py            rewrite the graph and the table between the markers
    scripts/module-graph.py --check    exit 1 (printing the difference) if the doc is out of date

Reads `swift package dump-package`; shows the libraries and executables of Sources/ (not tests,
benchmarks or fuzz targets) and the arrows between them, and flags an arrow from one process
library (CameraService, ProcessorService, GatewayService, Supervision) to another, which the
design forbids (issue 12 removes the one that is left).
"""
import difflib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
BEGIN, END = "<!-- module-graph: begin (scripts/module-graph.py) -->", "<!-- module-graph: end -->"
PROCESS_LIBRARIES = {"CameraService", "ProcessorService", "GatewayService", "Supervision"}


def targets():
    dump = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=ROOT, check=True,
                                     capture_output=True, text=True).stdout)
    local = {t["name"]: t for t in dump["targets"]}
    shown = {name: t for name, t in local.items()
             if t["type"] in ("regular", "executable", "system")
             and not (t.get("path") or "").startswith(("Benchmarks", "Tests"))}
    edges = []
    for name, target in sorted(shown.items()):
        for dependency in target.get("dependencies", []):
            other = (dependency.get("byName") or dependency.get("target") or [None])[0]
            if other in shown:
                edges.append((name, other))
    return shown, edges


def render():
    shown, edges = targets()
    lines = [BEGIN, "", "```mermaid", "graph LR"]
    for name, target in sorted(shown.items()):
        shape = {"executable": f'{name}(["{name}"])', "system": f'{name}[["{name}"]]'}.get(target["type"], f"{name}[{name}]")
        lines.append(f"    {shape}")
    for source, destination in edges:
        lines.append(f"    {source} --> {destination}")
    lines += ["```", ""]
    crossing = [(s, d) for s, d in edges if s in PROCESS_LIBRARIES and d in PROCESS_LIBRARIES]
    lines.append(f"{len(shown)} modules, {len(edges)} arrows (stadiums: executables; double boxes: C libraries). "
                 + ("Arrows from one process library to another, which the design forbids: "
                    + ", ".join(f"{s} → {d}" for s, d in crossing) + "." if crossing
                    else "No arrow goes from one process library to another."))
    lines += ["", END]
    return "\n".join(lines)


def main():
    text = DOC.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    updated = text[:start] + render() + text[end:]
    if "--check" in sys.argv[1:]:
        if updated != text:
            sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), updated.splitlines(True),
                                                       "docs/architecture.md", "generated"))
            print("docs/architecture.md: the module graph is out of date; run scripts/module-graph.py")
            return 1
        print("docs/architecture.md: the module graph matches Package.swift")
        return 0
    DOC.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
