"""The house's floors and style, checked by the tools CI trusts."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


def _tool(name: str) -> str:
    exe = shutil.which(name, path=str(REPO_ROOT / ".venv" / "bin")) or shutil.which(name)
    if exe is None:
        bindir = sys.executable.rsplit("/", 1)[0]
        exe = shutil.which(name, path=bindir)
    if exe is None:
        pytest.fail(f"{name} is not installed; install the dev extras: pip install -e '.[dev]'")
    return exe


def test_lower_floors_do_not_load_qt():
    code = (
        "import sys, cnnlab.engine, cnnlab.data, cnnlab.training\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'PySide6', 'shiboken6', 'pyqtgraph'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"Qt modules loaded by the lower floors: {out.stdout.strip()}"


def test_import_linter_contracts_hold():
    out = subprocess.run([_tool("lint-imports")], cwd=REPO_ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_finds_nothing():
    out = subprocess.run([_tool("ruff"), "check", "."], cwd=REPO_ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow  # a cold cache takes mypy 10-20 s here; a warm one (.mypy_cache) about 2 s
def test_mypy_finds_no_type_errors_in_the_lower_floors(monkeypatch):
    try:
        from mypy import api
    except ImportError:
        pytest.fail("mypy is not installed; install the dev extras: pip install -e '.[dev]'")
    # The packages and the strictness come from [tool.mypy] in pyproject.toml, as for a bare `mypy`.
    monkeypatch.chdir(REPO_ROOT)
    stdout, stderr, status = api.run(["--config-file", str(REPO_ROOT / "pyproject.toml")])
    assert status == 0, stdout + stderr
    assert "Success: no issues found" in stdout, stdout + stderr
