#!/usr/bin/env bash
# Main job: set up, then open napari with the sample liver CT phantom, its labels and
# the plugin's widgets.  With no display it runs on a virtual display (Xvfb) and
# writes screenshots of the 2D and 3D views, plus axial/coronal/sagittal/3D snapshots
# through the largest tumour, to ./liverct-screenshots/.  Extra arguments are NIfTI
# files to open instead of the sample.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT="${LIVERCT_SCREENSHOTS:-liverct-screenshots}"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ "${CI:-}" != "true" ]; then
  exec .venv/bin/napari-liverct view "$@"
fi
echo "[run] no display: rendering on a virtual display into $OUT/"
.venv/bin/napari-liverct view --screenshots "$OUT" "$@"
if [ "$#" -eq 0 ]; then
  .venv/bin/python -c "from napari_liverct.phantom import write_phantom; write_phantom('$OUT/sample')" 
  set -- "$OUT/sample/liver_phantom.nii.gz"
fi
.venv/bin/napari-liverct snapshot "$1" --out "$OUT/snapshot"
echo "[run] done: $(ls "$OUT"/*.png "$OUT"/snapshot/*.png | tr '\n' ' ')"
