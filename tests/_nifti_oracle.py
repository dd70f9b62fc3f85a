"""nibabel as the oracle for the reader: a corpus of files other tools wrote, and a
seeded header mutation fuzzer.  Used by tests/io/test_conformance.py (a few hundred
mutants) and benchmarks/fuzz_nifti.py (thousands).

The conformance rule: for every file nibabel opens, ``read_nifti`` returns the values of
``np.asanyarray(nib.load(f).dataobj)`` and ``nib.load(f).affine`` (1e-6); for every
file nibabel refuses, it raises ``NiftiReadError`` naming the file.  The reader is
stricter on purpose in the cases listed in ``STRICTER`` (the README says so too).
"""

from __future__ import annotations

import gzip
import logging
import re
import shutil
import struct
import subprocess
import tracemalloc
import warnings
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from napari_liverct.volumes.nifti import NiftiReadError, read_nifti

logging.getLogger("nibabel").setLevel(logging.CRITICAL)  # header fixes are logged, not errors

#: Messages of cases where the reader refuses on purpose what nibabel reads.
STRICTER = re.compile(
    r"vox_offset|not supported|no usable voxel-to-world affine|empty or negative shape|"
    r"gzip stream is truncated or corrupt|dimensions \(must be 1 to 7\)|GiB limit|"
    r"voxel size of axis|"  # pixdim 0, negative or non-finite under a qform: nibabel assumes 1 mm
    r"\.hdr/\.img pair"  # magic ni1 with vox_offset 0: nibabel reads the header bytes as voxels
)

#: Largest volume the fuzzer lets nibabel allocate (a mutated header may claim terabytes).
NIB_BUDGET = 64 * 1024**2


def nib_reference(path: Path):
    """(data, affine) as nibabel reads them, or the exception nibabel raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
        return data, np.asarray(img.affine, float)


def _normalise(data: np.ndarray) -> np.ndarray:
    """Our reader's axis rule: trailing singleton axes beyond 3 dropped, padded to 3 axes."""
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    while data.ndim < 3:
        data = data[..., np.newaxis]
    return data


def usable(affine) -> bool:
    """The README's rule: finite, entries within 1e6 mm, non-singular, axes not nearly parallel."""
    a = np.asarray(affine, float)
    if not np.all(np.isfinite(a)) or np.abs(a[:3]).max() > 1e6 or abs(np.linalg.det(a[:3, :3])) <= 1e-12:
        return False
    unit = a[:3, :3] / np.linalg.norm(a[:3, :3], axis=0)
    return bool(abs(np.linalg.det(unit)) >= 1e-6)


@dataclass
class Verdict:
    path: Path
    ok: bool
    why: str


def compare_with_nibabel(path: Path, *, nib_ok_size: bool = True) -> Verdict:
    """Read ``path`` with both readers and judge by the conformance rule."""
    ours = exc = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = read_nifti(path)
            _ = np.asarray(ours.data).sum()  # touch every voxel (memory maps)
    except NiftiReadError as e:
        exc = e
        if str(path) not in str(e):
            return Verdict(path, False, f"NiftiReadError without the file name: {e}")
    except Exception as e:  # noqa: BLE001 - exactly what the fuzz is looking for
        return Verdict(path, False, f"wrong exception type {type(e).__name__}: {e}")
    if not nib_ok_size:
        return Verdict(path, True, "nibabel not run (claimed size beyond the budget)")
    try:
        ref, ref_aff = nib_reference(path)
    except Exception as e:  # noqa: BLE001
        if ours is not None:
            return Verdict(path, False, f"nibabel refuses ({type(e).__name__}: {e}) but we read it")
        return Verdict(path, True, "both refuse")
    if exc is not None:
        if STRICTER.search(str(exc)) or (not usable(ref_aff) and "affine" in str(exc)):
            return Verdict(path, True, f"stricter on purpose: {exc}")
        return Verdict(path, False, f"nibabel reads it, we refuse: {exc}")
    ref = _normalise(ref)
    got = np.asarray(ours.data)
    if got.shape != ref.shape:
        return Verdict(path, False, f"shape {got.shape} != nibabel {ref.shape}")
    if ref.dtype.kind == "f" or got.dtype.kind == "f":
        same = np.array_equal(got.astype(np.float64), ref.astype(np.float64), equal_nan=True)
    else:
        same = np.array_equal(got, ref)
    if not same:
        return Verdict(path, False, f"values differ from nibabel (ours {got.dtype}, nibabel {ref.dtype})")
    if got.dtype != ref.dtype and got.dtype.itemsize > ref.dtype.itemsize:
        return Verdict(path, False, f"dtype {got.dtype} wider than nibabel's {ref.dtype}")
    if usable(ref_aff):
        if not np.allclose(ours.affine, ref_aff, atol=1e-6, rtol=0):
            return Verdict(path, False, f"affine differs from nibabel:\n{ours.affine}\n{ref_aff}")
    else:
        hdr = ours.header
        q = hdr.get_qform() if int(hdr["qform_code"]) > 0 else None
        if q is None or not np.allclose(ours.affine, q, atol=1e-6):
            return Verdict(path, False, "nibabel's affine is unusable and ours is not the qform")
    return Verdict(path, True, "equal")


