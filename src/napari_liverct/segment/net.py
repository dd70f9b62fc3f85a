"""The two pyliverlesionseg U-Nets in PyTorch, transcribed from ``create_unet_like_model``.

Source: pyliverlesionseg 0.3, ``architectures/unet_generalized.py`` (Apache-2.0, KU Leuven),
with the arguments ``unet_liver_predict`` and ``unet_lesion_predict`` pass in
``cnn_liver_lesion_seg_CT_MR_functions.py``.  The graph is the Keras one, layer for layer:

- max pooling by the subsample factor, then per convolution: parameter-free instance norm
  ``(x - mean) / (std + 1e-7)`` over the whole patch (Keras' ``K.epsilon()``), leaky ReLU
  0.01, ``Conv3D`` (the first convolution of the first pathway sees the raw input);
- on the way up: an average pool that realigns odd/even positions, the left path cropped
  symmetrically and concatenated *before* the upsampled path, the same norm/act/conv;
- upsampling 'copy' (repeat) or 'linear' (repeat then a stride-1 average pool);
- residual blocks crop the block input and project it with a 1x1x1 convolution when the
  channel counts differ;
- a final norm, leaky ReLU and 1x1x1 convolution with a sigmoid.

Because the instance norm takes its statistics over the whole patch, each network runs on
exactly the input size it was built for.  Arrays are ``(N, C, X, Y, Z)`` with X, Y, Z the
network's own RAS voxel axes (Keras ``(N, X, Y, Z, C)``).  Importing this module imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-7  # keras.backend.epsilon()
NEG_SLOPE = 0.01  # LeakyReLU(alpha=0.01) for activation='lrelu'


@dataclass(frozen=True)
class UNetConfig:
    subsample: tuple  # subsample_factors_per_pathway
    kernels: tuple  # kernel_sizes_per_pathway
    features: tuple  # number_features_per_pathway
    padding: str
    upsampling: str
    residual: bool
    input_size: tuple
    output_size: tuple


_KERNELS = [
    [[(3, 3, 1), (3, 3, 3)], [(3, 3, 3), (3, 3, 1)]],
    [[(3, 3, 1), (3, 3, 3)], [(3, 3, 3), (3, 3, 1)]],
    [[(3, 3, 1), (3, 3, 3)], [(3, 3, 3), (3, 3, 1)]],
]
_FEATURES = ([[20, 40], [40, 20]], [[40, 80], [80, 40]], [[80, 160], [160, 80]], [[160, 160], []])

# unet_liver_predict: segment_size [163, 136, 136], padding 'same', upsampling 'linear'
LIVER = UNetConfig(
    subsample=((1, 1, 1), (3, 3, 3), (9, 9, 9), (27, 27, 27)),
    kernels=tuple(_KERNELS + [[[(3, 3, 3), (3, 3, 3)], []]]),
    features=_FEATURES,
    padding="same",
    upsampling="linear",
    residual=False,
    input_size=(189, 162, 162),
    output_size=(163, 136, 136),
)
# unet_lesion_predict: segment_size [92, 84, 42], padding 'valid', upsampling 'copy', residual
LESION = UNetConfig(
    subsample=((1, 1, 1), (2, 2, 2), (4, 4, 4), (8, 8, 8)),
    kernels=tuple(_KERNELS + [[[(3, 3, 1), (3, 3, 3)], []]]),
    features=_FEATURES,
    padding="valid",
    upsampling="copy",
    residual=True,
    input_size=(180, 172, 86),
    output_size=(92, 84, 42),
)


def alignment_positions(cfg: UNetConfig) -> tuple[list, list]:
    """``path_left_output_positions`` / ``path_right_input_positions`` of the Keras builder
    (transcribed): the parity bookkeeping that sizes the realigning average pools."""
    sub = [tuple(s) for s in cfg.subsample]
    kernels = [[[], []]] + [list(k) for k in cfg.kernels]
    left, right = [], []
    prev_s = np.ones(3)
    prev_pos = np.zeros(3)
    for s_f_p_p, k_s_p_p in zip([(1, 1, 1)] + sub, kernels):
        s_f = np.array(s_f_p_p) // prev_s
        prev_s = np.array(s_f_p_p)
        prev_pos = np.abs(prev_pos - (1 - (np.array(s_f_p_p) * (s_f - 1) + 1) % 2))
        for k_s in k_s_p_p[0]:
            prev_pos = np.abs(prev_pos - (1 - (np.array(s_f_p_p) * (np.array(k_s) - 1) + 1) % 2))
        left.append(prev_pos)
    for i, (s_f_p_p, k_s_p_p) in reversed(list(enumerate(zip([(1, 1, 1), (1, 1, 1)] + sub[:-1], kernels)))):
        right.append(prev_pos)
        prev_pos = left[i]
        for k_s in k_s_p_p[1]:
            prev_pos = np.abs(prev_pos - (1 - (np.array(s_f_p_p) * (np.array(k_s) - 1) + 1) % 2))
    right.reverse()
    return left, right


def instance_norm_(x: torch.Tensor) -> torch.Tensor:
    """Keras' Lambda ``(x - mean) / (std + eps)`` over the spatial axes, in place."""
    var, mean = torch.var_mean(x, dim=(2, 3, 4), keepdim=True, correction=0)
    return x.sub_(mean).div_(var.sqrt_().add_(EPS))


