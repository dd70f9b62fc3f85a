#!/usr/bin/env bash
# Set up everything napari-liverct needs on a fresh clone: the system packages for
# rendering under a virtual display (Xvfb, Mesa, the xcb libraries Qt needs) and a
# virtual environment in .venv with CPU torch, MONAI, napari + PyQt6 and the plugin.
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(xvfb xauth libgl1 libgl1-mesa-dri libglx-mesa0 libegl1 libxcb-cursor0
  libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xfixes0 libxcb-xkb1
  libdbus-1-3 libfontconfig1 dcm2niix dicom3tools pigz tabix chromium chromium-driver)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "[setup] installing system packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.liverct-installed
want="$(sha256sum pyproject.toml | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "[setup] installing Python packages (torch CPU first, then the plugin)"
  pipq() { .venv/bin/python -m pip install -q "$@" 2>&1 | { grep -v -e "is ignored: it is neither" -e "^\s*$" || true; }; return "${PIPESTATUS[0]}"; }
  pipq --upgrade "pip>=23" "setuptools>=77"
  # torch first and pinned: an unpinned torch pulls several GB of CUDA packages.
  pipq "torch==2.13.0"
  pipq -e ".[testing,bench]"
  echo "$want" > "$stamp"
fi
# real files (TotalSegmentator sdist) and the liver/lesion weights (pyliverlesionseg wheel):
# fetched once through pip, sha256-checked, cached; nothing downloads at run time.
.venv/bin/python scripts/fetch_data.py
echo "[setup] ready: $(.venv/bin/python -c 'import napari, monai, napari_liverct; print("napari", napari.__version__, "monai", monai.__version__, "napari-liverct", napari_liverct.__version__)')"