# --------------------------------------------------------------------------- corpus


def _nib_variants(folder: Path) -> list[Path]:
    rng = np.random.default_rng(7)
    out = []
    aff = np.array([[-0.8, 0, 0, 120.0], [0, -0.8, 0, 95.5], [0, 0, 2.5, -300.0], [0, 0, 0, 1]])

    def save(name, img):
        p = folder / name
        nib.save(img, p)
        out.append(p)

    ct = rng.integers(-1024, 2000, size=(9, 8, 7)).astype(np.int16)
    for dt in (np.uint8, np.int8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.float32, np.float64):
        data = rng.integers(0, 100, size=(6, 5, 4)).astype(dt)
        save(f"dtype_{np.dtype(dt).name}.nii.gz", nib.Nifti1Image(data, aff, dtype=dt))
    save("nifti2.nii.gz", nib.Nifti2Image(ct, aff))
    save("nifti2.nii", nib.Nifti2Image(ct, aff))
    be = nib.Nifti1Header(endianness=">")
    save("bigendian.nii", nib.Nifti1Image(ct, aff, header=be))
    save("bigendian.nii.gz", nib.Nifti1Image(ct.astype(np.float32), aff, header=be.copy()))
    img = nib.Nifti1Image(ct, aff)
    img.set_sform(None, code=0)
    img.set_qform(aff, code=1)
    save("qform_only.nii.gz", img)
    img = nib.Nifti1Image(ct, aff)
    img.set_qform(None, code=0)
    img.set_sform(aff, code=2)
    save("sform_only.nii.gz", img)
    img = nib.Nifti1Image(ct, aff)
    img.set_qform(None, code=0)
    img.set_sform(None, code=0)
    save("no_form.nii", img)
    for size in (0, 100, 700, 4096, 65536):
        img = nib.Nifti1Image(ct, aff)
        if size:
            img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"x" * size))
        save(f"ext_{size}.nii.gz", img)
        save(f"ext_{size}.nii", img)
    for name, dt, slope, inter in [
        ("scl_int", np.int16, 2.0, -1024.0),
        ("scl_float", np.int16, 0.5, 3.0),
        ("scl_big", np.int16, 1e6, 0.0),
        ("scl_u32", np.uint32, 1.0, -7.0),
        ("scl_i64", np.int64, 3.0, 0.0),
        ("scl_f32", np.float32, 2.5, 1.0),
    ]:
        data = ct.astype(dt) if dt != np.uint32 else (ct.astype(np.int64) + 2**31 + 5).astype(np.uint32)
        img = nib.Nifti1Image(data, aff, dtype=dt)
        img.header.set_slope_inter(slope, inter)
        # write raw values with this scaling: nibabel would rescale data on save otherwise
        p = folder / f"{name}.nii"
        hdr = img.header.copy()
        hdr["vox_offset"] = 352
        p.write_bytes(hdr.binaryblock + b"\0" * 4 + data.tobytes(order="F"))
        out.append(p)
    d4 = rng.integers(-100, 100, size=(5, 4, 3, 2)).astype(np.int16)
    save("four_d.nii.gz", nib.Nifti1Image(d4, aff))
    save("two_d.nii", nib.Nifti1Image(ct[:, :, 0], aff))
    return out


