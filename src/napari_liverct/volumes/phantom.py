"""A synthetic abdominal CT phantom with liver and tumour labels (fixed seed).

The phantom is generated in code, so the plugin can be tried without data and tests
know the answers: int16 HU, air (-1000) outside an elliptical body with a fat rim,
a spine (vertebral bodies and discs), an aorta, a liver on the patient's right (RAS x > 0) with a portal vessel, and three
spherical tumours of different sizes inside the liver.  Spacing is anisotropic
(0.8 x 0.8 x 2.5 mm by default) and the array is stored like most DICOM-derived
NIfTI files: LPS on disk (affine diag(-sx, -sy, sz)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Phantom", "make_phantom", "write_phantom", "TUMOURS_MM"]

#: Height of a vertebra with its disc, and of the disc, in mm (lumbar: about 25-35 and 7-10).
VERTEBRA_MM, DISC_MM = 32.0, 8.0

#: Tumour centres (RAS mm, relative to the volume centre) and radii (mm).
TUMOURS_MM = (
    ((95.0, 10.0, 15.0), 18.0),
    ((60.0, 45.0, -25.0), 10.0),
    ((100.0, -20.0, -40.0), 6.0),
)


@dataclass
class Phantom:
    """Image and labels in stored (i, j, k) order with their shared RAS affine."""

    image: np.ndarray
    labels: np.ndarray
    affine: np.ndarray
    tumours: list = field(default_factory=list)  # (centre RAS mm, radius mm)

    @property
    def spacing(self) -> tuple[float, float, float]:
        return tuple(float(v) for v in np.abs(np.diag(self.affine)[:3]))  # type: ignore[return-value]


def make_phantom(
    shape: tuple[int, int, int] = (448, 448, 96),
    spacing: tuple[float, float, float] = (0.8, 0.8, 2.5),
    seed: int = 0,
    noise: float = 12.0,
) -> Phantom:
    """Generate the phantom.

    Parameters
    ----------
    shape
        Stored array shape (i, j, k); i runs to the patient's left, j to posterior,
        k to superior (LPS on disk).
    spacing
        Voxel size in mm.
    seed
        Seed of the noise generator: the same seed gives the same volume.
    noise
        Standard deviation of the Gaussian image noise in HU.
    """
    sx, sy, sz = spacing
    nx, ny, nz = shape
    # LPS on disk: x_ras = -(i * sx) + ox, y_ras = -(j * sy) + oy, z_ras = k * sz + oz
    affine = np.diag([-sx, -sy, sz, 1.0])
    affine[:3, 3] = [(nx - 1) * sx / 2, (ny - 1) * sy / 2, -(nz - 1) * sz / 2]
    i = np.arange(nx, dtype=np.float32)
    j = np.arange(ny, dtype=np.float32)
    k = np.arange(nz, dtype=np.float32)
    x = (-(i * sx) + affine[0, 3])[:, None, None]  # RAS mm, centred on 0
    y = (-(j * sy) + affine[1, 3])[None, :, None]
    z = (k * sz + affine[2, 3])[None, None, :]
    half_fov = min(nx * sx, ny * sy) / 2

    def ellipsoid(cx, cy, cz, rx, ry, rz):
        return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + ((z - cz) / rz) ** 2 <= 1.0

    def cylinder(cx, cy, rx, ry):
        return (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0) & (z == z)

    rx_body, ry_body = 0.85 * half_fov, 0.62 * half_fov
    img = np.full(shape, -1000, dtype=np.int16)
    body = cylinder(0, 0, rx_body, ry_body)
    img[body] = -100  # subcutaneous fat
    img[cylinder(0, 0, rx_body - 12, ry_body - 12)] = 40  # soft tissue
    # the spine: vertebral bodies (cancellous bone in a cortical shell) between discs.  A
    # uniform 700 HU rod the whole length of the scan was drawn by the 3D view (window
    # 100-600 HU) as a featureless white band down the side of the liver
    vertebra = cylinder(0, -0.55 * ry_body, 18, 16)
    img[vertebra] = 700  # cortical shell
    img[cylinder(0, -0.55 * ry_body, 15, 13)] = 250  # cancellous bone
    img[vertebra & ((z - z.min()) % VERTEBRA_MM < DISC_MM)] = 90  # intervertebral discs
    img[cylinder(-25, -0.3 * ry_body, 9, 9)] = 180  # aorta (contrast)
    liver = ellipsoid(0.45 * rx_body, 0.1 * ry_body, 0, 0.42 * rx_body, 0.62 * ry_body, 90)
    img[liver] = 60
    vessel = cylinder(0.35 * rx_body, 0.05 * ry_body, 5, 5) & liver
    img[vessel] = 150
    lab = np.zeros(shape, dtype=np.uint8)
    lab[liver] = 1
    tumours = []
    for (cx, cy, cz), r in TUMOURS_MM:
        centre = (cx * rx_body / 150.0, cy * ry_body / 110.0, cz)
        t = ellipsoid(*centre, r, r, r) & liver
        img[t] = 20
        lab[t] = 2
        tumours.append((centre, r))
    rng = np.random.default_rng(seed)
    img += rng.normal(0, noise, size=shape).astype(np.int16)
    img[~body] = -1000 + rng.integers(-20, 21, size=int((~body).sum()), dtype=np.int16)
    return Phantom(image=img, labels=lab, affine=affine, tumours=tumours)


def write_phantom(folder: str | Path, name: str = "liver_phantom", **kwargs) -> tuple[Path, Path]:
    """Write the phantom as ``NAME.nii.gz`` and ``NAME_label.nii.gz`` into ``folder``."""
    import nibabel as nib

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ph = make_phantom(**kwargs)
    img_path = folder / f"{name}.nii.gz"
    lab_path = folder / f"{name}_label.nii.gz"
    from ..outputs.group import atomic_write_group

    atomic_write_group(
        [
            (img_path, lambda tmp: nib.save(nib.Nifti1Image(ph.image, ph.affine), tmp)),
            (lab_path, lambda tmp: nib.save(nib.Nifti1Image(ph.labels, ph.affine), tmp)),
        ]
    )
    return img_path, lab_path
