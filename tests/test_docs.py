"""The API reference is generated from the docstrings and must not go stale."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_api_reference_is_current():
    # The checkout first on the path: the tests also run from a checkout with no install.
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_api_docs.py"), "--check"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
    )
    assert result.returncode == 0, result.stderr


def test_every_public_name_is_in_the_api_reference():
    import parity

    reference = (ROOT / "docs" / "api.md").read_text()
    missing = [
        name
        for name in parity.__all__
        if f"`{name}" not in reference
        and f"`class {name}" not in reference
        and f"`{name}." not in reference
        and f"(`parity.{name}`)" not in reference
    ]
    assert not missing, missing


def test_every_public_function_has_formula_args_and_example():
    import parity

    for name in parity.__all__:
        obj = getattr(parity, name)
        if callable(obj) and name.endswith("_"):
            doc = obj.__doc__ or ""
            assert "Example" in doc and ">>>" in doc, name
            assert "Args:" in doc or name in ("zeros_", "ones_"), name


def test_import_does_not_pull_optional_dependencies():
    code = (
        "import sys, parity; "
        "heavy = ('tensorflow', 'keras', 'scipy', 'matplotlib', 'rich'); "
        "bad = [m for m in heavy if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_ruff_clean():
    # ruff comes with the test extras; a machine that runs the tests from a bare checkout
    # (the GPU checks) may not have it.
    pytest.importorskip("ruff")
    ruff = [sys.executable, "-m", "ruff"]
    check = subprocess.run([*ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run([*ruff, "format", "--check", str(ROOT)], capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
