#!/usr/bin/env python3
"""Lints an OpenAPI document (the gateway's `/v1/openapi.json`).

    scripts/lint-openapi.py FILE      (FILE may be - for standard input)
    curl -s http://127.0.0.1:8000/v1/openapi.json | scripts/lint-openapi.py -

Checks that the document is JSON with no key given twice in one object (a JSON parser keeps
the last one silently), that every `$ref` resolves inside it, that every component is referred
to from somewhere (an unused one is dead text), and that it is a valid OpenAPI document
(openapi-spec-validator, from PyPI; `scripts/install-deps.sh --test` installs it). Prints each
problem and exits 1 if there is any, 2 if the validator is missing.

`OpenAPIDocumentTests` (Tests/GatewayServiceTests) runs it on the document the gateway serves,
assembled from Sources/GatewayService/Resources/openapi/.
"""
import json
import sys


def pairs_without_duplicates(pairs):
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"key given twice in one object: {', '.join(repeated)}")
    return dict(pairs)


def references(value, location="#"):
    """Every `$ref` in value, with the JSON pointer of the object holding it."""
    if isinstance(value, dict):
        for key, child in value.items():
            if key == "$ref" and isinstance(child, str):
                yield child, location
            else:
                yield from references(child, f"{location}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from references(child, f"{location}/{index}")


def resolve(document, ref):
    if not ref.startswith("#/"):
        return None
    current = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    path = sys.argv[1]
    text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    try:
        document = json.loads(text, object_pairs_hook=pairs_without_duplicates)
    except ValueError as error:
        print(f"{path}: not JSON: {error}")
        return 1

    problems = []
    refs = list(references(document))
    for ref, location in refs:
        if resolve(document, ref) is None:
            problems.append(f"$ref {ref} at {location} resolves to nothing")
    used = {ref for ref, _ in refs}
    for kind, entries in (document.get("components") or {}).items():
        for name in entries:
            pointer = f"#/components/{kind}/{name}"
            # Security schemes are named by `security` requirements, not by $ref.
            if kind != "securitySchemes" and pointer not in used:
                problems.append(f"{pointer} is never referred to")

    try:
        from openapi_spec_validator import validate
    except ImportError:
        print("openapi-spec-validator is missing: pip install openapi-spec-validator (scripts/install-deps.sh --test)")
        return 2
    try:
        validate(document)
    except Exception as error:  # the validator's own error types differ between its versions
        # Its message can quote the whole document: its first lines, shortened, say enough.
        lines = [line if len(line) <= 300 else line[:300] + " ..." for line in str(error).splitlines()[:6]]
        problems.append("not a valid OpenAPI document: " + "\n    ".join(lines))

    for problem in problems:
        print(f"{path}: {problem}")
    if problems:
        return 1
    print(f"{path}: OpenAPI {document.get('openapi')}, {len(document.get('paths', {}))} paths, "
          f"{len(refs)} $refs, all resolved and valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
