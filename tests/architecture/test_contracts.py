"""The import-linter contracts in pyproject.toml hold, and a deliberate violation breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = str(Path(sys.executable).with_name("lint-imports"))


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [LINT, "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(name="tree")
def _tree(tmp_path: Path) -> Path:
    """A copy of the package and its contracts, to break on purpose."""
    shutil.copytree(
        ROOT / "daemon", tmp_path / "daemon", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_contracts_hold():
    """Every contract is kept by today's code."""
    result = _lint(ROOT)
    assert 0 == result.returncode, result.stdout[-3000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("engine/checkpoint.py", "import daemon.service.wiring", "Layers"),
        ("mapping/codes.py", "import httpx", "Mapping imports no I/O library"),
        ("core/records.py", "import daemon.mapping", "Base types import nothing"),
        ("engine/batcher.py", "import daemon.settings.root", "The engine reads no settings"),
        ("sim/pim/state.py", "import daemon.pim.urls", "share no code"),
        ("pim/urls.py", "import daemon.sim.pim.state", "share no code"),
        ("sim/dam/query.py", "import daemon.upstream.policy", "The simulators use no daemon"),
    ],
)
def test_a_deliberate_violation_breaks_its_contract(tree, module, line, contract):
    """One forbidden import, appended to a copy of the package, fails lint-imports."""
    _append(tree / "daemon" / module, line)
    result = _lint(tree)
    assert 0 != result.returncode
    broken = result.stdout.split("Broken contracts")[-1]
    assert contract in broken, result.stdout[-3000:]
