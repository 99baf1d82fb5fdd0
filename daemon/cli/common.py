"""
Shared bits of the commands: the ``--config`` (and other file) options, loading settings, logging
setup.

Every command module imports this one, ``--help`` included: the settings (pydantic, the mapping
rules) and the logging setup (structlog) are imported when a command loads them, not here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from daemon.core.errors import ConfigError

if TYPE_CHECKING:
    from daemon.settings.root import Settings

F = TypeVar("F", bound=Callable[..., Any])


def file_option(flag: str, dest: str, envvar: str, help_text: str) -> Callable[[F], F]:
    """A required ``flag FILE`` option (env ``envvar``), passed to the command as ``dest``."""
    return click.option(
        flag,
        dest,
        envvar=envvar,
        required=True,
        type=click.Path(dir_okay=False),
        help=help_text,
    )


def config_option(func: F) -> F:
    """``--config FILE`` (env ``DAMSYNC_CONFIG``)."""
    return file_option(
        "--config",
        "config_path",
        "DAMSYNC_CONFIG",
        "The TOML configuration file (env DAMSYNC_CONFIG).",
    )(func)


def load(config_path: str, *, configure_logs: bool = True) -> Settings:
    """Load the settings (exit 2 naming every bad key) and configure logging."""
    from daemon.cli.startup import loading

    try:
        with loading():
            from daemon.settings.root import load_settings

            settings = load_settings(config_path, dict(os.environ))
    except ConfigError as exc:
        click.echo(f"damsync: invalid configuration {config_path}:\n{exc}", err=True)
        sys.exit(2)
    if configure_logs:
        setup_logs(settings)
    return settings


def known_source(settings: Settings, name: str | None) -> None:
    """Refuse an unknown ``--source`` with one line naming the configured ones (exit 2)."""
    if name is None:
        return
    try:
        settings.source(name)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--source") from None


def setup_logs(settings: Settings, *, level: str | None = None) -> None:
    """Configure structlog from ``log_level`` and ``log_format`` (``level`` overrides)."""
    from daemon.telemetry import logs

    json = {"auto": None, "json": True, "console": False}[settings.log_format]
    logs.configure(level or settings.log_level, json=json)


__all__ = ["config_option", "file_option", "known_source", "load", "setup_logs"]
