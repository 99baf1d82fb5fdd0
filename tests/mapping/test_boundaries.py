"""Mapping stays pure: allowed imports only, and a pinned content-hash format."""

from __future__ import annotations

import ast
import hashlib
import subprocess
import sys
from pathlib import Path

from daemon.core.records import BinaryRef, PimAsset, PimValue
from daemon.mapping import MediaRequest, content_hash

PACKAGE = Path(__file__).resolve().parents[2] / "daemon" / "mapping"
# orjson: an encoder (the content hash's canonical text, faster), no I/O; core reads with it too.
ALLOWED = ("daemon.core", "daemon.mapping", "pydantic", "orjson")
IO_LIBRARIES = ("httpx", "httpcore", "tenacity", "aiolimiter", "sqlalchemy", "structlog")
STDLIB = {
    "__future__", "ast", "collections", "dataclasses", "datetime", "decimal", "fnmatch",
    "hashlib", "json", "math", "operator", "re", "typing", "unicodedata", "urllib",
}  # fmt: skip


def test_mapping_imports_only_the_standard_library_pydantic_models_errors_and_config():
    """No I/O layer (httpx, sqlalchemy, pim, sources, store, sync, runtime) leaks into mapping."""
    found = set()
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    bad = {m for m in found if m.split(".")[0] not in STDLIB and not m.startswith(ALLOWED)}
    assert set() == bad


def test_importing_mapping_loads_no_io_library_even_indirectly():
    """A chain of imports (mapping -> base types -> ...) pulls no I/O library into the process."""
    code = (
        "import sys, daemon.mapping; "
        f"print(','.join(m for m in {IO_LIBRARIES!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "" == out.stdout.strip()


def test_content_hash_format_is_pinned():
    """The canonical form is fixed: changing it would make every stored hash stale at once."""
    request = MediaRequest("media", None, None, BinaryRef(checksum="abc"))
    asset = PimAsset(
        "packshots",
        "a1",
        {
            "title": (PimValue("Schuh", "de_DE"), PimValue("Shoe", "en_US")),
            "tags": (PimValue(["sale", "summer"]),),
            "media": (PimValue(request),),
        },
    )
    canonical = (
        '["packshots","a1",[["media","","",{"checksum":"abc"}],["tags","","",["sale","summer"]],'
        '["title","de_DE","","Schuh"],["title","en_US","","Shoe"]]]'
    )
    expected = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert expected == content_hash(asset, {request: {"checksum": "abc"}})