def totalsegmentator_like(folder: Path, n_classes: int = 61) -> Path:
    """A segmentation shaped like TotalSegmentator's output: ecode 0 Caret XML extension
    (about 13 kB for 117 classes) with a LabelTable and VolumeType Label, written as its
    ``add_label_map_to_nifti`` writes it."""
    names = {1: "spleen", 2: "kidney_right", 3: "kidney_left", 4: "gallbladder", 5: "liver", 6: "stomach"}
    for k in range(7, n_classes + 1):
        names[k] = f"structure_{k}"
    colors = [
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [255, 255, 0],
        [255, 0, 255],
        [0, 255, 255],
        [255, 128, 0],
        [255, 0, 128],
        [128, 255, 128],
        [0, 128, 255],
        [128, 128, 128],
        [185, 170, 155],
    ]
    pre = (
        '<?xml version="1.0" encoding="UTF-8"?> <CaretExtension>  <Date><![CDATA[2013-07-14T05:45:09]]></Date>'
        '   <VolumeInformation Index="0">   <LabelTable>'
    )
    body = "".join(
        f'<Label Key="{k}" Red="{colors[k % 12][0] / 255}" Green="{colors[k % 12][1] / 255}" '
        f'Blue="{colors[k % 12][2] / 255}" Alpha="1"><![CDATA[{n}]]></Label>\n'
        for k, n in names.items()
    )
    post = (
        "  </LabelTable>  <StudyMetaDataLinkSet>  </StudyMetaDataLinkSet>  <VolumeType><![CDATA[Label]]>"
        "</VolumeType>   </VolumeInformation></CaretExtension>"
    )
    xml = pre + "\n" + body + "\n" + post + "\n              "
    data = np.zeros((30, 28, 20), np.uint8)
    for k in range(1, n_classes + 1):
        data.flat[k * 97 : k * 97 + 40] = k
    aff = np.array([[-1.5, 0, 0, 100.0], [0, -1.5, 0, 80.0], [0, 0, 1.5, -50.0], [0, 0, 0, 1]])
    img = nib.Nifti1Image(data, aff)
    img.header.extensions.append(nib.nifti1.Nifti1Extension(0, xml.encode()))
    path = folder / "total.nii.gz"  # TotalSegmentator's --ml output name: nothing says labels
    nib.save(img, path)
    return path


def multi_member_gzip(src: Path, dst: Path, first: int = 100, block: int = 4096) -> Path:
    """Concatenated gzip members, the first shorter than the header (bgzip / pigz -i style)."""
    raw = src.read_bytes() if not src.name.endswith(".gz") else gzip.decompress(src.read_bytes())
    chunks = [raw[:first]] + [raw[i : i + block] for i in range(first, len(raw), block)]
    dst.write_bytes(b"".join(gzip.compress(c) for c in chunks))
    return dst


def _external_tools(folder: Path) -> list[Path]:
    """Files written by SimpleITK, pigz, bgzip and dcm2niix (where installed)."""
    out = []
    base = folder / "base.nii"
    rng = np.random.default_rng(3)
    ct = rng.integers(-1024, 1500, size=(16, 12, 6)).astype(np.int16)
    nib.save(nib.Nifti1Image(ct, np.diag([0.7, 0.7, 3.0, 1])), base)
    try:
        import SimpleITK as sitk

        im = sitk.GetImageFromArray(ct.transpose(2, 1, 0).copy())
        im.SetSpacing((0.7, 0.8, 2.5))
        im.SetOrigin((-120.0, 30.0, 400.0))
        im.SetDirection((1, 0, 0, 0, 0, -1, 0, 1, 0))  # a permuted, flipped grid
        for name, img in [("sitk.nii.gz", im), ("sitk_f32.nii", sitk.Cast(im, sitk.sitkFloat32))]:
            sitk.WriteImage(img, str(folder / name))
            out.append(folder / name)
    except ImportError:
        pass
    out.append(multi_member_gzip(base, folder / "multi_member.nii.gz"))
    for tool, args, name in (("pigz", ["-k", "-c"], "pigz.nii.gz"), ("bgzip", ["-c"], "bgzip.nii.gz")):
        exe = shutil.which(tool)
        if exe:
            with open(folder / name, "wb") as fh:
                subprocess.run([exe, *args, str(base)], stdout=fh, check=True)
            out.append(folder / name)
    dcm = dicom_series_to_nifti(folder / "dicom", rng)
    if dcm is not None:
        out.append(dcm)
    return out


