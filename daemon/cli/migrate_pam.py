"""
``damsync migrate-pam``: move legacy PAM assets (PIM <= 3.2 EE) into the Asset Manager.

Two sources: the legacy REST API of a running 2.1-3.2 EE PIM (``--from-api URL``, credentials
from the environment or options, never printed) or the PAM CSV exports plus the binaries
directory (``--from-csv DIR --files DIR``). The source is read twice, streamed: once to survey
it, once to map each asset. ``--dry-run`` prints the families, attributes and option decisions
it would create and the counts, and the product links it would write (the product collection
attributes to create, how many products / product models would get which collection); the
report (terminal table and a CSV file) lists every asset or file left out with its reason. The
progress (the state database of ``--config``, or a ``--progress`` file) lets a re-run continue
where one stopped; a terminal shows progress bars.
Exit codes: 0 done, 1 an error or a plan that cannot be applied.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from daemon.cli import migrate_pam_inputs as inputs
from daemon.cli.output import one_line
from daemon.core.errors import ConfigError, SyncError

if TYPE_CHECKING:
    from daemon.engine.pam_link_plan import LinkPlan
    from daemon.engine.pam_migrate import PamPlan
    from daemon.engine.pam_report import PamReport
    from daemon.pam import PamAsset, PamRead

#: Report lines shown on the terminal; the CSV has them all.
SHOWN_LINES = 20
CHOICE = click.Choice(["yes", "no", "auto"])
#: An input file that must exist.
INPUT_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)

F = TypeVar("F", bound=Callable[..., Any])


def _input_file_option(flag: str, help: str) -> Callable[[F], F]:
    """An option naming an :data:`INPUT_FILE` (none given: ``None``)."""
    return click.option(flag, type=INPUT_FILE, help=help)


def _auto_choice_option(flag: str, help: str) -> Callable[[F], F]:
    """A yes / no / auto option, ``auto`` by default (``help`` says what auto decides)."""
    return click.option(flag, type=CHOICE, default="auto", show_default=True, help=help)


def _fail(message: str) -> None:
    click.echo(f"damsync: {message}", err=True)
    sys.exit(1)


class _Resolver:
    """The family of an asset: its ``family`` column, else the mapping file, else the default."""

    def __init__(self, default: str | None, by_code: Mapping[str, str]) -> None:
        self.default = default
        self.by_code = by_code

    def __call__(self, asset: PamAsset) -> str | None:
        return asset.family or self.by_code.get(asset.code) or self.default


class _CsvSource:
    def __init__(self, export: Iterable[PamRead]) -> None:
        self.export = export

    async def reads(self) -> AsyncIterator[PamRead]:
        for read in self.export:
            yield read


class _ApiSource:
    def __init__(self, api: Any) -> None:
        self.api = api

    def reads(self) -> AsyncIterator[PamRead]:
        reads: AsyncIterator[PamRead] = self.api.assets()
        return reads


async def _migrate(
    params: Mapping[str, Any],
) -> tuple[PamPlan, PamReport, list[tuple[str, ...]], LinkPlan | None]:
    from daemon.cli import migrate_pam_output as out
    from daemon.cli import migrate_pam_target as target
    from daemon.cli.migrate_pam_output import ReportWriter
    from daemon.engine.pam_migrate import build_plan, map_source, survey_source
    from daemon.engine.pam_report import PamReport

    options = inputs.pam_options(params)
    strategy = options.strategy
    by_code: dict[str, str] = {}
    if params["family_map"] is not None:
        by_code = inputs.pairs(params["family_map"], "--family-map", ("code", "family"))
    default = params["family"] if strategy != "family-by-family" else None
    resolve = _Resolver(default, by_code)
    existing = inputs.modelled(params["structure"]) if strategy == "manual" else ()
    links = inputs.collection_links(params["collection_map"])
    async with AsyncExitStack() as stack:
        if params["api_url"]:
            api = await stack.enter_async_context(_ApiReader(params))
            source: Any = _ApiSource(api)
            labels = {c.code: dict(c.labels) async for c in api.categories()}
        else:
            source, labels, api = _CsvSource(_export(params)), {}, None
        counted = out.Counted(source)
        survey = await survey_source(counted, resolve, options)
        total = counted.count  # the progress bar's total
        plan = build_plan(survey, options, existing=existing, category_labels=labels, links=links)
        if plan.problems:
            return plan, PamReport(), [], None
        link_plan: LinkPlan | None = None
        with ReportWriter(params["report_path"], SHOWN_LINES) as writer:
            if params["dry_run"]:
                report = await map_source(source, plan, resolve, writer.write)
                link_plan = await target.dry_run_links(params, plan, api)
            else:
                out.print_plan(plan)
                with inputs.open_progress(params) as progress, out.progress_view(total) as view:
                    counts = await target.write(
                        params,
                        plan,
                        view.source(source),
                        resolve,
                        view.fetcher(target.fetcher(params, api)),
                        writer.write_line,
                        progress=progress,
                        api=api,
                        uploaded=view.uploaded,
                    )
                label = inputs.progress_label(params)
                target.print_counts(counts, params["report_path"], label)
                report = PamReport()
    return plan, report, writer.shown, link_plan


def _export(params: Mapping[str, Any]) -> Iterable[PamRead]:
    from daemon.pam import BinariesDir, CsvExport

    directory: Path = params["csv_dir"]
    files = BinariesDir(params["files_dir"]) if params["files_dir"] else None
    return CsvExport(
        directory / params["assets_file"],
        directory / params["variations_file"],
        files,
        delimiter=params["delimiter"],
    )


class _ApiReader:
    """The legacy API reader with its password grant; closes its client."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        missing = [n for n in ("client_id", "secret", "username", "password") if not params[n]]
        if missing:
            names = ", ".join(f"--{n.replace('_', '-')}" for n in missing)
            raise ConfigError(
                f"needs {names} (or DAMSYNC_PAM_* in the environment)", key="--from-api"
            )
        self.params = params
        self.upstream: Any = None

    async def __aenter__(self) -> Any:
        from daemon.pam import PamApi, pam_upstream
        from daemon.pim.tokens import PasswordAuth

        p = self.params
        auth = PasswordAuth(
            client_id=p["client_id"],
            secret=p["secret"],
            username=p["username"],
            password=p["password"],
        )
        self.upstream = pam_upstream(p["api_url"], auth, transport=p.get("pam_transport"))
        auth.bind(self.upstream)
        return PamApi(self.upstream)

    async def __aexit__(self, *exc: object) -> None:
        await self.upstream.aclose()


