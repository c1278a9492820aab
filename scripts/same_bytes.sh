#!/usr/bin/env bash
# Everything a build writes for a fixed set of runs, as one sha256 list, so
# that two builds can be compared file by file (a refactor must give the same
# bytes). Manifests, reports and results lines are compared with their
# timings and run ids removed, lines sorted; stderr likewise. Run both builds
# in the same folder: manifests name their store, resume markers hash paths.
#
#   scripts/same_bytes.sh old/variegate /tmp/same-bytes > /tmp/old.sha
#   scripts/same_bytes.sh target/release/variegate /tmp/same-bytes > /tmp/new.sha
#   diff /tmp/old.sha /tmp/new.sha && echo same
set -u
bin=$(realpath "$1")
work=$2
data=$(realpath "$(dirname "$0")/../testdata")
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

palettes="--palettes $data/palettes.json"
images=("$data/coffee.png" "$data/logo.png" "$data/rocket.jpg" "$data/oriented/exif6.jpg")
runs=(
  ""
  "--look soft"
  "--look remap"
  "--look remap --dither"
  "--look remap --dither=ordered --dither-strength 0.5"
  "--look gradient"
  "--format jpeg --quality 80"
  "--format webp"
  "--format webp --lossless"
  "--max-side 300 --thumbnail 64"
  "--seed 5 --max-k 4 --lightness 0.5 --blend 0.6 --saturation 1.1"
  "--colour-profiles ignore"
)
n=0
for image in "${images[@]}"; do
  for options in "${runs[@]}"; do
    n=$((n + 1))
    # shellcheck disable=SC2086
    "$bin" run "$image" $palettes $options --out out --threads 2 --json \
      --contact-sheet "sheet-$n.png" >"report-$n.json" 2>"stderr-$n.txt"
    echo "exit $?" >>"stderr-$n.txt"
  done
done
"$bin" run "$data/coffee.png" $palettes --format avif --speed 10 --out out --json >report-avif.json 2>stderr-avif.txt
# Errors and usage errors: their one line and exit code.
for bad in "$data/bad/truncated.png" "$data/bad/text.jpg" "$data/bad/empty.png"; do
  "$bin" run "$bad" $palettes --out out >>stderr-bad.txt 2>&1
  echo "exit $?" >>stderr-bad.txt
done
"$bin" run "$data/logo.png" --palettes "$data/bad/empty-palette.json" --out out >>stderr-bad.txt 2>&1
echo "exit $?" >>stderr-bad.txt
"$bin" run "$data/logo.png" $palettes --look remap --lightness 2 --out out >>stderr-bad.txt 2>&1
echo "exit $?" >>stderr-bad.txt
"$bin" run "$data/logo.png" $palettes --max-memory 1M --out out >>stderr-bad.txt 2>&1
echo "exit $?" >>stderr-bad.txt
# A batch over a folder, resumed.
mkdir -p photos && cp "$data/coffee.png" "$data/logo.png" "$data/bad/truncated.png" photos/
"$bin" batch photos $palettes --out batch --results results.jsonl >batch-1.txt 2>&1
echo "exit $?" >>batch-1.txt
"$bin" batch photos $palettes --out batch --results results.jsonl --resume >batch-2.txt 2>&1
echo "exit $?" >>batch-2.txt

strip='walk(if type == "object" then with_entries(select(.key | test("timings|_ms$|^run$|run_id|elapsed|^modified$") | not)) else . end)'
find . -type f | sort | while read -r file; do
  case $file in
  # A batch finishes its images in any order: lines are compared sorted.
  *.json | *.jsonl) echo "$(jq -cS "$strip" "$file" | sort | sha256sum | cut -c1-64)  $file" ;;
  *.txt) echo "$(sed -E 's/[0-9]+(\.[0-9]+)? ?(ms|s)\b/T/g' "$file" | sort | sha256sum | cut -c1-64)  $file" ;;
  *) sha256sum "$file" ;;
  esac
done
