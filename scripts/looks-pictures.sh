#!/usr/bin/env bash
# Remakes the contact sheets of docs/looks/ with the commands docs/looks.md
# documents: testdata/coffee.png and the seven palettes of
# testdata/palettes.json, one sheet a look. The CLI's tests compare them
# byte for byte with what the binary makes, so a change of look that does
# not remake them fails there.
#
#   scripts/looks-pictures.sh [BINARY [FOLDER]]
#
# BINARY defaults to target/release/variegate, FOLDER to docs/looks (the
# tests give a folder of their own and compare).
#
# docs/looks/soft-crop.png (shift beside soft on a crop of rocket.jpg at 2x)
# needs a crop this script has no tool for: the same test makes it, and
# VARIEGATE_BLESS=1 cargo test -p variegate-cli --test it looks_pictures
# writes every picture of docs/looks.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/release/variegate}")
sheets=${2:-docs/looks}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
while read -r name flags; do
  # shellcheck disable=SC2086
  "$bin" run testdata/coffee.png --palettes testdata/palettes.json $flags \
    --out "$out/$name" --contact-sheet "$sheets/$name.png" -q
done <<'LOOKS'
shift --look shift
soft --look soft
remap --look remap
remap-dither --look remap --dither
remap-ordered --look remap --dither=ordered
gradient --look gradient
LOOKS
