"""
``damsync structure plan|apply|export``: asset families, attributes and options as code.

Exit codes fit CI. ``plan``: 0 the PIM matches the file, 2 changes pending, 1 an error (a change
the API cannot make, an invalid file or configuration, the PIM unreachable or refusing).
``apply`` and ``export``: 0 done, 1 an error. A command-line usage error exits 1 as well, so
that a CI job never reads a typo as "changes pending".
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from daemon.cli.common import file_option
from daemon.cli.output import echo_json, format_option, one_line
from daemon.core.errors import ConfigError, SyncError

if TYPE_CHECKING:
    from daemon.engine.structure_apply import StructurePim
    from daemon.engine.structure_plan import StructurePlan, StructureStep
    from daemon.pim.structure_records import StructureFamily
    from daemon.settings.root import Settings

T = TypeVar("T")
SYMBOL = {"create": "+", "update": "~"}
DONE = {"create": "created", "update": "updated"}


class CiUsageError(click.UsageError):
    """A usage error that exits 1: for ``plan``, 2 means "changes pending"."""

    exit_code = 1


class CiCommand(click.Command):
    """A command whose usage errors exit 1 (click's default is 2)."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise CiUsageError(exc.format_message(), exc.ctx) from None


class CiGroup(click.Group):
    """A group whose unknown-command errors exit 1, as its commands' usage errors do."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            raise CiUsageError(exc.format_message(), exc.ctx) from None


def _fail(message: str) -> None:
    click.echo(f"damsync: {message}", err=True)
    sys.exit(1)


def _settings(config_path: str) -> Settings:
    from daemon.cli.startup import loading

    try:
        with loading():
            from daemon.settings.root import load_settings

            settings = load_settings(config_path, dict(os.environ))
    except ConfigError as exc:
        _fail(f"invalid configuration {config_path}:\n{exc}")
    from daemon.telemetry import logs

    # Log lines go to stderr: stdout carries the plan, its JSON or the exported file.
    json = {"auto": None, "json": True, "console": False}[settings.log_format]
    logs.configure(settings.log_level, json=json, stream=sys.stderr)
    return settings


def _desired(structure_path: str) -> tuple[StructureFamily, ...]:
    from daemon.service.structure_options import desired_families
    from daemon.settings.structure_file import load_structure

    try:
        return desired_families(load_structure(structure_path))
    except ConfigError as exc:
        _fail(f"invalid structure file {structure_path}:\n{exc}")
        raise  # unreachable: _fail exits


def _run(
    settings: Settings, pim_name: str | None, work: Callable[[StructurePim], Awaitable[T]]
) -> T:
    from daemon.service.structure_options import structure_client
    from daemon.settings.connections import pick_pim

    try:
        _, connection = pick_pim(settings.pim_connections(), pim_name)
    except ConfigError as exc:
        _fail(f"--pim: {exc}")
        raise  # unreachable: _fail exits

    async def main() -> T:
        async with structure_client(connection) as pim:
            return await work(pim)

    try:
        return asyncio.run(main())
    except SyncError as exc:
        _fail(f"pim: {one_line(exc)}")
        raise  # unreachable: _fail exits


_structure_option = file_option(
    "--structure",
    "structure_path",
    "DAMSYNC_STRUCTURE",
    "The structure file (TOML; env DAMSYNC_STRUCTURE).",
)
#: ``--config`` read for its PIM connection only.
_config_option = file_option(
    "--config",
    "config_path",
    "DAMSYNC_CONFIG",
    "The TOML configuration file, for its PIM connection (env DAMSYNC_CONFIG).",
)


def _pim_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--pim",
        "pim_name",
        default=None,
        help="The PIM: a [pims.<name>] table, or default ([pim]); needed only when several "
        "are configured and none is default.",
    )(func)


@click.group(cls=CiGroup)
def structure() -> None:
    """Asset families, attributes and options as code: plan, apply, export."""


def _plan_json(plan: StructurePlan) -> dict[str, Any]:
    return {
        "steps": [
            {
                "action": s.action,
                "kind": s.kind,
                "target": s.target,
                "family": s.family,
                "attribute": s.attribute,
                "option": s.option,
                "changes": list(s.changes),
                "body": s.body,
            }
            for s in plan.steps
        ],
        "forbidden": [
            {
                "family": f.family,
                "attribute": f.attribute,
                "property": f.key,
                "live": f.live,
                "desired": f.desired,
                "message": f.message,
                "manual_step": f.manual_step,
            }
            for f in plan.forbidden
        ],
        "kept": [
            {"target": k.target, "family": k.family, "attribute": k.attribute, "option": k.option}
            for k in plan.kept
        ],
        "exit_code": plan.exit_code,
    }


def _step_line(step: StructureStep) -> str:
    detail = f": {', '.join(step.changes)}" if step.changes and step.changes != ("new",) else ""
    if step.kind == "attribute" and step.action == "create":
        detail = f" ({step.body.get('type')})"
    return f"{step.target}{detail}"


def _echo_plan(plan: StructurePlan) -> None:
    for step in plan.steps:
        click.echo(f"{SYMBOL[step.action]} {step.action} {_step_line(step)}")
    for change in plan.forbidden:
        click.echo(f"error: {change.message}")
        click.echo(f"  manual step: {change.manual_step}")
    for kept in plan.kept:
        click.echo(f"= keep {kept.target} (in the PIM, not in the file; never deleted)")
    creates = sum(s.action == "create" for s in plan.steps)
    updates = len(plan.steps) - creates
    if not plan.steps and not plan.forbidden:
        click.echo("No changes: the PIM matches the structure file.")
        return
    click.echo(
        f"Plan: {creates} to create, {updates} to update, "
        f"{len(plan.forbidden)} the API cannot make."
    )


@structure.command("plan", cls=CiCommand)
@_structure_option
@_config_option
@_pim_option
@format_option
def structure_plan(structure_path: str, config_path: str, pim_name: str | None, fmt: str) -> None:
    """Print what `apply` would change in the PIM (exit 0 none, 2 pending, 1 error)."""
    from daemon.engine.structure_apply import plan_against

    desired = _desired(structure_path)
    settings = _settings(config_path)
    plan = _run(settings, pim_name, lambda pim: plan_against(pim, desired))
    if fmt == "json":
        echo_json(_plan_json(plan))
    else:
        _echo_plan(plan)
    sys.exit(plan.exit_code)


@structure.command("apply", cls=CiCommand)
@_structure_option
@_config_option
@_pim_option
def structure_apply(structure_path: str, config_path: str, pim_name: str | None) -> None:
    """Create and update families, attributes and options as the file says, in order; never
    delete. Refuses (exit 1, nothing written) when the plan holds a change the API cannot
    make. Applying twice changes nothing the second time."""
    from daemon.engine.structure_apply import StructureStepError, apply_steps, plan_against

    desired = _desired(structure_path)
    settings = _settings(config_path)

    def done(step: StructureStep) -> None:
        click.echo(f"{DONE[step.action]} {_step_line(step)}")

    async def work(pim: StructurePim) -> StructurePlan:
        plan = await plan_against(pim, desired)
        if not plan.forbidden:
            await apply_steps(pim, plan.steps, done)
        return plan

    try:
        plan = _run(settings, pim_name, work)
    except StructureStepError as exc:
        _fail(
            f"{exc.step.target}: the PIM refused it: {one_line(exc.cause)} "
            f"({exc.done} step(s) applied before it; `apply` again goes on from there)"
        )
        return
    if plan.forbidden:
        _echo_plan(plan)
        _fail("nothing applied: the plan holds changes the API cannot make")
    if plan.steps:
        click.echo(f"Applied {len(plan.steps)} step(s).")
    else:
        click.echo("Nothing to apply: the PIM matches the structure file.")


@structure.command("export", cls=CiCommand)
@_config_option
@_pim_option
@click.option("--family", "families", multiple=True, help="Only this family (repeatable).")
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Write the file here (default: stdout)."
)
def structure_export(
    config_path: str, pim_name: str | None, families: tuple[str, ...], out: str | None
) -> None:
    """Write the live families as a structure file that `plan` reads back with no change."""
    from daemon.engine.structure_apply import export_live
    from daemon.service.structure_options import structure_file_of, toml_text

    settings = _settings(config_path)
    try:
        live = _run(settings, pim_name, lambda pim: export_live(pim, families))
    except LookupError as exc:
        _fail(str(exc))
        return
    try:
        model, skipped = structure_file_of(live)
    except ConfigError as exc:
        _fail(f"the PIM's structure does not pass the structure file's checks:\n{exc}")
        return
    for line in skipped:
        click.echo(f"warning: {line}", err=True)
    text = toml_text(
        model,
        header=f"damsync structure file: {len(model.families)} asset family(ies) "
        "exported from the PIM\nPlan it: damsync structure plan "
        "--structure FILE --config damsync.toml",
    )
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror}")
    click.echo(f"wrote {len(model.families)} family(ies) to {out}", err=True)


__all__ = ["structure"]
