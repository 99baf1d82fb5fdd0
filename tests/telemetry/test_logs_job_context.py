"""``bind_job``'s extra context (the source's ``pim``): on every line of the job, gone after it."""

from __future__ import annotations

import io
import json

import structlog

from daemon.telemetry import logs

from .test_logs import _out, _restore_logging

__all__ = ["_out", "_restore_logging"]  # fixtures registered by import


def test_a_jobs_extra_context_is_on_its_lines_and_cleared_after(out: io.StringIO):
    log = structlog.get_logger("t")
    structlog.contextvars.bind_contextvars(pim="stale")
    with logs.bind_job("bynder", "run1", pim="eu"):
        log.info("sync.pass_started")
        with logs.bind_batch(1):
            log.info("sync.batch_pushed")
    log.info("after")
    got = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    assert [("bynder", "eu"), ("bynder", "eu"), (None, None)] == [
        (x.get("source"), x.get("pim")) for x in got
    ]
