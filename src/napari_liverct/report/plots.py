"""Dataset summary plots of the QC report (matplotlib Figure objects on the Agg canvas, no pyplot).

Each plot is drawn from the survey report (and the evaluation) the page shows, so a
plot never disagrees with the tables.  Written at 110 dpi, about 800 px wide, with
10 pt text: readable in the page without zooming.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["summary_plots"]

DPI = 110
_AXES = "xyz"
#: Classes drawn in the class and evaluation plots (those in most cases); the JSON has them all.
MAX_PLOT_CLASSES = 30


def _fig(ncols: int, height: float = 2.8):
    # a plain Figure (Agg canvas), not pyplot: no global backend switch inside napari, thread-safe
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.2, height), dpi=DPI)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)


def _hist(ax, values, title: str, xlabel: str) -> None:
    v = np.asarray([x for x in values if x is not None], float)
    if v.size == 0:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    elif np.ptp(v) == 0:
        ax.bar([v[0]], [v.size], width=max(abs(v[0]) * 0.05, 0.05), color="#4c72b0")
        ax.text(
            0.5,
            0.5,
            f"all {v.size}: {v[0]:g}",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="white",
            fontsize=11,
            fontweight="bold",
        )
    else:
        ax.hist(v, bins=min(30, max(5, int(np.sqrt(v.size)) * 2)), color="#4c72b0")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("cases")


def _class_style(classes: dict, info: dict | None) -> tuple[dict[str, str], dict[str, tuple]]:
    """Names (dataset.json's, else the viewer layer's) and the viewer layer's colours of the classes."""
    from ..labels.tables import label_colors

    info = info or {}
    names = {v: c.get("name") or (info.get(v) or {}).get("name") or f"label {v}" for v, c in classes.items()}
    fallback = label_colors({int(v): n for v, n in names.items()})
    colors = {
        v: tuple((info.get(v) or {}).get("color") or fallback.get(int(v), (0.5, 0.5, 0.5, 1.0)))[:3] for v in names
    }
    return names, colors


def summary_plots(
    survey: dict, samples: list, evaluation: dict | None, folder: Path, class_info: dict | None = None
) -> list[dict]:
    """Write the summary PNGs into ``folder``; return ``[{"file", "title", "caption"}]`` (relative paths).

    ``class_info``: label value -> ``{"name", "color"}`` of the viewer's labels layers
    (:func:`napari_liverct.report.page.class_info`).
    """
    import matplotlib

    with matplotlib.rc_context({"font.size": 10, "axes.titlesize": 11}):
        return _plots(survey, samples, evaluation, folder, class_info)


