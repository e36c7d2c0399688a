"""Samples for the layer section of the parity suite: real Keras layers against keras_init_.

For each layer type :func:`parity.keras_init_` supports, :func:`layer_samples` builds the Keras
layer on the TensorFlow backend at a realistic size (those of the Keras examples and common
architectures), builds the torch
counterpart, initializes it with ``keras_init_`` and returns both weights, in Keras's layout,
pooled over repeated builds.  LSTM and GRU weights come gate block by gate block (the torch
GRU's gate blocks mapped to Keras's z, r, h), so the forget-bias block is a sample of its own.

TensorFlow and Keras are imported inside the functions that need them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from parity.modules import keras_init_

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class LayerSample:
    """Values of one Keras weight (or gate block): Keras's and keras_init_'s, flattened.

    ``name`` is ``"<Keras layer>.<weight>"``, e.g. ``"LSTM.bias[f]"``.
    """

    name: str
    torch: np.ndarray
    keras: np.ndarray


@dataclass(frozen=True)
class _Case:
    """One layer type: how to build it in Keras and in torch, and read its weights."""

    name: str
    keras: Callable[[Any], Arrays]  # keras module → freshly built weights
    torch: Callable[[], nn.Module]
    read: Callable[[Any], Arrays]  # torch module → weights in Keras's layout, same keys


def _np(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def _built(layer: Any, *shapes: tuple[int | None, ...]) -> Any:
    layer.build(*shapes)
    return layer


def _kernel_and_bias(layer: Any) -> Arrays:
    return {"kernel": _np(layer.kernel), "bias": _np(layer.bias)}


def _torch_kernel_and_bias(m: nn.Module) -> Arrays:
    weight = m.weight.permute(*range(2, m.weight.dim()), 1, 0)  # (out, in, *k) → (*k, in, out)
    return {"kernel": _np(weight), "bias": _np(m.bias)}


def _torch_depthwise(m: nn.Conv1d | nn.Conv2d) -> Arrays:
    channels, multiplier = m.in_channels, m.out_channels // m.in_channels
    weight = m.weight.view(channels, multiplier, *m.weight.shape[2:])
    return {"kernel": _np(weight.permute(*range(2, weight.dim()), 0, 1)), "bias": _np(m.bias)}


# --------------------------------------------------------------------------- recurrent layers

_KERAS_GATES = {"SimpleRNN": ("",), "LSTM": tuple("ifco"), "GRU": tuple("zrh")}
# Where each Keras gate sits in torch's stacked weights: LSTM i, f, g(=c), o; GRU r, z, n(=h).
_TORCH_ROW = {"SimpleRNN": (0,), "LSTM": (0, 1, 2, 3), "GRU": (1, 0, 2)}


def _blocks(kind: str, name: str, keras_layout: np.ndarray, torch_order: bool) -> Arrays:
    """Split a stacked (..., gates·u) Keras-layout weight into its gate blocks."""
    gates = _KERAS_GATES[kind]
    pieces = np.split(keras_layout, len(gates), axis=-1)
    rows = _TORCH_ROW[kind] if torch_order else range(len(gates))
    suffix = (lambda g: f"[{g}]") if len(gates) > 1 else (lambda g: "")
    return {f"{name}{suffix(g)}": pieces[row] for g, row in zip(gates, rows, strict=True)}


def _keras_recurrent(kind: str, layer: Any) -> Arrays:
    cell = layer.cell
    out = _blocks(kind, "kernel", _np(cell.kernel), False)
    out |= _blocks(kind, "recurrent_kernel", _np(cell.recurrent_kernel), False)
    bias = _np(cell.bias)
    if kind == "GRU":  # reset_after=True: (2, 3u), input bias and recurrent bias
        out |= _blocks(kind, "input_bias", bias[0], False)
        out |= _blocks(kind, "recurrent_bias", bias[1], False)
    else:
        out |= _blocks(kind, "bias", bias, False)
    return out


def _torch_recurrent(kind: str, m: nn.RNNBase) -> Arrays:
    out = _blocks(kind, "kernel", _np(m.weight_ih_l0.T), True)
    out |= _blocks(kind, "recurrent_kernel", _np(m.weight_hh_l0.T), True)
    if kind == "GRU":
        out |= _blocks(kind, "input_bias", _np(m.bias_ih_l0), True)
        out |= _blocks(kind, "recurrent_bias", _np(m.bias_hh_l0), True)
    else:  # torch adds its two biases where Keras has one
        out |= _blocks(kind, "bias", _np(m.bias_ih_l0 + m.bias_hh_l0), True)
    return out


# --------------------------------------------------------------------------- the cases


def _attention_keras(keras: Any) -> Arrays:
    layer = keras.layers.MultiHeadAttention(num_heads=8, key_dim=32)
    layer.build((None, 16, 256), (None, 16, 256))
    out = {}
    for sub in ("query", "key", "value", "output"):
        dense = getattr(layer, f"{sub}_dense")
        out[f"{sub}/kernel"], out[f"{sub}/bias"] = _np(dense.kernel), _np(dense.bias)
    return out


def _attention_torch(m: nn.MultiheadAttention) -> Arrays:
    heads, head_dim = m.num_heads, m.head_dim
    out = {}
    for sub, weight, bias in zip(
        ("query", "key", "value"), m.in_proj_weight.chunk(3), m.in_proj_bias.chunk(3), strict=True
    ):
        out[f"{sub}/kernel"] = _np(weight.T.reshape(-1, heads, head_dim))
        out[f"{sub}/bias"] = _np(bias.view(heads, head_dim))
    out["output/kernel"] = _np(m.out_proj.weight.T.reshape(heads, head_dim, -1))
    out["output/bias"] = _np(m.out_proj.bias)
    return out


def _norm(layer: Any, names: tuple[str, ...]) -> Arrays:
    return {name: _np(getattr(layer, name)) for name in names}


def _torch_norm(m: nn.Module, names: tuple[str, ...]) -> Arrays:
    torch_names = {
        "gamma": "weight",
        "beta": "bias",
        "scale": "weight",
        "moving_mean": "running_mean",
        "moving_variance": "running_var",
        "alpha": "weight",
    }
    return {name: _np(getattr(m, torch_names[name])) for name in names}


_BN = ("gamma", "beta", "moving_mean", "moving_variance")


def _cases() -> list[_Case]:
    """The layer types, at sizes from the Keras examples (MNIST convnet, IMDB LSTM, ...)."""
    return [
        _Case("Dense", lambda k: _kernel_and_bias(_built(k.layers.Dense(256), (None, 784))),
              lambda: nn.Linear(784, 256), _torch_kernel_and_bias),
        _Case("Conv1D",
              lambda k: _kernel_and_bias(_built(k.layers.Conv1D(128, 5), (None, 100, 64))),
              lambda: nn.Conv1d(64, 128, 5), _torch_kernel_and_bias),
        _Case("Conv2D",
              lambda k: _kernel_and_bias(_built(k.layers.Conv2D(64, 3), (None, 28, 28, 32))),
              lambda: nn.Conv2d(32, 64, 3), _torch_kernel_and_bias),
        _Case("Conv2D(groups=4)",
              lambda k: _kernel_and_bias(
                  _built(k.layers.Conv2D(64, 3, groups=4), (None, 28, 28, 64))),
              lambda: nn.Conv2d(64, 64, 3, groups=4), _torch_kernel_and_bias),
        _Case("Conv3D",
              lambda k: _kernel_and_bias(
                  _built(k.layers.Conv3D(32, 3), (None, 8, 8, 8, 16))),
              lambda: nn.Conv3d(16, 32, 3), _torch_kernel_and_bias),
        _Case("Conv2DTranspose",
              lambda k: _kernel_and_bias(
                  _built(k.layers.Conv2DTranspose(32, 3), (None, 14, 14, 64))),
              lambda: nn.ConvTranspose2d(64, 32, 3), _torch_kernel_and_bias),
        _Case("DepthwiseConv1D(depth_multiplier=2)",
              lambda k: _kernel_and_bias(_built(
                  k.layers.DepthwiseConv1D(5, depth_multiplier=2), (None, 100, 512))),
              lambda: nn.Conv1d(512, 1024, 5, groups=512), _torch_depthwise),
        _Case("DepthwiseConv2D",
              lambda k: _kernel_and_bias(
                  _built(k.layers.DepthwiseConv2D(3), (None, 14, 14, 512))),
              lambda: nn.Conv2d(512, 512, 3, groups=512), _torch_depthwise),
        _Case("DepthwiseConv2D(depth_multiplier=4)",
              lambda k: _kernel_and_bias(_built(
                  k.layers.DepthwiseConv2D(3, depth_multiplier=4), (None, 28, 28, 128))),
              lambda: nn.Conv2d(128, 512, 3, groups=128), _torch_depthwise),
        _Case("Embedding",
              lambda k: {"embeddings": _np(_built(k.layers.Embedding(10000, 64)).embeddings)},
              lambda: nn.Embedding(10000, 64), lambda m: {"embeddings": _np(m.weight)}),
        _Case("SimpleRNN",
              lambda k: _keras_recurrent(
                  "SimpleRNN", _built(k.layers.SimpleRNN(128), (None, 20, 64))),
              lambda: nn.RNN(64, 128), lambda m: _torch_recurrent("SimpleRNN", m)),
        _Case("LSTM",
              lambda k: _keras_recurrent("LSTM", _built(k.layers.LSTM(128), (None, 20, 128))),
              lambda: nn.LSTM(128, 128), lambda m: _torch_recurrent("LSTM", m)),
        _Case("GRU",
              lambda k: _keras_recurrent("GRU", _built(k.layers.GRU(128), (None, 20, 128))),
              lambda: nn.GRU(128, 128), lambda m: _torch_recurrent("GRU", m)),
        _Case("MultiHeadAttention", _attention_keras,
              lambda: nn.MultiheadAttention(256, 8), _attention_torch),
        _Case("BatchNormalization",
              lambda k: _norm(_built(k.layers.BatchNormalization(), (None, 64)), _BN),
              lambda: nn.BatchNorm1d(64), lambda m: _torch_norm(m, _BN)),
        _Case("LayerNormalization",
              lambda k: _norm(_built(k.layers.LayerNormalization(), (None, 256)),
                              ("gamma", "beta")),
              lambda: nn.LayerNorm(256), lambda m: _torch_norm(m, ("gamma", "beta"))),
        _Case("GroupNormalization",
              lambda k: _norm(_built(k.layers.GroupNormalization(8), (None, 16, 16, 64)),
                              ("gamma", "beta")),
              lambda: nn.GroupNorm(8, 64), lambda m: _torch_norm(m, ("gamma", "beta"))),
        _Case("RMSNormalization",
              lambda k: _norm(_built(k.layers.RMSNormalization(), (None, 256)), ("scale",)),
              lambda: nn.RMSNorm(256), lambda m: _torch_norm(m, ("scale",))),
        _Case("PReLU",
              lambda k: _norm(_built(k.layers.PReLU(), (None, 64)), ("alpha",)),
              lambda: nn.PReLU(64), lambda m: _torch_norm(m, ("alpha",))),
    ]  # fmt: skip


# Keras layer names layer_samples() knows, in order.
LAYER_TYPES: tuple[str, ...] = tuple(case.name for case in _cases())


def _import_keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"the layer samples need Keras on the TensorFlow backend, got {keras.backend.backend()}"
        )
    return keras


def _pool(build: Callable[[], Arrays], builds: int) -> dict[str, list[np.ndarray]]:
    pooled: dict[str, list[np.ndarray]] = {}
    for _ in range(builds):
        for name, values in build().items():
            pooled.setdefault(name, []).append(values.ravel())
    return pooled


def layer_samples(
    n_target: int,
    seed: int,
    *,
    layers: tuple[str, ...] | None = None,
    keras_init: bool = True,
    max_builds: int = 200,
) -> list[LayerSample]:
    """Keras-built and keras_init_-built values of every weight of every supported layer type.

    Each layer is built on both sides ``min(ceil(n_target / size), max_builds)`` times,
    ``size`` being the smallest of its random weights (or gate blocks); each random weight's
    values are pooled and cut to ``n_target``.  Constant weights (zeros, ones, the forget
    bias) are pooled over the same builds and kept whole, so their samples, and those of
    small weights when ``max_builds`` binds, hold fewer values (every value is a real one).

    Args:
        n_target: values wanted per side for each random weight.
        seed: seeds Keras (``keras.utils.set_random_seed``, which also seeds Python's and
            NumPy's global generators), the generator keras_init_ draws from, and torch's
            default initialization (in a forked RNG state: torch's global state is kept).
        layers: a subset of :data:`LAYER_TYPES` (default: all).
        keras_init: ``False`` leaves the torch modules at torch's own default initialization
            (the gap that ``keras_init_`` closes).
        max_builds: most builds of one layer type per side, which bounds the run time when
            ``n_target`` is large (a build of a recurrent layer takes tens of milliseconds).

    Returns:
        One :class:`LayerSample` per Keras weight or gate block, named
        ``"<layer>.<weight>"`` (e.g. ``"GRU.recurrent_kernel[z]"``).

    Example:
        >>> samples = layer_samples(20_000, seed=0, layers=("LSTM",))
        >>> [s.name for s in samples][:2]
        ['LSTM.kernel[i]', 'LSTM.kernel[f]']
    """
    for name, value in (("n_target", n_target), ("max_builds", max_builds)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    cases = _cases()
    if layers is not None:
        unknown = set(layers) - set(LAYER_TYPES)
        if unknown:
            raise ValueError(f"unknown layers {sorted(unknown)}; valid: {', '.join(LAYER_TYPES)}")
        cases = [case for case in cases if case.name in layers]
    keras = _import_keras()
    version = keras.version()  # MultiHeadAttention's fans changed in Keras 3.15
    keras.utils.set_random_seed(seed)
    generator = torch.Generator().manual_seed(seed)

    def torch_build(case: _Case) -> Arrays:
        module = case.torch()
        if keras_init:
            keras_init_(module, generator=generator, keras_version=version)
        return case.read(module)

    samples = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # torch's own init at construction, for keras_init=False
        for case in cases:
            samples += _case_samples(case, keras, torch_build, n_target, max_builds)
    return samples


def _case_samples(
    case: _Case,
    keras: Any,
    torch_build: Callable[[_Case], Arrays],
    n_target: int,
    max_builds: int,
) -> list[LayerSample]:
    """One layer type's samples: the first Keras build decides how many builds it takes."""
    samples = []
    first = case.keras(keras)
    random_sizes = [v.size for v in first.values() if np.ptp(v) > 0]
    builds = math.ceil(n_target / min(random_sizes)) if random_sizes else 1
    builds = max(1, min(builds, max_builds))
    keras_pool = _pool(lambda: case.keras(keras), builds - 1)
    torch_pool = _pool(lambda: torch_build(case), builds)
    for name, values in first.items():
        keras_values = np.concatenate([values.ravel(), *keras_pool.get(name, [])])
        torch_values = np.concatenate(torch_pool[name])
        if np.ptp(values) > 0:
            keras_values, torch_values = keras_values[:n_target], torch_values[:n_target]
        samples.append(LayerSample(f"{case.name}.{name}", torch_values, keras_values))
    return samples
