"""The report page: one self-contained ``index.html`` (CSS, JavaScript and data inline).

The stylesheet and the script are files of this package (``assets/report.css`` and
``assets/report.js``, plain JavaScript, no library) copied into the page, so the
page needs no server and no network: open it from disk, or zip the folder and mail it.
The data (:mod:`napari_liverct.report.page`) sits in a ``<script type="application/json">``
block; the script builds the summary and the case table from it, and a case's section
(with its pictures, ``loading="lazy"``) only when that case is opened, so a page of
1,000 cases lays out text rows only.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path

from ..outputs.pathtext import path_text, text_safe

__all__ = ["render_page", "write_page", "asset_text"]

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="napari-liverct report">
<title>{title}</title>
<link rel="icon" href="data:,">
<style>
{css}
</style>
</head>
<body>
<header class="top"><h1>{title}</h1><div class="sub">{subtitle}</div></header>
<main>
<noscript><p class="error">This report builds its tables with JavaScript; please allow scripts for this file.</p></noscript>
<h2 id="summary-title">Dataset summary</h2>
<div id="summary"></div>
<div class="plots" id="plots"></div>
<h2>Anomalies</h2>
<div id="anomalies"></div>
<h2>Cases</h2>
<div class="toolbar">
<input type="search" id="filter" placeholder="filter: case id, anomaly kind, orientation..." aria-label="filter cases">
<label><input type="checkbox" id="only-anomalies"> only cases with anomalies</label>
<span id="count"></span>
</div>
<p class="legend">Click a column title to sort, a row to open the case. Coloured bar: orange = anomaly, red = failed to read.
Numbers are those of <a href="survey.json">survey.json</a>{evaluation_link}.</p>
<div class="tablewrap"><table id="cases"><thead></thead><tbody></tbody></table></div>
<footer>Written by napari-liverct report on {generated}. Pictures are drawn without OpenGL in the napari viewer's
orientation (axial: anterior up, patient's right on the left), window and label colours.</footer>
</main>
<script type="application/json" id="report-data">{data}</script>
<script>
{js}
</script>
</body>
</html>
"""


def asset_text(name: str) -> str:
    """Text of a file in ``napari_liverct/report/assets``."""
    return resources.files("napari_liverct.report").joinpath("assets", name).read_text(encoding="utf-8")


def _json_for_script(data: dict) -> str:
    # file names that are not valid UTF-8 as pathtext.path_text writes them (\xNN)
    text = json.dumps(text_safe(data), allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    # nothing inside may close the <script> element or open a comment
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(data: dict) -> str:
    """The HTML text of the report page for the page data."""
    ds = data.get("dataset") or {}
    subtitle = f"{ds.get('root', '')} ({ds.get('layout', '')}), {len(data['cases'])} cases"
    if data.get("evaluation"):
        subtitle += f"; predictions {data['evaluation']['predictions']}"
    return _TEMPLATE.format(
        title=html.escape(path_text(data["title"])),
        subtitle=html.escape(path_text(subtitle)),
        generated=html.escape(data["generated"]),
        css=asset_text("report.css"),
        js=asset_text("report.js"),
        data=_json_for_script(data),
        evaluation_link=' and <a href="evaluation.json">evaluation.json</a>' if data.get("evaluation") else "",
    )


def write_page(out_dir, data: dict) -> Path:
    """Write ``index.html`` into ``out_dir``; return its path."""
    path = Path(out_dir) / "index.html"
    path.write_text(render_page(data), encoding="utf-8")
    return path