def _staged_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean over the spatial axes as three short sums, one axis at a time, each scaled on
    its own (a multiply between the sums keeps OpenVINO from merging them back into one)."""
    for axis in (4, 3, 2):
        x = x.sum(axis, keepdim=True) * (1.0 / x.shape[axis])
    return x


def instance_norm_staged(x: torch.Tensor) -> torch.Tensor:
    """:func:`instance_norm_` out of place, for conversion to OpenVINO: its CPU plugin fuses
    the usual pattern into one MVN whose float32 sums over a whole patch (2.6 million voxels
    a channel) lose about 1e-3 of the normalised value (2.9e-2 at 34 standard deviations on
    a real tile, against 3.6e-6 in torch), which the network amplified to 0.43 in probability;
    three short sums per statistic, centred before the variance, come within 3.2e-5
    (``benchmarks/bench_runtime.py``)."""
    y = x - _staged_mean(x)
    return y / (_staged_mean(y * y).sqrt() + EPS)


class PassStopped(Exception):
    """A forward pass stopped between two convolutions by :meth:`ConvMonitor.stop`."""


class ConvMonitor:
    """Progress of one forward pass: the share of its convolutions' multiply-adds done.

    Written by the thread running the pass, read by another (numbers and a flag: no lock
    needed); :meth:`stop` makes the pass raise :class:`PassStopped` before its next
    convolution.  The multiply-adds stand for the time (the convolutions are nearly all of
    a pass's work).  One convolution can be half of a pass (the liver network's first
    full-resolution convolution of its way up), so inside the running one the share is
    estimated from the pass's rate so far (multiply-adds per second; ``rate_hint``, e.g.
    the last pass's, before there is one), never past 95 % of that convolution.
    """

    def __init__(self, total_macs: int = 1, rate_hint: float | None = None):
        self.total = max(int(total_macs), 1)  # the network's sum of ``conv_macs``
        self.done = 0
        self.rate_hint = rate_hint
        self._running = 0  # multiply-adds of the convolution running now
        self._t0 = self._t_conv = None
        self._stop = False

    @property
    def rate(self) -> float | None:
        """Multiply-adds per second over the convolutions done so far in this pass."""
        if self._t0 is None or self._t_conv is None or self._t_conv <= self._t0 or self.done <= 0:
            return None
        return self.done / (self._t_conv - self._t0)

    @property
    def fraction(self) -> float:
        import time

        done = self.done
        rate = self.rate or self.rate_hint
        if self._running and rate and self._t_conv is not None:
            done += min(rate * (time.perf_counter() - self._t_conv), 0.95 * self._running)
        return min(done / self.total, 1.0)

    def stop(self) -> None:
        self._stop = True

    @property
    def stop_requested(self) -> bool:
        return self._stop

    def reached(self, macs_done: int, macs_next: int = 0) -> None:
        """Called before each convolution: ``macs_done`` are done, ``macs_next`` start now."""
        import time

        if self._stop:
            raise PassStopped("forward pass stopped")
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = now
        self.done, self._running, self._t_conv = int(macs_done), int(macs_next), now

    def finished(self) -> None:
        self.done, self._running = self.total, 0


def _crop_to(x: torch.Tensor, shape) -> torch.Tensor:
    """Keras ``Cropping3D(int((l - r) / 2))`` on both sides of each spatial axis."""
    sl = [slice(None), slice(None)]
    for have, want in zip(x.shape[2:], shape):
        c = int((have - want) / 2)
        sl.append(slice(c, have - c))
    return x[tuple(sl)]


def _keras_same_pad(k) -> tuple:
    return tuple((kk - 1) // 2 for kk in k)


class UNetLike(nn.Module):
    """One of the two networks; ``forward`` takes ``(N, 1, *cfg.input_size)``."""

    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.cfg = cfg
        self.convs = nn.ModuleList()  # in Keras creation order: convs[i] is conv3d_{i+1}
        #: multiply-adds of each convolution on the network's input size (for progress)
        self.conv_macs: list[int] = []
        self._monitor: ConvMonitor | None = None
        #: out-of-place graph for tracing (:meth:`exportable`): staged norm, no split blocks
        self._export = False
        #: multiply-adds per second of the last monitored pass (the next one's first estimate)
        self.last_rate: float | None = None
        self._left_pos, self._right_pos = alignment_positions(cfg)
        with torch.device("meta"):
            self._building = True
            out = self._graph(torch.empty((1, 1, *cfg.input_size)))
            self._building = False
        if tuple(out.shape[2:]) != tuple(cfg.output_size):
            raise AssertionError(f"network output {tuple(out.shape[2:])} != {cfg.output_size}")
        self.to_empty(device="cpu")

    # -- building blocks -------------------------------------------------------------
    def _conv(self, x: torch.Tensor, kernel, n_out: int) -> torch.Tensor:
        if self._building:
            self.convs.append(nn.Conv3d(x.shape[1], n_out, tuple(kernel)))
        conv = self.convs[self._next]
        self._tick()
        pad = _keras_same_pad(kernel) if self.cfg.padding == "same" else 0
        y = F.conv3d(x, conv.weight, conv.bias, padding=pad)
        if self._building:
            self.conv_macs.append(int(y.numel()) * int(np.prod(conv.weight.shape[1:])))
        return y

    def _tick(self) -> None:
        """Before convolution ``_next``: credit the ones before it, stop if asked to."""
        if self._monitor is not None and not self._building:
            self._monitor.reached(sum(self.conv_macs[: self._next]), self.conv_macs[self._next])
        self._next += 1

    def _norm_act(self, x: torch.Tensor) -> torch.Tensor:
        if self._building:
            return x
        if self._export:
            return F.leaky_relu(instance_norm_staged(x), NEG_SLOPE)
        return F.leaky_relu_(instance_norm_(x), NEG_SLOPE)

    def _block(self, path, kernels, features, first_plain=False):
        shortcut = path
        for j, (k, n) in enumerate(zip(kernels, features)):
            if not (first_plain and j == 0):
                path = self._norm_act(path if j > 0 or not self.cfg.residual else path.clone())
            path = self._conv(path, k, n)
            if j == len(kernels) - 1 and self.cfg.residual:
                shortcut = _crop_to(shortcut, path.shape[2:])
                if shortcut.shape[1] != path.shape[1]:
                    shortcut = self._conv(shortcut, (1, 1, 1), path.shape[1])
                path = path + shortcut
        return path

    def _block_split(self, parts: list, kernels, features):
        """``_block(torch.cat(parts, 1))`` without the concatenated copy (non-residual
        blocks): the norm and activation act per channel, so each part is normalised on
        its own and the first convolution is the sum of one convolution per part (its
        weights split along the input channels).  Saves the largest tensor of the liver
        network (80 channels at full resolution, 1.6 GB)."""
        conv = self.convs[self._next]
        self._tick()
        pad = _keras_same_pad(kernels[0]) if self.cfg.padding == "same" else 0
        out, c0 = None, 0
        for idx in range(len(parts)):
            part = parts[idx].contiguous()
            parts[idx] = None  # the caller holds no other reference: the uncropped part goes
            part = F.leaky_relu_(instance_norm_(part), NEG_SLOPE)
            y = F.conv3d(part, conv.weight[:, c0 : c0 + part.shape[1]], None, padding=pad)
            c0 += part.shape[1]
            part = None
            out = y if out is None else out.add_(y)
            y = None
        path = out.add_(conv.bias.view(1, -1, 1, 1, 1))
        for k, n in zip(kernels[1:], features[1:]):
            path = self._conv(self._norm_act(path), k, n)
        return path

    # -- the graph ---------------------------------------------------------------------
    def _graph(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        self._next = 0
        sub = [(1, 1, 1)] + [tuple(s) for s in cfg.subsample]
        kernels = [[[], []]] + [list(k) for k in cfg.kernels]
        features = [[[], []]] + [list(f) for f in cfg.features]
        n_pathways = len(cfg.subsample)
        path = x
        left_outputs = []
        prev = np.ones(3, dtype=int)
        for i in range(len(sub)):
            s_f = np.array(sub[i]) // prev
            prev = np.array(sub[i])
            if (s_f > 1).any():
                path = F.max_pool3d(path, tuple(int(s) for s in s_f))
            if i > 0:
                path = self._block(path, kernels[i][0], features[i][0], first_plain=(i == 1))
            left_outputs.append(path)
        sub_r = [(1, 1, 1), (1, 1, 1)] + [tuple(s) for s in cfg.subsample[:-1]]
        prev = np.array(cfg.subsample[-1])
        for i in reversed(range(len(sub_r))):
            pool = np.abs(self._left_pos[i] - self._right_pos[i]) + 1
            if (pool > 1).any():
                path = F.avg_pool3d(path, tuple(int(p) for p in pool), stride=1)
            if i > 0:
                if i < n_pathways and not (cfg.residual or self._building or self._export):
                    parts = [_crop_to(left_outputs[i], path.shape[2:]), path]
                    left_outputs[i] = path = None
                    path = self._block_split(parts, kernels[i][1], features[i][1])
                else:
                    if i < n_pathways:
                        left = _crop_to(left_outputs[i], path.shape[2:])
                        path = torch.cat([left, path], dim=1)
                        left = None
                    left_outputs[i] = None
                    path = self._block(path, kernels[i][1], features[i][1])
            s_f = prev // np.array(sub_r[i])
            prev = np.array(sub_r[i])
            if (s_f > 1).any():
                size = tuple(int(s) for s in s_f)
                path = F.interpolate(path, scale_factor=size, mode="nearest")
                if cfg.upsampling == "linear":
                    path = F.avg_pool3d(path, size, stride=1)
        path = self._norm_act(path)
        path = self._conv(path, (1, 1, 1), 1)
        return torch.sigmoid(path)

    def forward(self, x: torch.Tensor, monitor: ConvMonitor | None = None) -> torch.Tensor:
        """The network on ``x``; ``monitor`` (optional) counts the convolutions as they start
        and can stop the pass between two of them (:meth:`ConvMonitor.stop`)."""
        self._monitor = monitor
        try:
            out = self._graph(x)
        finally:
            self._monitor = None
        if monitor is not None:
            if monitor.rate:
                self.last_rate = monitor.rate
            monitor.finished()
        return out

    def exportable(self) -> UNetLike:
        """This network (weights shared) with the graph meant for tracing to another runtime:
        out of place, the norm of :func:`instance_norm_staged`, no split blocks.  The same
        function to 1e-5; for one input shape only (crops and pools are sized in Python)."""
        import copy

        twin = copy.copy(self)  # shallow: the same parameters
        twin._export = True
        return twin

    def load_keras(self, arrays: dict) -> None:
        """Load ``conv3d_N.kernel/bias`` (Keras layout) in creation order, checking shapes."""
        n_file = len([k for k in arrays if k.endswith(".kernel")])
        if n_file != len(self.convs):
            raise ValueError(f"weight file has {n_file} convolutions, the network {len(self.convs)}")
        with torch.no_grad():
            for i, conv in enumerate(self.convs):
                kernel = arrays[f"conv3d_{i + 1}.kernel"]
                w = torch.from_numpy(np.ascontiguousarray(kernel.transpose(4, 3, 0, 1, 2)))
                if tuple(w.shape) != tuple(conv.weight.shape):
                    raise ValueError(f"conv3d_{i + 1}: kernel {kernel.shape} does not fit {tuple(conv.weight.shape)}")
                conv.weight.copy_(w)
                conv.bias.copy_(torch.from_numpy(arrays[f"conv3d_{i + 1}.bias"]))
        self.eval()


def build(model: str) -> UNetLike:
    """The network ``model`` ('liver' or 'lesion') with its converted weights loaded."""
    from .weights import load_weights

    arrays, _meta = load_weights(model)
    net = UNetLike(LIVER if model == "liver" else LESION)
    net.load_keras(arrays)
    return net
