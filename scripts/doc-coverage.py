#!/usr/bin/env python3
"""Every public declaration of the documented modules has a `///` doc comment (issue 12).

    scripts/doc-coverage.py                      check the modules listed in COVERED
    scripts/doc-coverage.py --modules Bus,FITSStorage
    scripts/doc-coverage.py --count              one line a module: how many lack a comment

Prints `path:line: declaration` for each declaration without one and exits 1 if there is any.
A declaration is public when it says `public`, `package` or `open`, or when it is a case of a
public enum or a requirement of a public protocol (those are public without saying so).
Attributes (`@inlinable`, `@available(...)` over several lines) may stand between the comment
and the declaration; a blank line or a plain `//` comment may not. `case a, b` in a public enum
is reported per case: each case gets its own line and its own comment. A comment that starts
with `- Parameters:` (or `- Returns:`, `- Throws:`) has no summary line and is reported too.

Every library module is covered; the executables (argument parsing and wiring only) and
Benchmarks are not.
"""
import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COVERED = ["ApertureProtocol", "Bus", "FrameAnalysis", "CameraCore", "ApertureLogging",
           "ChildRuntime", "Supervision", "ProcessSupport", "FITSStorage", "GatewayService",
           "ApertureConfig", "CameraService", "ProcessorService", "Calibration"]

ACCESS = r"(?:public|package|open)"
MODIFIER = (r"(?:public|package|open|internal|fileprivate|private)(?:\(set\))?|static|class|final|"
            r"mutating|nonmutating|nonisolated(?:\(unsafe\))?|override|required|convenience|lazy|"
            r"weak|unowned|dynamic|indirect|optional|consuming|borrowing|distributed|isolated")
KIND = r"func|var|let|struct|enum|class|actor|protocol|init|typealias|subscript|case|associatedtype|macro|extension"
DECLARATION = re.compile(rf"^((?:(?:{MODIFIER})\s+)*)({KIND})\b[?!]?")
ATTRIBUTE = re.compile(r"^@[A-Za-z_][A-Za-z0-9_.]*")


def strip_code(line, state):
    """The line without comments and string contents (for braces and matching), and the state
    (None; the closing delimiter inside a multi-line string; "/*" inside a block comment) at its end."""
    out, i, n = [], 0, len(line)
    while i < n:
        if state == "/*":
            end = line.find("*/", i)
            if end < 0:
                return "".join(out), state
            i, state = end + 2, None
        elif state is not None:  # inside a multi-line string: state is its closing delimiter
            end = line.find(state, i)
            if end < 0:
                return "".join(out), state
            i, state = end + len(state), None
            out.append('""')
        elif line.startswith("//", i):
            break
        elif line.startswith("/*", i):
            state, i = "/*", i + 2
        else:
            raw = re.match(r'(#*)("""|")', line[i:])
            if raw:
                hashes, quote = raw.group(1), raw.group(2)
                closing = quote + hashes
                i += len(raw.group(0))
                if quote == '"""':
                    state = closing
                    continue
                j = i
                while j < n:
                    if line[j] == "\\" and not hashes:
                        j += 2
                        continue
                    if line.startswith(closing, j):
                        break
                    j += 1
                i = j + len(closing)
                out.append('""')
            else:
                out.append(line[i])
                i += 1
    return "".join(out), state


def strip_attributes(code):
    """The code after its leading attributes, and the depth of parentheses left open by them."""
    rest = code.lstrip()
    while True:
        match = ATTRIBUTE.match(rest)
        if not match:
            return rest, 0
        rest = rest[match.end():]
        if rest.startswith("("):
            depth, j = 0, 0
            while j < len(rest):
                depth += {"(": 1, ")": -1}.get(rest[j], 0)
                j += 1
                if depth == 0:
                    break
            if depth:
                return "", depth
            rest = rest[j:]
        rest = rest.lstrip()


def case_names(text):
    """The names of `case a, b(Int), c = "x"` (text after the keyword)."""
    names, depth, current = [], 0, ""
    for ch in text:
        if ch in "([<":
            depth += 1
        elif ch in ")]>":
            depth -= 1
        if ch == "," and depth == 0:
            names.append(current)
            current = ""
        elif ch in "{}" and depth == 0:
            break
        else:
            current += ch
    names.append(current)
    return [re.match(r"\s*`?(\w+)", n).group(1) for n in names if re.match(r"\s*`?\w+", n)]


