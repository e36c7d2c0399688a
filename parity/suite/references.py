"""Reference samples: Keras initializers on TensorFlow (live), tf-keras, and recorded files.

A *source* turns ``(identifier, keras_shape, dtype)`` into a :class:`~parity.suite.stats.Summary`
of ``n`` values drawn by calling the real Keras initializer on the Keras-layout shape over and
over with fresh seeds, binned on the case's grid.  Shapes too small to reach ``n`` are called at
most ``max_calls`` times; the summary's ``n`` says how many values were actually drawn.

Recorded files (``python -m parity record``) hold, per reference, exactly what the statistics
need (grid counts, moment sums, support count, n) plus the standard grids they were binned on,
so ``python -m parity --reference FILE`` replays them where TensorFlow cannot be installed.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import math
import os
import platform
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from parity.samplers import Orthogonal
from parity.suite.stats import CHUNK_VALUES, GridCache, Reducer, Summary, Target

FORMAT_VERSION = 1


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def reference_key(identifier: Any, keras_shape: tuple[int, ...], dtype: torch.dtype) -> str:
    """The name of one reference sample in a record: identifier, Keras shape and dtype."""
    return json.dumps([identifier, list(keras_shape), dtype_name(dtype)], sort_keys=True)


def grid_digest(target: Target) -> str:
    return hashlib.sha1(np.ascontiguousarray(target.grid).tobytes()).hexdigest()[:16]


class Source(Protocol):
    """Something that draws reference samples."""

    name: str

    def summary(
        self,
        identifier: Any,
        keras_shape: tuple[int, ...],
        target: Target,
        n: int,
        *,
        seed: int,
        max_calls: int,
    ) -> Summary: ...


def _calls(n: int, keras_shape: tuple[int, ...], max_calls: int) -> int:
    return max(1, min(math.ceil(n / max(1, math.prod(keras_shape))), max_calls))


def _reduce(
    draw: Callable[[int], np.ndarray],
    keras_shape: tuple[int, ...],
    target: Target,
    calls: int,
    orthogonal: Orthogonal | None,
) -> Summary:
    """Call ``draw(k)`` (``k`` initializer calls, flat float32/64 values) until ``calls``; the
    time inside ``draw`` is the summary's ``sampling_seconds``."""
    numel = math.prod(keras_shape)
    per_chunk = max(1, CHUNK_VALUES // max(1, numel))
    reducer = Reducer(target, "cpu")
    done, sampling = 0, 0.0
    while done < calls:
        k = min(per_chunk, calls - done)
        start = time.perf_counter()
        drawn = draw(k)
        sampling += time.perf_counter() - start
        values = torch.from_numpy(np.ascontiguousarray(drawn))
        if orthogonal is not None:
            reducer.add_orthogonality(
                values.view(k, orthogonal.rows, orthogonal.cols), orthogonal.gain
            )
        reducer.add(values, calls=k)
        done += k
    return reducer.summary(sampling_seconds=sampling)


def _keras_orthogonal(identifier: Any, keras_shape: tuple[int, ...]) -> Orthogonal | None:
    from parity import describe

    target = describe(identifier, keras_shape, layout="keras")
    return target if isinstance(target, Orthogonal) else None


class KerasSource:
    """Keras 3 initializers on the installed backend (TensorFlow by default).

    Each reference builds the initializer with a ``keras.random.SeedGenerator`` as its seed, so
    every call draws new values, exactly as a model building many layers does.  On TensorFlow
    the calls run inside one ``tf.function`` loop (the same kernels as eager calls, and the
    same values, without eager's ~1 ms per call).
    """

    def __init__(self) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras

        self.keras = keras
        self.backend = keras.backend.backend()
        self.name = f"keras {keras.__version__} ({self.backend})"
        if self.backend == "tensorflow":
            import tensorflow as tf

            # One tf.function per reference is the design, not an accident: keep TF quiet.
            tf.get_logger().setLevel("ERROR")
            self.name = f"keras {keras.__version__} (tensorflow {tf.__version__})"

    def versions(self) -> dict[str, str]:
        found = {"keras": self.keras.__version__, "backend": self.backend}
        if self.backend == "tensorflow":
            import tensorflow as tf

            found["tensorflow"] = tf.__version__
        return found

    def initializer(self, identifier: Any, seed: int) -> Any:
        """The Keras initializer for ``identifier`` drawing from a seed generator."""
        base = self.keras.initializers.get(copy.deepcopy(identifier))
        config = base.get_config()
        config["seed"] = self.keras.random.SeedGenerator(seed)
        return type(base).from_config(config)

    def summary(
        self,
        identifier: Any,
        keras_shape: tuple[int, ...],
        target: Target,
        n: int,
        *,
        seed: int,
        max_calls: int,
    ) -> Summary:
        init = self.initializer(identifier, seed)
        dtype = dtype_name(target.dtype)
        if self.backend == "tensorflow":
            draw = self._graph_draw(init, keras_shape, dtype)
        else:
            draw = self._eager_draw(init, keras_shape, dtype)
        calls = _calls(n, keras_shape, max_calls)
        return _reduce(draw, keras_shape, target, calls, _keras_orthogonal(identifier, keras_shape))

    def _eager_draw(self, init: Any, shape: tuple[int, ...], dtype: str) -> Callable:
        ops = self.keras.ops
        wide = "float64" if dtype == "float64" else "float32"

        def draw(k: int) -> np.ndarray:
            return np.concatenate(
                [
                    ops.convert_to_numpy(ops.cast(init(shape, dtype=dtype), wide)).ravel()
                    for _ in range(k)
                ]
            )

        return draw

    def _graph_draw(self, init: Any, shape: tuple[int, ...], dtype: str) -> Callable:
        import tensorflow as tf

        numel = math.prod(shape)
        wide = tf.float64 if dtype == "float64" else tf.float32

        @tf.function
        def loop(k: tf.Tensor) -> tf.Tensor:
            values = tf.TensorArray(wide, size=k, element_shape=[numel])

            def body(i: tf.Tensor, values: tf.TensorArray) -> tuple:
                drawn = tf.cast(tf.reshape(init(shape, dtype=dtype), [-1]), wide)
                return i + 1, values.write(i, drawn)

            _, values = tf.while_loop(lambda i, _: i < k, body, (tf.constant(0), values))
            return values.concat()

        return lambda k: loop(tf.constant(k, dtype=tf.int32)).numpy()


class TfKerasSource:
    """tf-keras (Keras 2) initializers, when ``tf_keras`` is installed: one eager call per
    seed ``seed, seed + 1, ...`` (a tf-keras initializer with a fixed seed repeats itself)."""

    def __init__(self) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tf_keras

        self.tf_keras = tf_keras
        self.name = f"tf-keras {tf_keras.__version__}"

    def versions(self) -> dict[str, str]:
        return {"tf_keras": self.tf_keras.__version__}

    def summary(
        self,
        identifier: Any,
        keras_shape: tuple[int, ...],
        target: Target,
        n: int,
        *,
        seed: int,
        max_calls: int,
    ) -> Summary:
        base = self.tf_keras.initializers.get(copy.deepcopy(identifier))
        dtype = dtype_name(target.dtype)
        wide = "float64" if dtype == "float64" else "float32"
        counter = iter(range(seed, seed + (1 << 40)))

        def draw(k: int) -> np.ndarray:
            out = []
            for _ in range(k):
                config = {**base.get_config(), "seed": next(counter) % (1 << 31)}
                values = type(base).from_config(config)(keras_shape, dtype=dtype)
                out.append(np.asarray(values, dtype=wide).ravel())
            return np.concatenate(out)

        calls = _calls(n, keras_shape, max_calls)
        return _reduce(draw, keras_shape, target, calls, _keras_orthogonal(identifier, keras_shape))


def live_sources() -> tuple[list[Source], list[str]]:
    """Every reference source importable here, and a note for each one that is not."""
    sources: list[Source] = []
    notes: list[str] = []
    for label, factory in (
        ("keras (TensorFlow backend)", KerasSource),
        ("tf-keras", TfKerasSource),
    ):
        try:
            sources.append(factory())
        except ImportError as error:
            notes.append(f"{label} not available: {error}")
    notes.append(
        "JAX: run `KERAS_BACKEND=jax python -m parity record --out jax.npz` where JAX is "
        "installed and pass --reference jax.npz"
    )
    return sources, notes


# --------------------------------------------------------------------------- records


class RecordedSource:
    """References replayed from a file written by :func:`write_record`; imports no TensorFlow."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"reference file {str(self.path)!r} does not exist")
        try:
            data = np.load(self.path, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("it is a single array, not an .npz archive")
            with data:
                self.arrays = {key: data[key] for key in data.files}
            self.meta = json.loads(str(self.arrays["meta"]))
            if not isinstance(self.meta, dict):
                raise ValueError("its meta is not a JSON object")
            format_version = self.meta.get("format")
            source, entries = self.meta["source"], self.meta["entries"]
            if not isinstance(entries, dict):
                raise ValueError("its entries are not a JSON object")
        # A damaged or foreign file can fail in any of these ways inside numpy and zipfile.
        except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
            raise ValueError(
                f"{str(self.path)!r} is not a parity reference file (write one with "
                f"`python -m parity record --out FILE`): {type(error).__name__}: {error}"
            ) from error
        if format_version != FORMAT_VERSION:
            raise ValueError(
                f"{str(self.path)!r} has reference format {format_version!r}; "
                f"this version reads format {FORMAT_VERSION}"
            )
        # The file's name too: two files recorded on the same backend are two references.
        self.name = f"{source} (recorded: {self.path.name})"
        self.entries: dict[str, dict[str, Any]] = entries

    def grids(self) -> dict[str, np.ndarray]:
        """The standard grids the references were binned on (preload a GridCache with them)."""
        return {
            key.removeprefix("grid:"): array
            for key, array in self.arrays.items()
            if key.startswith("grid:")
        }

    def versions(self) -> dict[str, str]:
        return dict(self.meta.get("versions", {}))

    def has(self, key: str) -> bool:
        return key in self.entries

    def summary(
        self,
        identifier: Any,
        keras_shape: tuple[int, ...],
        target: Target,
        n: int,
        *,
        seed: int,
        max_calls: int,
    ) -> Summary:
        key = reference_key(identifier, keras_shape, target.dtype)
        if key not in self.entries:
            raise KeyError(f"{str(self.path)!r} has no reference for {key}")
        entry = self.entries[key]
        if entry["grid"] != grid_digest(target):
            raise ValueError(
                f"{str(self.path)!r}: the reference for {key} was binned on another grid "
                "(recorded with a different target or grid size); record it again"
            )
        scalars = {k: v for k, v in entry.items() if k not in ("index", "grid")}
        return Summary(cum=np.cumsum(self.arrays[f"cells:{entry['index']}"]), **scalars)


def write_record(
    path: str | os.PathLike,
    source: Any,
    references: dict[str, tuple[Summary, Target]],
    grids: GridCache,
    settings: dict[str, Any],
) -> Path:
    """Save reference summaries (``key -> (summary, target)``) with the grids they used."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    entries: dict[str, dict[str, Any]] = {}
    for index, (key, (summary, target)) in enumerate(sorted(references.items())):
        # Per-cell counts are small numbers and compress far better than running totals.
        arrays[f"cells:{index}"] = np.diff(summary.cum, prepend=0).astype(np.int64)
        entries[key] = {"index": index, "grid": grid_digest(target), **summary.scalars()}
    for key, grid in grids.grids.items():
        arrays[f"grid:{key}"] = grid
    meta = {
        "format": FORMAT_VERSION,
        "source": source.name,
        "versions": {**source.versions(), "numpy": np.__version__, "torch": torch.__version__},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "settings": settings,
        "entries": entries,
    }
    arrays["meta"] = np.array(json.dumps(meta))
    # np.savez_compressed adds ".npz" to names without it; write where the caller asked.
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return path