def _plots(survey: dict, samples: list, evaluation: dict | None, folder: Path, info: dict | None) -> list[dict]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = [r for r in survey["cases"] if not r.error]
    s = survey["summary"]
    out: list[dict] = []

    def add(name, title, caption):
        out.append({"file": f"img/{name}", "title": title, "caption": caption})

    fig, axes = _fig(3)
    for a, ax in enumerate(axes):
        _hist(ax, [r.spacing_ras[a] for r in rows if r.spacing_ras], f"spacing {_AXES[a]}", "mm")
    _save(fig, folder / "spacing.png")
    add("spacing.png", "Voxel spacing", "Per RAS axis (x = left-right, y = posterior-anterior, z = inferior-superior).")

    fig, axes = _fig(3)
    for a, ax in enumerate(axes):
        _hist(ax, [r.shape_ras[a] for r in rows if r.shape_ras], f"size {_AXES[a]}", "voxels")
    _save(fig, folder / "shape.png")
    add("shape.png", "Volume size", "Voxels per RAS axis.")

    pooled = np.concatenate([x for x in samples if x is not None and len(x)] or [np.zeros(0, np.float32)])
    if pooled.size:
        fig, axes = _fig(1)
        ax = axes[0]
        ax.hist(pooled, bins=100, color="#4c72b0")
        it = s["intensity"]
        for key, lab, col in (
            ("p00_5", "0.5 %", "#c44e52"),
            ("p50", "median", "#222222"),
            ("p99_5", "99.5 %", "#c44e52"),
        ):
            ax.axvline(it[key], color=col, ls="--", lw=1)
            ax.text(it[key], ax.get_ylim()[1] * 0.95, f" {lab} {it[key]:.0f}", color=col, va="top", fontsize=9)
        ax.set_xlabel("intensity (HU for CT) of labelled voxels")
        ax.set_ylabel("samples")
        _save(fig, folder / "intensity.png")
        add(
            "intensity.png",
            "Foreground intensities",
            f"{it['n_samples']} voxels with label > 0, {len(rows)} cases pooled (nnU-Net's sampling).",
        )

    classes = {v: c for v, c in (s.get("classes") or {}).items() if v != "0"}
    more = ""
    if len(classes) > MAX_PLOT_CLASSES:  # e.g. a CT given as labels: thousands of "classes"
        keep = sorted(classes, key=lambda v: -(classes[v]["cases_share"] or 0))[:MAX_PLOT_CLASSES]
        more = f" The {len(classes) - MAX_PLOT_CLASSES} classes in fewest cases are not drawn (see survey.json)."
        classes = {v: classes[v] for v in sorted(keep, key=int)}
    if classes:
        cnames, colors = _class_style(classes, info)
        lab_rows = [r for r in rows if r.volume_ml is not None]
        fig, axes = _fig(2, 3.0)
        keys = list(classes)
        names = [cnames[k] for k in keys]
        axes[0].barh(names, [100 * (classes[k]["cases_share"] or 0) for k in keys], color=[colors[k] for k in keys])
        axes[0].set_xlabel("% of labelled cases containing the class")
        axes[0].set_xlim(0, 100)
        axes[0].invert_yaxis()
        vols = [[r.volume_ml.get(k, 0.0) for r in lab_rows] for k in keys]
        bp = axes[1].boxplot(vols, orientation="horizontal", patch_artist=True, widths=0.6)
        axes[1].set_yticks(range(1, len(keys) + 1), names)
        for patch, k in zip(bp["boxes"], keys):
            patch.set_facecolor(colors[k])
        axes[1].invert_yaxis()
        axes[1].set_xlabel("volume per case (mL)")
        top = max((v for vs in vols for v in vs), default=0.0)
        if top > 0:
            axes[1].set_xscale("symlog", linthresh=1.0)
            axes[1].set_xlim(-0.5, top * 3)
        _save(fig, folder / "classes.png")
        add(
            "classes.png",
            "Class frequencies",
            "Share of labelled cases with each class, and its volume per case." + more,
        )

    counts = [r.lesion_count for r in rows if r.lesion_count is not None]
    if counts:
        fig, axes = _fig(1)
        ax = axes[0]
        ax.hist(counts, bins=np.arange(-0.5, max(counts) + 1.5, 1), color="#55a868", rwidth=0.85)
        ax.set_xlabel("lesions per case (connected components of the lesion classes)")
        ax.set_ylabel("cases")
        _save(fig, folder / "lesions.png")
        add("lesions.png", "Lesions per case", "Counted by the survey (26-connectivity).")

    if evaluation is not None and evaluation["cases"]:
        ok = [c for c in evaluation["cases"] if c.get("classes")]
        ev_classes = evaluation["summary"]["classes"]
        labels = sorted(ev_classes, key=lambda v: -(ev_classes[v].get("n_present") or 0))[:MAX_PLOT_CLASSES]
        labels.sort(key=int)
        if ok and labels:
            fig, axes = _fig(2, 3.0)
            ax = axes[0]
            data, names = [], []
            for lab in labels:
                d = [
                    cl["dice"] for c in ok for cl in c["classes"] if str(cl["label"]) == lab and cl["dice"] is not None
                ]
                data.append(d)
                names.append(evaluation["summary"]["classes"][lab]["name"])
            for i, d in enumerate(data, 1):
                ax.scatter(d, np.full(len(d), i) + np.linspace(-0.15, 0.15, len(d)), s=12, color="#4c72b0")
            ax.set_yticks(range(1, len(names) + 1), names)
            ax.set_xlim(-0.02, 1.02)
            ax.invert_yaxis()
            ax.set_xlabel("Dice per case")
            les = evaluation["summary"].get("lesions")
            ax = axes[1]
            if les:
                ax.bar(
                    ["detected", "missed", "false"],
                    [les["tp"], les["fn"], les["fp"]],
                    color=["#55a868", "#ff3c3c", "#ff00ff"],
                )
                ax.set_ylabel("lesions (all cases)")
                ax.set_title(f"lesion F1 (pooled) {les['f1']:.3f}" if les.get("f1") is not None else "lesions")
            else:
                ax.axis("off")
            _save(fig, folder / "evaluation.png")
            add("evaluation.png", "Evaluation", "Dice per case and class; lesions detected, missed and invented.")
    return out