def scan(path):
    """Yield (line number, declaration) for each public declaration of the file without `///`."""
    state = None          # string or block-comment state carried between lines
    documented = False    # the lines above (attributes aside) end in a doc comment
    attribute_depth = 0   # open parentheses of an attribute spanning lines
    in_doc_block = False  # inside /** ... */
    summary = True        # the doc comment starts with a summary, not with `- Parameters:`
    scopes = []           # kind of each open brace: "public enum", "public protocol", "other"
    pending = None        # the kind of the next brace to open, set by a type declaration
    for number, line in enumerate(path.read_text().splitlines(), 1):
        text = line.strip()
        starting_state = state
        code, state = strip_code(line, state)
        if starting_state is not None:  # a line that begins inside a string or comment
            if starting_state == "/*" and in_doc_block and state is None:
                in_doc_block, documented, summary = False, True, True
            scopes_update(code, scopes, pending)
            pending = None if "{" in code else pending
            continue
        if attribute_depth:
            attribute_depth += code.count("(") - code.count(")")
            attribute_depth = max(attribute_depth, 0)
            continue
        if text.startswith("///"):
            if not documented:
                summary = re.match(r"///\s*-\s*(Parameters?|Returns|Throws)\b", text) is None
            documented = True
            continue
        if text.startswith("/**") and not text.startswith("/**/"):
            if state == "/*":
                in_doc_block = True
            else:
                documented, summary = True, True
            continue
        if not text:
            documented = False
            continue
        rest, attribute_depth = strip_attributes(code)
        if attribute_depth or (not rest.strip() and text.startswith("@")):
            continue  # attributes alone on the line: the comment above still counts
        rest = rest.strip()
        match = DECLARATION.match(rest)
        scope = scopes[-1] if scopes else "other"
        if match:
            modifiers, kind = match.group(1).split(), match.group(2)
            explicit = any(re.fullmatch(ACCESS, m) for m in modifiers)
            private = any(re.match(r"(internal|fileprivate|private)$", m) for m in modifiers)
            implicit = (not private and ((kind == "case" and scope == "public enum")
                                         or (scope == "public protocol" and kind != "case")))
            if kind == "extension":
                pass  # extensions themselves carry no documentation; their members do
            elif kind == "case":
                if scope == "public enum":
                    names = case_names(rest[match.end():])
                    if len(names) > 1:
                        for name in names:
                            yield number, f"case {name} (one case a line, each with its own ///)"
                    elif not documented:
                        yield number, text
                    elif not summary:
                        yield number, f"{text} (the doc comment has no summary line)"
            elif (explicit or implicit) and not documented:
                yield number, text
            elif (explicit or implicit) and not summary:
                yield number, f"{text} (the doc comment has no summary line)"
            if kind in ("enum", "protocol") and explicit:
                pending = f"public {kind}"
            elif kind in ("struct", "class", "actor", "enum", "protocol", "extension"):
                pending = "other"
            # `public enum E { case a, b }` on one line: those cases have no comment of their own.
            if kind == "enum" and explicit and "{" in rest:
                inline = rest[rest.index("{") + 1:]
                for case in re.finditer(r"\bcase\b", inline):
                    for name in case_names(inline[case.end():]):
                        yield number, f"case {name} (one case a line, each with its own ///)"
        documented = False
        scopes_update(code, scopes, pending)
        if "{" in code:
            pending = None


def scopes_update(code, scopes, pending):
    for ch in code:
        if ch == "{":
            scopes.append(pending or "other")
            pending = None
        elif ch == "}" and scopes:
            scopes.pop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", help="comma-separated folders of Sources/ (default: %(default)s)",
                        default=",".join(COVERED))
    parser.add_argument("--count", action="store_true", help="print a count per module instead")
    args = parser.parse_args()
    missing = 0
    for module in [m.strip() for m in args.modules.split(",") if m.strip()]:
        folder = ROOT / "Sources" / module
        if not folder.is_dir():
            parser.error(f"no folder Sources/{module}")
        found = 0
        for path in sorted(folder.rglob("*.swift")):
            for number, declaration in scan(path):
                found += 1
                if not args.count:
                    print(f"{path.relative_to(ROOT)}:{number}: {declaration}")
        if args.count:
            print(f"{module}: {found}")
        missing += found
    if missing:
        print(f"{missing} public declarations without a /// doc comment", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
