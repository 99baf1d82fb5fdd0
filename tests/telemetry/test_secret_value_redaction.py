"""
Redaction knows the configured secret values: a message that echoes a password in prose (no
``password=`` pattern to catch) is masked in log lines and in the error text the engine stores.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from daemon.core import secret_values
from daemon.core.errors import PimAuthError, SourceAssetError
from daemon.engine.outcomes import ERROR_TEXT_LIMIT, error_text, failure_of
from daemon.telemetry import logs

PASSWORD = "Tr0ub4dor&3 horse"
TOKEN = "dam-token-0123456789"


@pytest.fixture(autouse=True)
def _known_secrets() -> Iterator[None]:
    saved = secret_values.known()
    secret_values.forget_all()
    secret_values.remember([PASSWORD, TOKEN, "demo", None, ""])
    yield
    secret_values.forget_all()
    secret_values.remember(saved)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    logs.reset()
    root.setLevel(level)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)


@pytest.mark.parametrize(
    "text",
    [
        f"No user found for the given username and password {PASSWORD}",
        f"login failed: '{PASSWORD}' is wrong",
        f'{{"message": "bad grant", "echo": "{PASSWORD}"}}',
        "json-escaped: " + json.dumps(PASSWORD),
        "url-encoded: pw=Tr0ub4dor%263%20horse and Tr0ub4dor%263+horse",
        f"token {TOKEN} revoked",
    ],
)
def test_configured_values_are_masked_wherever_they_are(text):
    masked = logs.redact_text(text)
    assert "Tr0ub4dor" not in masked and TOKEN not in masked
    assert logs.MASK in masked


def test_short_values_are_not_masked_by_value():
    """``demo`` is the example's password and its source's name: masking it would blind logs."""
    assert "source demo: failed" == logs.redact_text("source demo: failed")
    assert "demo" not in secret_values.known()


def test_the_patterns_still_apply():
    assert "password=***" == logs.redact_text("password=demo")


def test_a_log_line_never_shows_an_echoed_password():
    """The processor every line passes masks values and tracebacks alike."""
    stream = io.StringIO()
    logs.configure("info", stream=stream)
    log = structlog.get_logger("t")
    log.error("pim.token_refused", reason=f"wrong password {PASSWORD}")
    try:
        raise PimAuthError(f"user admin, password {PASSWORD}", endpoint="/token")
    except PimAuthError:
        log.exception("sync.pass_crashed")
    logging.getLogger("httpx").warning("echo %s", PASSWORD)
    text = stream.getvalue()
    assert "Tr0ub4dor" not in text
    assert text.count(logs.MASK) >= 3


def test_error_text_is_redacted_before_it_is_cut():
    """A cut first could leave the start of a secret unmasked in the stored text."""
    error = PimAuthError("x" * (ERROR_TEXT_LIMIT - 30) + f" password {PASSWORD}")
    text = error_text(error)
    assert "Tr0ub4" not in text
    assert len(text) <= ERROR_TEXT_LIMIT


def test_error_text_with_type_is_what_a_failed_pass_stores():
    error = PimAuthError(f"No user found for password {PASSWORD}", endpoint="/api/oauth/v1/token")
    assert "PimAuthError: /api/oauth/v1/token: No user found for password ***" == error_text(
        error, with_type=True
    )


def test_failure_rows_carry_redacted_detail():
    error = SourceAssetError(
        asset_id="a1", field="binary_url", path="binary", reason=f"auth {TOKEN} refused"
    )
    row = failure_of("a1", "media", error, None)
    assert TOKEN not in row.detail and "asset 'a1'" in row.detail


def test_a_secret_that_is_also_a_word_masks_itself_not_the_keys_naming_it():
    """Values are masked as whole tokens: ``secret`` leaves ``client_secret=`` readable, and the
    key's own value is still masked by the pattern rules, matched on the original text."""
    secret_values.remember(["secret"])
    assert "client_secret=*** password=***" == logs.redact_text("client_secret=s3 password=pw")
    assert "the *** is out" == logs.redact_text("the secret is out")
    assert "***=***" == logs.redact_text("secret=s3")


def test_a_value_cut_short_by_a_pattern_is_still_masked_whole():
    """``key=value`` stops at ``&``; the configured value is masked past it too."""
    secret_values.remember(["hunter2&more"])
    assert "password=*** ok" == logs.redact_text("password=hunter2&more ok")