@click.command("migrate-pam")
@click.option("--from-api", "api_url", metavar="URL", help="The legacy PIM (2.1-3.2 EE) to read.")
@click.option(
    "--client-id", envvar="DAMSYNC_PAM_CLIENT_ID", help="API client id (env DAMSYNC_PAM_CLIENT_ID)."
)
@click.option(
    "--secret", envvar="DAMSYNC_PAM_SECRET", help="API secret (prefer env DAMSYNC_PAM_SECRET)."
)
@click.option(
    "--username", envvar="DAMSYNC_PAM_USERNAME", help="API user (env DAMSYNC_PAM_USERNAME)."
)
@click.option(
    "--password",
    envvar="DAMSYNC_PAM_PASSWORD",
    help="API password (prefer env DAMSYNC_PAM_PASSWORD).",
)
@click.option(
    "--from-csv",
    "csv_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of the PAM CSV exports.",
)
@click.option(
    "--assets-file", default="assets.csv", show_default=True, help="The asset export in --from-csv."
)
@click.option(
    "--variations-file",
    default="variations.csv",
    show_default=True,
    help="The variation export in --from-csv.",
)
@click.option(
    "--files",
    "files_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The PAM asset storage root (binaries by file key).",
)
@click.option("--delimiter", default=None, help="CSV delimiter (default: guessed from the header).")
@click.option(
    "--strategy",
    type=click.Choice(["automatic", "family-by-family", "manual"]),
    default="automatic",
    show_default=True,
)
@click.option(
    "--family",
    default="pam_assets",
    show_default=True,
    help="The family of automatic (and the default of manual).",
)
@_input_file_option("--family-map", "CSV code;family (family-by-family, manual).")
@_input_file_option("--collection-map", "CSV attribute;family: product collection attributes.")
@_input_file_option(
    "--products-csv",
    "Product export CSV (identifier + PAM collection columns): its links are written.",
)
@_input_file_option(
    "--product-models-csv",
    "Product model export CSV (code + PAM collection columns): its links are written.",
)
@_input_file_option("--attribute-map", "JSON role -> attribute code (CsvToAsset --mapping keys).")
@_input_file_option("--structure", "manual: the modelled families (structure file).")
@click.option(
    "--reference-type",
    type=click.Choice(["auto", "localizable", "non-localizable", "both"]),
    default="auto",
    show_default=True,
)
@click.option(
    "--variations/--no-variations",
    default=True,
    show_default=True,
    help="Migrate the variation files.",
)
@_auto_choice_option("--categories", "auto: when more than 1 category.")
@_auto_choice_option("--end-of-use", "auto: when any asset has one.")
@_auto_choice_option("--tag-options", "no: tags as text.")
@_auto_choice_option("--category-options", "no: categories as text.")
@click.option(
    "--media-type",
    type=click.Choice(["auto", "image", "pdf", "other"]),
    default="auto",
    show_default=True,
)
@click.option("--skip-without-media", is_flag=True, help="Skip assets with no reference file.")
@click.option(
    "--write-structure",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the families as a structure file (for structure apply).",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="pam-migration-report.csv",
    show_default=True,
)
@click.option("--dry-run", is_flag=True, help="Plan and report; write nothing to the PIM.")
@click.option(
    "--in-place",
    is_flag=True,
    help="Same upgraded 4.0 database: keep the PAM file keys, upload nothing.",
)
@click.option(
    "--config",
    "config_path",
    envvar="DAMSYNC_CONFIG",
    type=INPUT_FILE,
    help="The configuration naming the target PIM (env DAMSYNC_CONFIG).",
)
@click.option(
    "--pim", "pim_name", default=None, help="Which configured PIM (default: the only one)."
)
@click.option(
    "--progress",
    "progress_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep the progress in this SQLite file instead of the state database of --config.",
)
@click.option(
    "--spool",
    "spool_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Where API downloads wait for their upload (default: the temp directory).",
)
def migrate_pam(**params: Any) -> None:
    """Move legacy PAM assets (PIM <= 3.2 EE) into the Asset Manager."""
    from daemon.cli import migrate_pam_output as out

    context = click.get_current_context()
    # Tests mount the simulator in-process: CliRunner.invoke(..., obj={"pam_transport": t}).
    if isinstance(context.obj, dict):
        params.update((k, v) for k, v in context.obj.items() if k.endswith("_transport"))
    if bool(params["api_url"]) == bool(params["csv_dir"]):
        _fail("give one source: --from-api URL or --from-csv DIR")
    if (
        params["csv_dir"]
        and not params["files_dir"]
        and not (params["dry_run"] or params["in_place"])
    ):
        _fail("--from-csv needs --files DIR (the binaries) unless --dry-run")
    if not params["dry_run"] and params["config_path"] is None:
        _fail("writing needs the target PIM: --config FILE (or --dry-run to plan only)")
    from daemon.telemetry import logs

    # Log lines go to stderr: stdout carries the plan and the report.
    logs.configure("info", stream=sys.stderr)
    try:
        plan, report, shown, links = asyncio.run(_migrate(params))
    except (SyncError, ConfigError) as exc:
        _fail(one_line(exc))
        return
    if params["dry_run"] or plan.problems:
        out.print_plan(plan)
    if plan.problems:
        _fail("the plan cannot be applied:\n" + "\n".join(f"  {line}" for line in plan.problems))
    if params["write_structure"]:
        out.write_structure(plan, params["write_structure"])
    if params["dry_run"]:
        out.print_report(report, params["report_path"], shown)
        out.print_link_plan(links)
    elif shown:
        out.print_lines(shown)


__all__ = ["migrate_pam"]
