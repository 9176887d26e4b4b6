#!/usr/bin/env bash
# The figures issue 12 asks for, for one revision of the project: Swift lines per module, the
# largest files, repeated blocks of six or more lines (the `duplicates` tool of the workspace, when
# it is on PATH), the largest run of non-Swift text held in one Swift file, and with --build the
# clean release build time of each executable and the size of each binary.
#
#   scripts/code-figures.sh [--build] [REV]      # REV defaults to HEAD; a scratch worktree is used
set -euo pipefail
BUILD=0
if [ "${1:-}" = "--build" ]; then BUILD=1; shift; fi
REV=${1:-HEAD}
ROOT=$(git rev-parse --show-toplevel)
DIR=$(mktemp -d /tmp/aperture-figures.XXXXXX)
trap 'git -C "$ROOT" worktree remove --force "$DIR/tree" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
git -C "$ROOT" worktree add --detach "$DIR/tree" "$REV" >/dev/null 2>&1
cd "$DIR/tree"
echo "== $(git log -1 --format='%h %s' | cut -c1-100)"
echo "-- Swift lines per module (Sources/)"
for module in Sources/*/; do
    lines=$(find "$module" -name '*.swift' -print0 | xargs -0 -r cat | wc -l)
    [ "$lines" -gt 0 ] && printf '%-20s %6d\n' "$(basename "$module")" "$lines"
done | sort -k2 -nr
printf '%-20s %6d\n' "total" "$(find Sources -name '*.swift' -print0 | xargs -0 cat | wc -l)"
echo "-- the ten largest Swift files"
find Sources -name '*.swift' -print0 | xargs -0 wc -l | grep -v ' total$' | sort -nr | head -10
echo "-- the longest run of lines inside one multi-line string literal (non-Swift text)"
python3 - <<'PY'
import pathlib
best = []
for path in pathlib.Path("Sources").rglob("*.swift"):
    run = longest = 0
    inside = False
    for line in path.read_text(errors="replace").splitlines():
        quotes = line.count('"""')
        if inside: run += 1
        if quotes % 2: 
            inside = not inside
            if not inside: longest = max(longest, run); run = 0
    best.append((longest, str(path)))
for lines, path in sorted(best, reverse=True)[:3]:
    print(f"{lines:6d} {path}")
PY
if command -v duplicates >/dev/null; then
    echo "-- repeated blocks of six or more lines in Sources/ (duplicates)"
    duplicates --repo Sources --seconds 120 | head -1
fi
if [ "$BUILD" = 1 ]; then
    # Wall time depends on what else the machine does; the CPU seconds (user + system, all
    # compiler processes) much less, so both are printed.
    echo "-- clean release build of each executable: wall s, CPU s, binary MB"
    swift package resolve >/dev/null 2>&1
    for product in aperture aperture-camera aperture-processor aperture-gateway; do
        rm -rf .build/release .build/x86_64-unknown-linux-gnu/release
        /usr/bin/time -f "%e %U %S" -o "$DIR/time" swift build -c release --product "$product" >/dev/null 2>&1
        read -r wall user system < "$DIR/time"
        size=$(stat -c %s ".build/release/$product")
        printf '%-20s %7.1f %7.1f %6.1f\n' "$product" "$wall" "$(echo "$user + $system" | bc)" "$(echo "$size / 1000000" | bc -l)"
    done
fi
