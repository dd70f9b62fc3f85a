"""Which runtime runs the two networks: OpenVINO (float32) when it is installed and its
converted model agreed with torch, else torch.

``$NAPARI_LIVERCT_RUNTIME`` chooses: unset or ``auto`` (OpenVINO for the networks in
:data:`AUTO_MODELS` if it is importable and passed its agreement check, else torch),
``torch`` (always torch), ``openvino`` (OpenVINO for both networks, even if its check
failed; an error if it is missing).

Conversion (:func:`prepare`): the torch network of :mod:`.net` in its tracing form
(:meth:`~napari_liverct.segment.net.UNetLike.exportable`) goes through ``ov.convert_model``
with an example input of the network's one input shape (crops and pools are sized in
Python, so an IR holds one shape) and is saved as IR (xml + bin) with a ``check.json`` in
one folder, written as a unit, under ``$LIVERCT_DATA/weights/openvino/``, named by the
weights' sha256, the OpenVINO version, the input shape and :data:`GRAPH` (the tracing form's
version).  Nothing is downloaded.  The agreement check runs :func:`check_patch` (a
deterministic CT-like patch) through torch and the compiled float32 model; OpenVINO is
refused (torch runs, one log line says why) when the largest probability difference exceeds
:data:`TOLERANCE`.  ``scripts/fetch_data.py`` prepares the networks OpenVINO will run at
set-up; otherwise the first use converts (the lesion network 1.5-2 minutes on 2 busy cores,
the liver network about 7).

OpenVINO runs with ``INFERENCE_PRECISION_HINT f32`` set explicitly: on CPUs with AVX-512
BF16 / AMX its CPU plugin otherwise infers in bfloat16 (largest difference 0.46 on a real
lesion tile).  Its thread count is torch's at the time of the call (the thread setting of
the draft and of a click set torch's).  Importing this module imports neither torch nor
OpenVINO.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = [
    "AUTO_MODELS",
    "ENV",
    "GRAPH",
    "TOLERANCE",
    "OpenVINONetwork",
    "check_patch",
    "ir_folder",
    "network",
    "prepare",
]

log = logging.getLogger(__name__)

ENV = "NAPARI_LIVERCT_RUNTIME"
#: version of the traced graph (:meth:`UNetLike.exportable`); part of the IR folder's name
GRAPH = 1
#: Largest probability difference against torch float32 for OpenVINO to be used.  On real
#: tiles of the example CT torch float32 is within 2e-5 of torch float64 and OpenVINO
#: float32 (staged norm) within about 3e-3 (``benchmarks/bench_runtime.py``); 0.01 passes
#: that and refuses the 0.4 of a bf16 or MVN-fused conversion.
TOLERANCE = 0.01
#: The networks OpenVINO runs in ``auto`` mode: the lesion network (0.3-0.5x torch's time
#: per tile, the same peak memory).  The liver network is faster too (0.65x) but its peak
#: memory in OpenVINO, 3.9 GB against torch's 2.2 GB, is over the draft's 3 GB budget
#: (``benchmarks/bench_runtime.py``); ``$NAPARI_LIVERCT_RUNTIME=openvino`` runs it there.
AUTO_MODELS = ("lesion",)
#: progress units of one OpenVINO pass (shown by time: the pass is one call)
PASS_UNITS = 1_000_000

_lock = threading.Lock()
_compiled: dict = {}
_said: set = set()


def requested() -> str:
    """``auto``, ``torch`` or ``openvino`` from ``$NAPARI_LIVERCT_RUNTIME``."""
    value = (os.environ.get(ENV) or "auto").strip().lower()
    if value not in ("auto", "torch", "openvino"):
        raise ValueError(f"${ENV}={value!r}: expected 'auto', 'torch' or 'openvino'")
    return value


def _say(message: str) -> None:
    """One log line per distinct message per process."""
    if message not in _said:
        _said.add(message)
        log.warning(message)


def ir_folder(model: str, shape, *, ov_version: str | None = None) -> Path:
    """The IR folder of ``model`` at input ``shape``: keyed by the weights' sha256, the
    OpenVINO version, the shape and :data:`GRAPH`."""
    from .weights import cache_dir, sha256_file, weights_path

    if ov_version is None:
        import openvino as ov

        ov_version = ov.get_version()
    version = re.sub(r"[^0-9A-Za-z.]+", "_", ov_version.split("-releases")[0])
    sha = sha256_file(weights_path(model))[:16]
    dims = "x".join(str(int(n)) for n in shape)
    return cache_dir() / "openvino" / f"pyliverlesionseg-0.3-{model}-{sha}-ov{version}-{dims}-g{GRAPH}"


def check_patch(shape, seed: int = 0) -> np.ndarray:
    """A deterministic CT-like network input: a smooth textured organ (about 60 HU after the
    CT window), three darker round lesions, -0.5 around it and 0 in a margin, like a tile."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in shape)
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    c = np.array(shape) / 2
    organ = sum(((g - cc) / (0.35 * n)) ** 2 for g, cc, n in zip(grids, c, shape)) <= 1
    texture = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), 2.0)
    img = 0.15 + 0.4 * texture / max(float(np.abs(texture).max()), 1e-6) * 0.1
    for k in range(3):
        centre = c + (rng.random(3) - 0.5) * 0.3 * np.array(shape)
        r = 0.08 * min(shape) * (1 + k)
        ball = sum((g - cc) ** 2 for g, cc in zip(grids, centre)) <= r**2
        img = np.where(ball, img - 0.12, img)
    img = np.clip(np.where(organ, img, -0.5), -0.5, 0.5).astype(np.float32)
    m = [max(1, n // 20) for n in shape]
    out = np.zeros(shape, np.float32)
    inner = tuple(slice(a, n - a) for a, n in zip(m, shape))
    out[inner] = img[inner]
    return out


def _torch_output(net, patch: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return net(torch.from_numpy(np.ascontiguousarray(patch, dtype=np.float32))[None, None])[0, 0].numpy()


def _compile(xml: Path, threads: int):
    import openvino as ov

    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": int(threads)}
    return core.compile_model(core.read_model(str(xml)), "CPU", config)


def prepare(model: str, shape, *, net=None, threads: int | None = None) -> dict:
    """Convert ``model`` at input ``shape`` to IR and check it (once: an existing folder is
    read, not redone).  Returns its ``check.json``: largest difference, tolerance, whether
    it agrees, seconds.  ``net`` is the torch network (default: built from the weights)."""
    import openvino as ov
    import torch

    from ..outputs.units import atomic_folder
    from .weights import sha256_file, weights_path

    folder = ir_folder(model, shape)
    check = folder / "check.json"
    if check.exists():
        return json.loads(check.read_text())
    if net is None:
        from .net import build

        net = build(model)
    threads = int(threads or torch.get_num_threads())
    t0 = time.perf_counter()
    with torch.no_grad():
        ir = ov.convert_model(net.exportable(), example_input=torch.zeros((1, 1, *shape)))
    seconds_convert = time.perf_counter() - t0
    patch = check_patch(shape)
    t0 = time.perf_counter()
    want = _torch_output(net, patch)
    seconds_torch = time.perf_counter() - t0
    with atomic_folder(folder) as tmp:
        ov.save_model(ir, str(tmp / "model.xml"), compress_to_fp16=False)
        compiled = _compile(tmp / "model.xml", threads)
        t0 = time.perf_counter()
        got = np.asarray(compiled(patch[None, None])[0])[0, 0]
        seconds_ov = time.perf_counter() - t0
        diff = float(np.abs(got - want).max())
        info = {
            "model": model,
            "shape": [int(n) for n in shape],
            "openvino": ov.get_version(),
            "weights_sha256": sha256_file(weights_path(model)),
            "max_difference": diff,
            "tolerance": TOLERANCE,
            "agrees": bool(diff <= TOLERANCE),
            "check_input": "check_patch(shape, seed=0)",
            "threads": threads,
            "seconds_convert": round(seconds_convert, 2),
            "seconds_torch": round(seconds_torch, 3),
            "seconds_openvino": round(seconds_ov, 3),
        }
        (tmp / "check.json").write_text(json.dumps(info, indent=1))
    return info


@dataclass
class OpenVINONetwork:
    """A compiled float32 model of one network at one input shape and thread count."""

    model: str
    compiled: object
    #: the runtime's name in the network-output memo's key (``netcache``): the IR folder's name
    tag: str
    #: progress units per second (of :data:`PASS_UNITS` a pass), the last pass's
    rate: float | None = None

    def __call__(self, patch: np.ndarray, monitor=None) -> np.ndarray:
        """One pass; ``monitor`` (a ConvMonitor) follows it by time (:func:`time_share` of
        the pass's expected length) and can stop it (the running inference is cancelled)."""
        x = np.ascontiguousarray(patch, dtype=np.float32)[None, None]
        request = self.compiled.create_infer_request()
        t0 = time.perf_counter()
        if monitor is None:
            request.infer({0: x})
        else:
            from .net import PassStopped

            monitor.total = PASS_UNITS
            rate = monitor.rate_hint or self.rate
            expected = PASS_UNITS / rate if rate else None
            monitor.reached(0)
            request.start_async({0: x})
            try:
                while not request.wait_for(100):
                    if monitor.stop_requested:
                        raise PassStopped("forward pass stopped")
                    if expected:
                        monitor.reached(int(PASS_UNITS * time_share(time.perf_counter() - t0, expected)))
            except PassStopped:
                request.cancel()
                raise
            monitor.finished()
        self.rate = PASS_UNITS / max(time.perf_counter() - t0, 1e-6)
        return np.array(request.get_output_tensor(0).data[0, 0])


def time_share(elapsed: float, expected: float) -> float:
    """The share of a pass shown after ``elapsed`` seconds when it should take ``expected``:
    linear to 0.9 at the expected end, then ever more slowly towards 0.99, so the bar keeps
    moving when the pass runs slower than expected (other work on the cores)."""
    if elapsed <= expected:
        return 0.9 * elapsed / expected
    return 0.9 + 0.09 * (1.0 - np.exp(-(elapsed - expected) / expected))


def network(model: str, shape, threads: int) -> OpenVINONetwork | None:
    """The OpenVINO model to run ``model`` with, or None for torch (``$NAPARI_LIVERCT_RUNTIME``,
    OpenVINO missing or broken, or its check failed: one log line says which)."""
    mode = requested()
    if mode == "torch" or (mode == "auto" and model not in AUTO_MODELS):
        return None
    key = (model, tuple(int(n) for n in shape), int(threads))
    with _lock:
        if key in _compiled:
            return _compiled[key]
        try:
            import openvino  # noqa: F401
        except Exception as exc:  # ImportError, or a broken install failing on import
            if mode == "openvino":
                raise RuntimeError(f"${ENV}=openvino but OpenVINO cannot be imported: {exc}") from exc
            _say(f"OpenVINO cannot be imported ({exc}): the {model} network runs in torch")
            _compiled[key] = None
            return None
        try:
            if not (ir_folder(model, shape) / "check.json").exists():
                _say(f"converting the {model} network to OpenVINO (once; kept in {ir_folder(model, shape).parent})")
            info = prepare(model, shape, threads=threads)
            ov_net = None
            if info["agrees"] or mode == "openvino":
                folder = ir_folder(model, shape)
                ov_net = OpenVINONetwork(model, _compile(folder / "model.xml", threads), f"openvino-{folder.name}")
                ov_net.rate = PASS_UNITS / max(info["seconds_openvino"] * info["threads"] / threads, 1e-3)
            if not info["agrees"]:
                _say(
                    f"OpenVINO's {model} network differs from torch by {info['max_difference']:.3g} "
                    f"(tolerance {info['tolerance']}): "
                    + ("used anyway (${ENV}=openvino)" if mode == "openvino" else "it runs in torch")
                )
        except Exception as exc:
            if mode == "openvino":
                raise
            _say(f"OpenVINO failed for the {model} network ({type(exc).__name__}: {exc}): it runs in torch")
            ov_net = None
        _compiled[key] = ov_net
        return ov_net


# -- torch -----------------------------------------------------------------------------------
@lru_cache(maxsize=2)
def torch_network(model: str):
    """The network in ``channels_last_3d`` memory format: oneDNN's 3D convolutions ran
    1.5-2x faster in it than in the default layout on this CPU (benchmarks/bench_segment.py),
    with the same result to 1e-5."""
    import torch

    from .net import build

    return build(model).to(memory_format=torch.channels_last_3d)


def run_torch(model: str, patch: np.ndarray, monitor=None) -> np.ndarray:
    """One forward pass of ``model`` in torch; ``monitor`` (a ConvMonitor) ticks per convolution."""
    import torch

    net = torch_network(model)
    if monitor is not None:
        monitor.total = max(sum(net.conv_macs), 1)
        monitor.rate_hint = monitor.rate_hint or net.last_rate
    x = torch.from_numpy(np.ascontiguousarray(patch, dtype=np.float32))[None, None]
    with torch.inference_mode():
        out = net(x.contiguous(memory_format=torch.channels_last_3d), monitor=monitor)
    return np.ascontiguousarray(out[0, 0].numpy())
