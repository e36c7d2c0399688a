"""Write docs/api.md from the public docstrings: `python tools/gen_api_docs.py [--check]`.

With --check, exit 1 when docs/api.md is not what the docstrings give (the tests run this).
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

import parity

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"
HEADER = """# API reference

Generated from the docstrings by `python tools/gen_api_docs.py`; do not edit by hand.
Every initializer works in place on dense float16, bfloat16, float32 and float64 tensors, CPU or
CUDA, non-contiguous views and `nn.Parameter`s, runs under `no_grad`, and returns the tensor.
"""
SECTIONS = {
    "Variance scaling (the Keras named initializers)": [
        "variance_scaling_", "glorot_uniform_", "glorot_normal_", "glorot_untruncated_normal_",
        "he_uniform_", "he_normal_", "he_untruncated_normal_", "lecun_uniform_", "lecun_normal_",
        "lecun_untruncated_normal_",
    ],
    "Keras's other initializers": [
        "random_normal_", "random_uniform_", "truncated_normal_", "orthogonal_", "identity_",
        "stft_", "constant_", "zeros_", "ones_",
    ],
    "Identifiers, fans and targets": ["get", "describe", "compute_fans", "keras_shape"],
    "Whole models": ["keras_init_", "keras_hyperparameters_", "keras_init_plan"],
    "Checking your own code": ["check"],
}  # fmt: skip
ALIASES = "`glorot_truncated_normal_`, `he_truncated_normal_` and `lecun_truncated_normal_` are "
ALIASES += "the same functions as `glorot_normal_`, `he_normal_` and `lecun_normal_`.\n"


def signature(obj: object) -> str:
    """The signature with annotations as written (not quoted, as inspect prints them)."""
    sig = inspect.signature(obj)
    parts, star_done = [], False
    for param in sig.parameters.values():
        if param.kind is param.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        text = param.name
        if param.annotation is not param.empty:
            text += f": {param.annotation}"
        if param.default is not param.empty:
            text += f" = {param.default!r}"
        parts.append(text)
    returns = f" -> {sig.return_annotation}" if sig.return_annotation is not sig.empty else ""
    return f"({', '.join(parts)}){returns}".replace("torch.Tensor", "Tensor")


def render() -> str:
    parts = [HEADER]
    for title, names in SECTIONS.items():
        present = [name for name in names if hasattr(parity, name)]
        if not present:
            continue
        parts.append(f"\n## {title}\n")
        if "glorot_normal_" in present:
            parts.append(ALIASES)
        for name in present:
            obj = getattr(parity, name)
            doc = inspect.cleandoc(obj.__doc__ or "")
            parts.append(f"\n### `{name}{signature(obj)}`\n\n```text\n{doc}\n```\n")
    return "".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if docs/api.md is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is stale: run python tools/gen_api_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
