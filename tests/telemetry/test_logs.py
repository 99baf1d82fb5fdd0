"""daemon.telemetry.logs: JSON on non-terminals, context ids, stdlib routing and redaction."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from daemon.telemetry import logs


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Every test leaves structlog and the root logger as it found them."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    logs.reset()
    root.setLevel(level)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)


@pytest.fixture(name="out")
def _out() -> io.StringIO:
    stream = io.StringIO()
    logs.configure("info", stream=stream)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_on_non_terminal(out):
    """A non-terminal stream gets one JSON object per line with level and UTC timestamp."""
    structlog.get_logger("t").info("sync.pass_finished", source="bynder", written=3)
    [line] = lines(out)
    assert "sync.pass_finished" == line["event"]
    assert "info" == line["level"]
    assert 3 == line["written"]
    assert str(line["timestamp"]).endswith("Z")


def test_console_lines_on_terminal():
    """A terminal gets a readable console line, not JSON."""
    stream = Terminal()
    logs.configure("info", stream=stream)
    structlog.get_logger("t").info("sync.pass_finished", source="bynder")
    text = stream.getvalue()
    assert "sync.pass_finished" in text
    assert "bynder" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_default_stream_is_stdout(capsys):
    """Without a stream, lines go to stdout (JSON, since pytest's capture is no terminal)."""
    logs.configure("info")
    structlog.get_logger("t").warning("server.started", port=9100)
    captured = capsys.readouterr()
    assert "server.started" == json.loads(captured.out)["event"]
    assert "" == captured.err


def test_level_filters_debug(out):
    """At info, debug lines are dropped."""
    structlog.get_logger("t").debug("noise")
    structlog.get_logger("t").info("signal")
    assert ["signal"] == [line["event"] for line in lines(out)]


def test_unknown_level_is_refused():
    """A misspelt level is an error naming it."""
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        logs.configure("loud", stream=io.StringIO())


def test_job_and_batch_ids_on_every_line(out):
    """Lines inside a job carry source and run id, lines inside a batch also the batch id."""
    log = structlog.get_logger("t")
    with logs.bind_job("bynder", "run1"):
        log.info("sync.pass_started")
        with logs.bind_batch(7):
            log.info("sync.batch_pushed")
        log.info("sync.pass_finished")
    log.info("after")
    got = [(x["event"], x.get("source"), x.get("run_id"), x.get("batch_id")) for x in lines(out)]
    expected = [
        ("sync.pass_started", "bynder", "run1", None),
        ("sync.batch_pushed", "bynder", "run1", 7),
        ("sync.pass_finished", "bynder", "run1", None),
        ("after", None, None, None),
    ]
    assert expected == got


def test_context_cleared_per_job(out):
    """A value leaked from an earlier job (or bound outside) is gone when a new job starts."""
    structlog.contextvars.bind_contextvars(batch_id=99, stale="yes")
    with logs.bind_job("celum", "run2"):
        structlog.get_logger("t").info("sync.pass_started")
    [line] = lines(out)
    assert "celum" == line["source"]
    assert "batch_id" not in line
    assert "stale" not in line


def test_clear_drops_context(out):
    """clear() drops every bound value."""
    structlog.contextvars.bind_contextvars(source="x")
    logs.clear()
    structlog.get_logger("t").info("webhook.received")
    assert "source" not in lines(out)[0]


def test_stdlib_loggers_routed_as_json(out):
    """Third-party stdlib records come out as JSON with logger name, level and context."""
    with logs.bind_job("bynder", "run3"):
        logging.getLogger("apscheduler.scheduler").warning("Run time of job %r", "sync-bynder")
    [line] = lines(out)
    assert "Run time of job 'sync-bynder'" == line["event"]
    assert "apscheduler.scheduler" == line["logger"]
    assert "warning" == line["level"]
    assert "run3" == line["run_id"]


def test_stdlib_exception_is_rendered(out):
    """A stdlib record with exc_info carries the formatted traceback."""
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("alembic.runtime").exception("migration failed")
    [line] = lines(out)
    assert "error" == line["level"]
    assert "RuntimeError: boom" in str(line["exception"])


def test_noisy_loggers_held_back(out):
    """httpx INFO (full URLs) and SQLAlchemy engine INFO (SQL) are dropped; warnings pass."""
    logging.getLogger("httpx").info("HTTP Request: GET https://pim/api?x=1")
    logging.getLogger("sqlalchemy.engine.Engine").info("SELECT 1")
    logging.getLogger("uvicorn.access").info("GET /metrics 200")
    logging.getLogger("httpx").warning("pool exhausted")
    assert ["pool exhausted"] == [line["event"] for line in lines(out)]


def test_debug_level_keeps_httpx_at_warning():
    """Even at debug, httpx stays at WARNING, since it logs raw URLs."""
    stream = io.StringIO()
    logs.configure("debug", stream=stream)
    logging.getLogger("httpx").info("HTTP Request: GET https://pim/api")
    logging.getLogger("apscheduler").debug("Looking for jobs to run")
    assert ["Looking for jobs to run"] == [line["event"] for line in lines(stream)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET https://bob:hunter2@dam.example/x", "GET https://bob:***@dam.example/x"),
        ("postgresql://app:pw@db:5432/damsync", "postgresql://app:***@db:5432/damsync"),
        ("Authorization: Bearer eyJhbGciOi.abc.def", "Authorization: Bearer ***"),
        ("header Basic Ym9iOmh1bnRlcjI=", "header Basic ***"),
        ("/v4/media?access_token=abc&page=2", "/v4/media?access_token=***&page=2"),
        ("client_secret=s3cr3t password=pw", "client_secret=*** password=***"),
        ('{"password": "pw", "username": "bob"}', '{"password": "***", "username": "bob"}'),
        ("X-Api-Key: k123", "X-Api-Key: ***"),
        ("nothing to hide here", "nothing to hide here"),
    ],
)
def test_redact_text(text, expected):
    """Credentials inside free text are masked, the rest is kept."""
    assert expected == logs.redact_text(text)


