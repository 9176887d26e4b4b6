#!/bin/sh
# Regenerates the key table of docs/configuration.md from the key declarations
# (Sources/ApertureConfig/ConfigurationKeys.swift) with `aperture config keys`.
# ApertureConfigTests fails when the table is stale.
set -eu
cd "$(dirname "$0")/.."
swift build --product aperture >/dev/null
table=$(mktemp)
"$(swift build --show-bin-path)/aperture" config keys > "$table"
python3 - "$table" <<'PY'
import sys
path = 'docs/configuration.md'
text = open(path).read()
begin = '<!-- configuration keys: begin (aperture config keys) -->\n\n'
end = '\n<!-- configuration keys: end -->'
start, finish = text.index(begin) + len(begin), text.index(end)
open(path, 'w').write(text[:start] + open(sys.argv[1]).read() + text[finish:])
PY
rm -f "$table"
