#!/usr/bin/env bash
# Main job: set up, then open napari with TotalSegmentator's example abdominal CT (fetched by
# the set-up), run the offline draft of the liver and its tumours in the docked Segment
# widget (its progress bar moves), and show the draft with its Statistics in 2D and 3D.
# With no display it runs on a virtual display (Xvfb) and writes, from that same session,
# screenshots of the 2D and 3D views, the draft (draft.nii.gz) and axial/coronal/sagittal/3D
# snapshots to ./liverct-screenshots/.  Extra arguments are NIfTI files to open instead
# (no draft; add --draft for one), or other `napari-liverct view` options.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT="${LIVERCT_SCREENSHOTS:-liverct-screenshots}"
if [ "$#" -eq 0 ]; then
  set -- --example --draft
fi
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ "${CI:-}" != "true" ]; then
  exec .venv/bin/napari-liverct view "$@"
fi
echo "[run] no display: rendering on a virtual display into $OUT/"
.venv/bin/napari-liverct view --screenshots "$OUT" "$@"
if [ "${1:0:2}" != "--" ] && [[ " $* " != *" --draft "* ]]; then  # view wrote them with --draft
  .venv/bin/napari-liverct snapshot "$1" --out "$OUT/snapshot"
fi
echo "[run] done: $(ls "$OUT"/*.png "$OUT"/snapshot/*.png | tr '\n' ' ')"