def test_secret_keys_and_nested_values_redacted(out):
    """Values of secret-named keys are masked at any depth, and so are credentials in strings."""
    structlog.get_logger("t").info(
        "pim.connect",
        password="hunter2",
        api_key="k",
        headers={"Authorization": "Bearer abc", "Accept": "application/json"},
        url="https://bob:pw@pim.example/api",
        attempts=[{"token": "t1"}],
    )
    [line] = lines(out)
    raw = out.getvalue()
    for secret in ("hunter2", "Bearer abc", "bob:pw", "t1"):
        assert secret not in raw
    assert "***" == line["password"]
    assert {"Authorization": "***", "Accept": "application/json"} == line["headers"]
    assert "https://bob:***@pim.example/api" == line["url"]


def test_exception_text_redacted(out):
    """A traceback whose message holds a credential is masked before rendering."""
    log = structlog.get_logger("t")
    try:
        raise ConnectionError("cannot reach postgresql://app:pw123@db/damsync")
    except ConnectionError:
        log.exception("store.connect_failed")
    assert "pw123" not in out.getvalue()
    assert "postgresql://app:***@db/damsync" in str(lines(out)[0]["exception"])


def test_stdlib_message_redacted(out):
    """A third-party message carrying a credential is masked too."""
    logging.getLogger("sqlalchemy.pool").warning("lost postgresql://app:pw123@db/x")
    assert "pw123" not in out.getvalue()


def test_console_redacts_too():
    """The console renderer gets masked values as well."""
    stream = Terminal()
    logs.configure("info", stream=stream)
    structlog.get_logger("t").info("pim.connect", token="abc123")
    assert "abc123" not in stream.getvalue()


def test_capture_logs_still_works_after_configure():
    """structlog.testing.capture_logs sees our events (loggers are not cached for good)."""
    logs.configure("info", stream=io.StringIO())
    log = structlog.get_logger("t")
    with structlog.testing.capture_logs() as captured:
        log.info("sync.pass_finished", source="s")
    assert [{"event": "sync.pass_finished", "source": "s", "log_level": "info"}] == captured


def test_new_run_id_is_short_and_unique():
    """Run ids are 12 hex digits and differ between calls."""
    a, b = logs.new_run_id(), logs.new_run_id()
    assert 12 == len(a)
    assert a != b


@pytest.mark.parametrize("level", ["info", "debug"])
def test_library_chatter_shows_only_at_debug(level):
    """Alembic's and APScheduler's INFO lines, and restated warnings, are debug lines."""
    stream = io.StringIO()
    logs.configure(level, json=True, stream=stream)
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    logging.getLogger("apscheduler.executors.default").warning(
        "Execution of job skipped: maximum number of running instances reached (1)"
    )
    logging.getLogger("uvicorn.error").info("Uvicorn running on http://127.0.0.1:8080")
    seen = [(line["level"], str(line["event"])[:12]) for line in lines(stream)]
    expected = (
        [("debug", "Context impl"), ("debug", "Execution of"), ("debug", "Uvicorn runn")]
        if level == "debug"
        else []
    )
    assert expected == seen


def test_times_are_logged_as_iso_utc_not_reprs():
    """A datetime field is rendered as ISO 8601 UTC, in JSON and on a console alike."""
    from datetime import UTC, datetime, timedelta, timezone

    stream = io.StringIO()
    logs.configure("info", json=True, stream=stream)
    when = datetime(2026, 12, 7, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    structlog.get_logger("t").info(
        "sync.window", since=when, until=datetime(2026, 1, 1, tzinfo=UTC)
    )
    [line] = lines(stream)
    assert ("2026-12-07T09:00:00Z", "2026-01-01T00:00:00Z") == (line["since"], line["until"])
