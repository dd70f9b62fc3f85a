"""Time ``napari-liverct report`` on a generated phantom dataset with 1 and 2 Dask workers,
and a 1,000-case page in headless Chromium (load and sort).

    .venv/bin/python benchmarks/bench_report.py [--cases 100] [--shape 96 96 32] [--workers 1 2]
                                                [--predictions] [--page-cases 1000]

The dataset (MSD layout, the sample phantom at a small size, one corrupt case) is written
once into ``--data`` (default: a temporary folder).  Each run writes a fresh report.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core"))


def _page_1000(site: Path, n: int) -> Path:
    """The report page with its cases repeated to ``n`` (same pictures), for the browser timing."""
    from napari_liverct.report.html import render_page

    text = (site / "index.html").read_text()
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', text, re.S).group(1))
    base = data["cases"]
    cases = []
    for k in range(n):
        c = json.loads(json.dumps(base[k % len(base)]))
        c["i"] = k
        c["id"] = c["cells"]["id"] = f"{c['id']}_{k // len(base)}"
        cases.append(c)
    data["cases"] = cases
    out = site / f"index_{n}.html"
    out.write_text(render_page(data))
    return out


def _browser_timing(page: Path) -> dict:
    import os

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp()
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for a in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        t0 = time.perf_counter()
        d.get(page.as_uri())
        while not d.execute_script("return document.body.getAttribute('data-ready')"):
            time.sleep(0.01)
        load = time.perf_counter() - t0
        n_img = d.execute_script("return document.images.length")
        ms = d.execute_script("""
            var b = document.querySelector("#cases th[data-key='volume_ml_1'] button");
            var t = performance.now(); b.click(); b.click(); return (performance.now() - t) / 2;""")
        ms_open = d.execute_script("""
            var r = document.querySelectorAll('#cases > tbody > tr.case')[500];
            var t = performance.now(); r.click(); return performance.now() - t;""")
        rows = d.execute_script("return document.querySelectorAll('#cases > tbody > tr.case').length")
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)
    return {
        "rows": rows,
        "load_s": load,
        "images_before_open": n_img,
        "sort_ms": ms,
        "open_ms": ms_open,
        "size_mb": os.path.getsize(page) / 1e6,
    }


def main() -> None:
    from test_report import make_dataset

    from napari_liverct.report import build_report

    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=100)
    ap.add_argument("--shape", type=int, nargs=3, default=[96, 96, 32])
    ap.add_argument("--spacing", type=float, nargs=3, default=[3.6, 3.6, 7.5])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--predictions", action="store_true", help="also evaluate a folder of predictions")
    ap.add_argument("--page-cases", type=int, default=1000, help="0: no browser timing")
    ap.add_argument("--data", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    data = Path(args.data or tempfile.mkdtemp(prefix="liverct-bench-report-"))
    root, preds = data / "Task03_Liver", data / "preds"
    if not (root / "dataset.json").exists():
        t0 = time.perf_counter()
        make_dataset(
            root,
            preds if args.predictions else None,
            n=args.cases,
            shape=tuple(args.shape),
            spacing=tuple(args.spacing),
        )
        print(
            f"dataset: {args.cases} cases {tuple(args.shape)} at {tuple(args.spacing)} mm written in "
            f"{time.perf_counter() - t0:.1f} s -> {root}"
        )
    runs: dict[int, list[float]] = {w: [] for w in args.workers}
    site = None
    for rep in range(args.repeat):  # alternate worker counts: load from other work hits both alike
        for w in args.workers:
            site = data / f"site_w{w}"
            shutil.rmtree(site, ignore_errors=True)
            t0, c0 = time.perf_counter(), time.process_time()
            res = build_report(root, site, predictions=preds if args.predictions else None, workers=w, progress=False)
            runs[w].append(time.perf_counter() - t0)
            cpu_tasks = sum(c.get("cpu_seconds") or 0.0 for c in res["page"]["cases"])
            main_cpu = time.process_time() - c0
            if rep == 0:
                n_png = sum(1 for _ in site.rglob("*.png"))
                mb = sum(p.stat().st_size for p in site.rglob("*")) / 1e6
                print(f"  site: {n_png} PNGs, {mb:.1f} MB")
            print(
                f"  run {rep + 1}, {w} worker(s): {runs[w][-1]:.1f} s wall; CPU in tasks {cpu_tasks:.1f} s, "
                f"in the main process {main_cpu:.1f} s (load average {os.getloadavg()[0]:.1f})"
            )
    times = {w: float(np.median(v)) for w, v in runs.items()}
    for w, v in runs.items():
        print(
            f"report, {w} worker(s): median {times[w]:.1f} s, best {min(v):.1f} s "
            f"({times[w] / args.cases * 1000:.0f} ms/case median) over {len(v)} runs"
        )
    if len(times) > 1:
        a, b = sorted(times)[:2]
        print(
            f"speed-up {b} vs {a} workers: {times[a] / times[b]:.2f}x (medians), "
            f"{min(runs[a]) / min(runs[b]):.2f}x (best)"
        )
    if args.page_cases and site is not None and shutil.which("chromium"):
        t = _browser_timing(_page_1000(site, args.page_cases))
        print(
            f"page with {t['rows']} cases ({t['size_mb']:.1f} MB): ready in {t['load_s']:.2f} s, "
            f"{t['images_before_open']} images laid out before a case is opened, sort {t['sort_ms']:.0f} ms, "
            f"open a case {t['open_ms']:.0f} ms"
        )


if __name__ == "__main__":
    main()