def dicom_series_to_nifti(folder: Path, rng) -> Path | None:
    """A small CT series written with pydicom, converted by dcm2niix (None when missing)."""
    exe = shutil.which("dcm2niix")
    try:
        import pydicom  # noqa: F401 - only to know it is installed
        from pydicom.dataset import FileDataset, FileMetaDataset
        from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
    except ImportError:
        return None
    if exe is None:
        return None
    src = folder / "series"
    src.mkdir(parents=True, exist_ok=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    for i in range(6):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(src / f"{i}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality, ds.PatientName, ds.PatientID = "CT", "Phantom^Liver", "LIVERCT"
        ds.SeriesNumber, ds.InstanceNumber = 1, i + 1
        ds.ImagePositionPatient = [-100.0, -80.0, -40.0 + 2.5 * i]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness = [0.8, 0.75], 2.5
        ds.Rows, ds.Columns = 20, 24
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.PixelData = rng.integers(0, 3000, size=(20, 24)).astype(np.int16).tobytes()
        ds.save_as(str(src / f"{i}.dcm"), enforce_file_format=True)
    out = folder / "nii"
    out.mkdir(exist_ok=True)
    subprocess.run([exe, "-z", "y", "-f", "ct_%s", "-o", str(out), str(src)], check=True, capture_output=True)
    found = sorted(out.glob("*.nii.gz"))
    return found[0] if found else None


def monai_saved(folder: Path) -> list[Path]:
    """Files written by MONAI's SaveImage (imports torch: call only from tests)."""
    import torch
    from monai.data import MetaTensor
    from monai.transforms import SaveImage

    rng = np.random.default_rng(5)
    aff = torch.tensor([[0, -0.9, 0, 50.0], [1.1, 0, 0, -20.0], [0, 0, 3.0, 10.0], [0, 0, 0, 1]], dtype=torch.float64)
    out = []
    for dtype, ext in ((np.int16, ".nii.gz"), (np.float32, ".nii")):
        arr = MetaTensor(torch.from_numpy(rng.integers(-500, 500, size=(1, 10, 9, 8)).astype(dtype)), affine=aff)
        arr.meta["filename_or_obj"] = f"monai_{np.dtype(dtype).name}"
        SaveImage(
            output_dir=str(folder),
            output_ext=ext,
            separate_folder=False,
            output_postfix="saved",
            output_dtype=dtype,
            resample=False,
            print_log=False,
        )(arr)
    out += sorted(folder.glob("monai_*"))
    return out


def nibabel_test_data() -> list[Path]:
    data = Path(nib.__file__).parent / "tests" / "data"
    return sorted(p for p in data.iterdir() if p.name.lower().endswith((".nii", ".nii.gz")))


def build_corpus(folder: Path, *, with_monai: bool = True) -> list[Path]:
    """Every file of the corpus (nibabel's own test data is read in place)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = nibabel_test_data() + _nib_variants(folder) + _external_tools(folder)
    files.append(totalsegmentator_like(folder))
    if with_monai:
        mon = folder / "monai"
        mon.mkdir(exist_ok=True)
        files += monai_saved(mon)
    return files


# --------------------------------------------------------------------------- fuzzer

_FIELDS = nib.Nifti1Header.template_dtype
_INTERESTING = [
    0,
    1,
    -1,
    2,
    3,
    7,
    8,
    255,
    256,
    351,
    352,
    353,
    2**15 - 1,
    -(2**15),
    2**31 - 1,
    -(2**31),
    float("nan"),
    float("inf"),
    -float("inf"),
    1e6,
    1e30,
    -1e-30,
    0.5,
    2**31,
    1e12,
]
_MUTABLE = [
    "dim",
    "datatype",
    "bitpix",
    "pixdim",
    "vox_offset",
    "scl_slope",
    "scl_inter",
    "qform_code",
    "sform_code",
    "quatern_b",
    "quatern_c",
    "quatern_d",
    "qoffset_x",
    "srow_x",
    "srow_y",
    "srow_z",
    "sizeof_hdr",
    "magic",
    "intent_code",
    "xyzt_units",
    "dim_info",
]


def _set_field(buf: bytearray, name: str, value, rng, endian: str = "<") -> None:
    dt = _FIELDS.newbyteorder(endian)
    off = dt.fields[name][1]
    fdt = dt.fields[name][0]
    base = fdt.base
    count = int(np.prod(fdt.shape)) if fdt.shape else 1
    idx = int(rng.integers(count))
    if base.kind == "S":
        vals = [b"n+1\0", b"ni1\0", b"n+2\0", b"\0\0\0\0", bytes(rng.integers(0, 256, 4, dtype=np.uint8))]
        buf[off : off + 4] = vals[int(rng.integers(len(vals)))]
        return
    with np.errstate(all="ignore"):
        arr = np.array([value]).astype(base, casting="unsafe")
    o = off + idx * base.itemsize
    buf[o : o + base.itemsize] = arr.tobytes()


def mutate(raw: bytes, rng) -> bytes:
    """One seeded mutant of an uncompressed single-file NIfTI-1."""
    buf = bytearray(raw)
    endian = "<" if struct.unpack("<i", raw[:4])[0] == 348 else ">"
    for _ in range(int(rng.integers(1, 4))):
        r = rng.random()
        if r < 0.6:
            name = _MUTABLE[int(rng.integers(len(_MUTABLE)))]
            value = _INTERESTING[int(rng.integers(len(_INTERESTING)))]
            if name == "datatype":
                value = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304, 7][
                    int(rng.integers(19))
                ]
            _set_field(buf, name, value, rng, endian)
        elif r < 0.85:  # flip bytes in the header
            for _ in range(int(rng.integers(1, 6))):
                buf[int(rng.integers(0, 348))] = int(rng.integers(0, 256))
        else:  # claim (or fake) extensions
            buf[348] = int(rng.integers(0, 2))
            if len(buf) > 360:
                buf[352:360] = struct.pack(
                    endian + "ii", int(rng.choice([16, 32, 7, -16, 2**30])), int(rng.integers(0, 40))
                )
    r = rng.random()
    if r < 0.1:  # truncate
        buf = buf[: int(rng.integers(0, len(buf)))]
    elif r < 0.15:  # append garbage
        buf += bytes(rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8))
    return bytes(buf)


def claimed_bytes(raw: bytes) -> int:
    """Bytes the (mutated) header claims, or a huge number when it cannot be parsed."""
    try:
        h = nib.Nifti1Header(raw[:348], check=False)
        dim = h["dim"]
        nd = int(dim[0])
        if not 1 <= nd <= 7:
            return 0
        n = 1
        for d in dim[1 : nd + 1]:
            n *= max(int(d), 0)
        return n * max(h.get_data_dtype().itemsize, 1)
    except Exception:  # noqa: BLE001
        return 1 << 62


def fuzz(seeds: list[Path], n: int, folder: Path, seed: int = 0) -> list[Verdict]:
    """Run ``n`` mutants of ``seeds`` (uncompressed NIfTI-1 files); half are gzipped."""
    rng = np.random.default_rng(seed)
    raws = [s.read_bytes() for s in seeds]
    folder.mkdir(parents=True, exist_ok=True)
    verdicts = []
    for i in range(n):
        raw = mutate(raws[int(rng.integers(len(raws)))], rng)
        gz = bool(rng.integers(2))
        path = folder / f"m{i:05d}.nii{'.gz' if gz else ''}"
        path.write_bytes(gzip.compress(raw, compresslevel=1) if gz else raw)
        claim = claimed_bytes(raw)
        tracemalloc.start()
        v = compare_with_nibabel(path, nib_ok_size=claim <= NIB_BUDGET)
        tracemalloc.stop()
        verdicts.append(v)
        path.unlink()
    return verdicts


def peak_alloc_of_read(path: Path) -> tuple[int, int]:
    """(peak bytes traced while read_nifti runs on ``path``, bytes its header claims)."""
    raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    tracemalloc.start()
    try:
        read_nifti(path)
    except NiftiReadError:
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, claimed_bytes(raw)


def seed_files(folder: Path) -> list[Path]:
    """Small uncompressed NIfTI-1 seeds of several dtypes, forms and scalings."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    aff = np.array([[-0.8, 0, 0, 12.0], [0, 0, 0.9, -5.0], [0, 2.5, 0, 30.0], [0, 0, 0, 1]])
    out = []
    for i, dt in enumerate((np.int16, np.uint8, np.float32, np.int32, np.uint16, np.float64)):
        data = rng.integers(-50 if np.dtype(dt).kind != "u" else 0, 200, size=(5, 4, 3)).astype(dt)
        img = nib.Nifti1Image(data, aff)
        if i % 2:
            img.set_sform(None, code=0)
        if i == 2:
            img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"comment" * 20))
        if i == 3:
            img.header.set_slope_inter(2.0, -10.0)
        p = folder / f"seed_{np.dtype(dt).name}.nii"
        nib.save(img, p)
        out.append(p)
    be = nib.Nifti1Header(endianness=">")
    p = folder / "seed_be.nii"
    nib.save(nib.Nifti1Image(rng.integers(-50, 50, size=(4, 4, 2)).astype(np.int16), aff, header=be), p)
    out.append(p)
    return out
