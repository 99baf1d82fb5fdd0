"""
``damsync checkpoint``: show or rewind the sources' cursors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from daemon.cli.common import config_option, known_source, load
from daemon.cli.output import echo_json, format_option, iso, operator_store


@click.group()
def checkpoint() -> None:
    """Show or rewind the sources' cursors."""


@checkpoint.command("show")
@config_option
@click.option("--source", help="Only this source.")
@format_option
def checkpoint_show(config_path: str, source: str | None, fmt: str) -> None:
    """Print each source's cursor and last window."""
    settings = load(config_path, configure_logs=False)
    known_source(settings, source)
    names = [source] if source else [entry.name for entry in settings.sources]
    rows: list[dict[str, Any]] = []
    with operator_store(settings) as store:
        for name in names:
            cp = store.load_checkpoint(name)
            rows.append(
                {
                    "source": name,
                    "cursor": {"updated_at": iso(cp.cursor.updated_at), "id": cp.cursor.id}
                    if cp is not None and cp.cursor is not None
                    else None,
                    "window": {"since": iso(cp.window.since), "until": iso(cp.window.until)}
                    if cp is not None and cp.window is not None
                    else None,
                    "epoch": cp.epoch if cp is not None else None,
                }
            )
    if fmt == "json":
        echo_json(rows)
        return
    for row in rows:
        cursor, window = row["cursor"], row["window"]
        if cursor is None:
            click.echo(f"{row['source']}: no checkpoint (the next pass reads everything)")
            continue
        span = f", window [{window['since']}, {window['until']})" if window else ""
        click.echo(
            f"{row['source']}: cursor {cursor['updated_at']} {cursor['id']!r}{span}, "
            f"epoch {row['epoch']}"
        )


@checkpoint.command("rewind")
@config_option
@click.option("--source", required=True, help="The source to rewind.")
@click.option(
    "--since",
    required=True,
    help="ISO-8601 time (UTC if no offset), or 'beginning' to read everything again.",
)
def checkpoint_rewind(config_path: str, source: str, since: str) -> None:
    """Move a source's cursor back: the next pass re-reads from there (unchanged assets are
    skipped by content hash, so a rewind costs reads, not writes)."""
    settings = load(config_path, configure_logs=False)
    known_source(settings, source)
    when: datetime | None = None
    if since != "beginning":
        try:
            when = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError as exc:
            raise click.BadParameter(f"not an ISO-8601 time: {since!r}") from exc
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    with operator_store(settings) as store:
        cp = store.rewind(source, when)
    click.echo(
        f"{source}: rewound to {iso(cp.cursor.updated_at) if cp.cursor else 'the beginning'}"
    )


__all__ = ["checkpoint"]
