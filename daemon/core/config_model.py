"""
The base of every configuration model: strict pydantic models, secrets resolved
from ``{env = ...}`` / ``{file = ...}``, and one-line validation messages.

Pydantic only: no project import, so mapping rules and every settings section can build on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SecretStr,
    ValidationError,
    ValidationInfo,
)

#: The longest duration any key accepts, in seconds (366 days): beyond any useful value, and far
#: inside what date arithmetic holds (``1e12`` or ``inf`` would crash a pass later).
MAX_SECONDS = 366 * 86400

#: A ``{file = ...}`` secret is read up to this size: a token or a password, never ``/dev/zero``.
MAX_SECRET_BYTES = 64 * 1024

ENV_PREFIX = "DAMSYNC_"


def _resolve_secret(value: Any, info: ValidationInfo) -> Any:
    """Turn ``{env = "X"}`` / ``{file = "p"}`` into the secret's text; leave strings alone."""
    if isinstance(value, Mapping):
        environ: Mapping[str, str] = (info.context or {}).get("environ", {})
        if set(value) == {"env"}:
            name = str(value["env"])
            if name not in environ:
                raise ValueError(f"environment variable {name} is not set")
            return environ[name]
        if set(value) == {"file"}:
            path = Path(str(value["file"]))
            try:
                with path.open("rb") as handle:
                    raw = handle.read(MAX_SECRET_BYTES + 1)
            except OSError as exc:
                raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
            if len(raw) > MAX_SECRET_BYTES:
                raise ValueError(f"secret file {path} is too large (over {MAX_SECRET_BYTES} bytes)")
            try:
                return raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise ValueError(f"secret file {path}: can't decode it as UTF-8 text") from None
        raise ValueError('a secret is a string, {env = "NAME"} or {file = "/path"}')
    return value


Secret = Annotated[SecretStr, BeforeValidator(_resolve_secret)]


class Model(BaseModel):
    """Base of every config section: frozen, unknown keys refused (typos are errors)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def format_validation_error(error: ValidationError) -> str:
    """One line per problem, each naming its dotted config path."""
    lines = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"]) or "<root>"
        lines.append(f"{path}: {item['msg']}")
    return "\n".join(lines)


__all__ = ["MAX_SECONDS", "Model", "Secret", "format_validation_error"]
