"""Every module of the package has a name of its own, and none is longer than the guide allows."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "daemon"
#: The style guide's "about 400 lines"; a module past this is split by job.
MAX_LINES = 410


def test_no_two_modules_share_a_name():
    """A name says which file is meant: no two modules (package faces aside) share one."""
    names = Counter(p.name for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")
    assert [] == sorted(name for name, count in names.items() if count > 1)


def test_no_module_is_over_about_400_lines():
    """Modules stay small enough to read in one sitting."""
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert {} == long
