"""Is the draft a liver?  Anatomy and physics checks of a draft, in world (RAS) terms.

:func:`check_draft` looks at a labels volume (1 liver, 2 liver tumour) on its CT and
returns a :class:`DraftCheck`: a tuple of :class:`Finding` s, each ``hard`` (the draft is
not a liver and is not written as one: :class:`ImplausibleDraftError`) or ``warning`` (it
is written, and the finding goes with it: sidecar JSON, ``segment_summary.json``, standard
error, the widget's status line, the QC report).  :func:`check_extent` refuses, before any
network runs, a scan too small to hold a liver.

The checks (directions from the affine, never from the array axes):

==========================  ========  =====================================================
code                        severity  when
==========================  ========  =====================================================
``empty``                   hard      no liver voxel
``liver_not_tissue``        hard      liver median outside -100..300 HU (fat, air, bone),
                                      or more than 5 % of its voxels below -500 HU (air)
``liver_above_lungs``       hard      the liver's centre lies superior to the lungs' centre
``liver_hu_unusual``        warning   median outside 0..200 HU (liver parenchyma on CT)
``liver_volume``            warning   outside 0.6..3.5 L (whole liver), or below 0.6 L in
                                      a scan that cuts it
``cut_by_field_of_view``    warning   liver voxels cover >= 1 cm^2 of a face of the scan
                                      (one finding per face: superior, inferior, right...)
``liver_on_left``           warning   the liver's centre lies left of the body's centre
                                      (situs inversus exists, hence not hard)
``lesion_outside_liver``    warning   a tumour component touches no liver voxel
``lesion_in_air``           warning   a tumour component's median is below -500 HU
``lesion_at_dome``          warning   a tumour component reaches within 10 mm of the top
                                      of a liver whose dome is in view
==========================  ========  =====================================================

Volume range: the smallest liver among 369 healthy adults measured on CT was 594 mL
(Feng et al., World J Gastroenterol 2017;23:4968, range 594-2,250 mL); Vauthey's standard
liver volume (-794 + 1267.28 x body surface area, Liver Transpl 2002;8:233) is 2.5 L at a
body surface area of 2.6 m^2.  0.6-3.5 L leaves room above that for the enlarged,
tumour-laden livers the lesion network is for; outside it is a warning, never a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

__all__ = [
    "DraftCheck",
    "Finding",
    "ImplausibleDraftError",
    "MIN_EXTENT_MM",
    "check_draft",
    "check_extent",
]

PARENCHYMA_HU = (0.0, 200.0)
TISSUE_MEDIAN_HU = (-100.0, 300.0)
AIR_HU = -500.0
MAX_AIR_FRACTION = 0.05
VOLUME_L = (0.6, 3.5)
CUT_MIN_CM2 = 1.0
DOME_MM = 10.0
#: smallest field of view (mm, in every direction) that can show enough of a liver
MIN_EXTENT_MM = 40.0
#: lung air (mL, on the lung slices) above which the lungs' position is used
MIN_LUNG_ML = 500.0
_SIDES = (("left", "right"), ("posterior", "anterior"), ("inferior", "superior"))


@dataclass(frozen=True)
class Finding:
    """One finding: ``code`` (see the module table), ``severity`` ("hard" or "warning"),
    a ``message`` a user understands, and the ``numbers`` behind it."""

    code: str
    severity: str
    message: str
    numbers: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"code": self.code, "severity": self.severity, "message": self.message, "numbers": self.numbers}


@dataclass(frozen=True)
class DraftCheck:
    """All findings on one draft, hard ones first."""

    findings: tuple[Finding, ...] = ()

    @property
    def hard(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "hard")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        """No hard finding (warnings allowed)."""
        return not self.hard

    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def text(self) -> str:
        """One line: the hard findings, else the warnings, ``; ``-separated ("" when clean)."""
        return "; ".join(f.message for f in (self.hard or self.warnings))

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "hard": [f.to_json() for f in self.hard],
            "warnings": [f.to_json() for f in self.warnings],
        }

    @classmethod
    def from_json(cls, doc: dict) -> DraftCheck:
        rows = [*(doc.get("hard") or []), *(doc.get("warnings") or [])]
        return cls(tuple(Finding(r["code"], r["severity"], r["message"], dict(r.get("numbers") or {})) for r in rows))


class ImplausibleDraftError(ValueError):
    """The draft failed a hard check: it is not written as a liver.  ``check`` holds the
    findings, ``labels`` (stored order, or None) what was refused, for inspection."""

    def __init__(self, message: str, check: DraftCheck, labels: np.ndarray | None = None):
        super().__init__(message)
        self.check = check
        self.labels = labels


def _extent_mm(shape, affine) -> np.ndarray:
    """Extent of the scan along its three closest-to-RAS directions (voxel count x spacing)."""
    from nibabel.orientations import io_orientation

    affine = np.asarray(affine, float)
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    ornt = io_orientation(affine)
    ext = np.zeros(3)
    for axis, (world, _) in enumerate(ornt):
        ext[int(world)] = shape[axis] * spacing[axis]
    return ext


def check_extent(shape, affine, what: str = "this scan") -> None:
    """Refuse a scan narrower than :data:`MIN_EXTENT_MM` in any direction, before any compute:
    an adult liver is over 10 cm across, and the networks need its surroundings."""
    ext = _extent_mm(tuple(shape)[:3], affine)
    if np.any(ext < MIN_EXTENT_MM):
        dims = " x ".join(f"{e:.0f}" for e in ext)
        raise ImplausibleDraftError(
            f"{what} is too small to hold a liver: its field of view is {dims} mm (R-L x A-P x S-I); "
            f"the draft needs at least {MIN_EXTENT_MM:.0f} mm in every direction",
            DraftCheck(
                (Finding("too_small", "hard", "field of view too small", {"extent_mm": ext.round(1).tolist()}),)
            ),
        )


def _world(affine: np.ndarray, ijk) -> np.ndarray:
    return (np.asarray(affine, float) @ np.append(np.asarray(ijk, float), 1.0))[:3]


def check_draft(ct_hu: np.ndarray, affine: np.ndarray, labels: np.ndarray, *, lungs=None) -> DraftCheck:
    """Check a draft (``labels``: 1 liver, 2 liver tumour) against anatomy and physics.

    Parameters
    ----------
    ct_hu
        The CT in Hounsfield units, 3D, as stored.
    affine
        Its voxel-to-world (RAS mm) matrix; ``labels`` is on the same grid.
    labels
        The draft.
    lungs
        A precomputed :func:`~napari_liverct.segment.preprocess.lung_slab` of the canonical
        CT (``False`` when none), to save its cost when checking twice.

    Returns
    -------
    DraftCheck
    """
    from .preprocess import lung_slab, to_canonical

    can = to_canonical(np.asarray(ct_hu), affine)
    lab = to_canonical(np.asarray(labels), affine).data
    ct, aff = can.data, can.affine
    vox_ml = float(abs(np.linalg.det(aff[:3, :3]))) / 1000.0
    liver = lab > 0
    n = int(liver.sum())
    if n == 0:
        return DraftCheck(
            (Finding("empty", "hard", "the liver network found no liver in this scan", {"liver_ml": 0.0}),)
        )
    out: list[Finding] = []
    hu = np.asarray(ct[liver], dtype=np.float32)
    med = float(np.median(hu))
    air = float((hu < AIR_HU).mean())
    litre = n * vox_ml / 1000.0
    hu_nums = {"median_hu": round(med, 1), "air_fraction": round(air, 4), "liver_ml": round(litre * 1000, 1)}
    if not TISSUE_MEDIAN_HU[0] <= med <= TISSUE_MEDIAN_HU[1] or air > MAX_AIR_FRACTION:
        out.append(
            Finding(
                "liver_not_tissue",
                "hard",
                f"the {litre * 1000:.0f} mL found is not liver tissue: median {med:.0f} HU, "
                f"{100 * air:.1f} % of it below {AIR_HU:.0f} HU (air); liver is roughly "
                f"{PARENCHYMA_HU[0]:.0f}-{PARENCHYMA_HU[1]:.0f} HU on CT",
                hu_nums,
            )
        )
    elif not PARENCHYMA_HU[0] <= med <= PARENCHYMA_HU[1]:
        out.append(
            Finding(
                "liver_hu_unusual",
                "warning",
                f"liver median {med:.0f} HU, outside the {PARENCHYMA_HU[0]:.0f}-{PARENCHYMA_HU[1]:.0f} HU "
                "of liver parenchyma (fatty liver is lower, some contrast phases higher): check it",
                hu_nums,
            )
        )
    # faces of the scan the liver reaches (canonical axes: 0 towards R, 1 towards A, 2 towards S)
    spacing = can.spacing
    cuts = []
    for axis in range(3):
        face_cm2 = float(np.prod(np.delete(spacing, axis))) / 100.0
        for end, side in ((0, _SIDES[axis][0]), (lab.shape[axis] - 1, _SIDES[axis][1])):
            area = float(np.take(liver, end, axis=axis).sum()) * face_cm2
            if area >= CUT_MIN_CM2:
                cuts.append(side)
                out.append(
                    Finding(
                        "cut_by_field_of_view",
                        "warning",
                        f"the liver is cut by the {side} edge of the scan ({area:.0f} cm^2 on its "
                        f"{side} slice): part of it is outside the field of view",
                        {"side": side, "area_cm2": round(area, 1)},
                    )
                )
    lo, hi = VOLUME_L
    if litre > hi or (litre < lo and not cuts):
        out.append(
            Finding(
                "liver_volume",
                "warning",
                f"liver volume {litre:.2f} L, outside the adult range {lo}-{hi} L: check it",
                {"liver_l": round(litre, 3), "range_l": [lo, hi]},
            )
        )
    elif litre < lo:
        out.append(
            Finding(
                "liver_volume",
                "warning",
                f"only {litre:.2f} L of liver in view (a whole adult liver is {lo}-{hi} L): "
                f"a partial liver, cut by the scan ({', '.join(cuts)})",
                {"liver_l": round(litre, 3), "range_l": [lo, hi], "partial": True},
            )
        )
    centre = _world(aff, ndimage.center_of_mass(liver))
    slab = lung_slab(ct, spacing) if lungs is None else (lungs or None)
    lung_ml = float(slab.air.sum()) * vox_ml if slab is not None else 0.0
    if lung_ml >= MIN_LUNG_ML:  # clearly lungs (bowel gas never fills this much)
        lung_c = _world(aff, ndimage.center_of_mass(slab.air))
        if centre[2] > lung_c[2]:
            out.append(
                Finding(
                    "liver_above_lungs",
                    "hard",
                    f"what was found lies {centre[2] - lung_c[2]:.0f} mm above the centre of the lungs; "
                    "the liver lies below them, under the diaphragm",
                    {
                        "liver_s_mm": round(float(centre[2]), 1),
                        "lungs_s_mm": round(float(lung_c[2]), 1),
                        "lung_air_ml": round(lung_ml, 1),
                    },
                )
            )
    zs = np.nonzero(liver.any(axis=(0, 1)))[0]
    body = np.zeros(ct.shape, bool)
    body[:, :, zs] = ct[:, :, zs] > AIR_HU
    body_c = _world(aff, ndimage.center_of_mass(body))
    if centre[0] < body_c[0]:  # RAS: x grows towards the patient's right
        out.append(
            Finding(
                "liver_on_left",
                "warning",
                f"the liver's centre lies {body_c[0] - centre[0]:.0f} mm left of the body's centre on "
                "the same slices; the liver is on the patient's right (unless situs inversus): check it",
                {"offset_mm": round(float(centre[0] - body_c[0]), 1)},
            )
        )
    out.extend(_lesion_findings(ct, lab, vox_ml, float(spacing[2]), "superior" in cuts))
    out.sort(key=lambda f: f.severity != "hard")
    return DraftCheck(tuple(out))


def _lesion_findings(ct, lab, vox_ml: float, z_mm: float, top_cut: bool) -> list[Finding]:
    tumour = lab == 2
    if not tumour.any():
        return []
    comp, n = ndimage.label(tumour, structure=np.ones((3, 3, 3), bool))
    liver1 = ndimage.binary_dilation(lab == 1, structure=np.ones((3, 3, 3), bool))
    idx = np.arange(1, n + 1)
    sizes = ndimage.sum_labels(tumour, comp, idx)
    touching = ndimage.maximum(liver1, comp, idx) > 0
    medians = ndimage.median(ct.astype(np.float32), comp, idx)
    tops = np.array([sl[2].stop - 1 for sl in ndimage.find_objects(comp)])
    liver_top = int(np.nonzero((lab > 0).any(axis=(0, 1)))[0].max())
    groups = {
        "lesion_outside_liver": (~touching, "touch no liver voxel (found in the margin around the liver)"),
        "lesion_in_air": (medians < AIR_HU, f"have a median below {AIR_HU:.0f} HU: air, not tumour"),
        "lesion_at_dome": (
            (liver_top - tops) * z_mm <= DOME_MM if not top_cut else np.zeros(n, bool),
            f"reach within {DOME_MM:.0f} mm of the liver's dome, where the draft has shown false lesions "
            "(partial volume with the lung and diaphragm)",
        ),
    }
    out = []
    for code, (mask, why) in groups.items():
        if not np.any(mask):
            continue
        ml = sorted((float(s) * vox_ml for s in sizes[mask]), reverse=True)
        k = len(ml)
        out.append(
            Finding(
                code,
                "warning",
                f"{k} tumour component{'s' if k > 1 else ''} ({sum(ml):.1f} mL; largest {ml[0]:.1f} mL) {why}: check "
                f"{'them' if k > 1 else 'it'}",
                {"count": k, "volume_ml": [round(v, 2) for v in ml]},
            )
        )
    return out
