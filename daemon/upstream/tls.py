"""
TLS of one upstream: which CAs to trust, which client certificate to show, or no verification.

``ca_file`` replaces the default CAs (as ``curl --cacert`` does): a company proxy re-signing
traffic or a private DAM with its own CA. ``client_cert``/``client_key`` present a client
certificate to DAMs that require mutual TLS. ``verify_tls = false`` is allowed for tests and
emergencies, and logged once per client built, naming the upstream, so it is never silent.
Bad files are a :class:`~daemon.core.errors.ConfigError` naming the key, raised at start.

Upstreams with the default trust share one SSL context per process (:func:`default_context`):
loading the CA bundle costs tens of milliseconds of CPU per context, and every client used to
load its own (an SSL context is safe to share between connections and clients).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from functools import cache

import httpx
import structlog

from daemon.core.errors import ConfigError
from daemon.settings.connections import HttpSettings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """The TLS keys of an ``[*.http]`` section; paths are not secrets, keys' contents are."""

    verify: bool = True
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None

    @classmethod
    def from_settings(cls, settings: HttpSettings) -> TlsOptions:
        """The TLS keys of ``settings``."""

        def text(value: object) -> str | None:
            return None if value is None else str(value)

        return cls(
            verify=settings.verify_tls,
            ca_file=text(settings.ca_file),
            client_cert=text(settings.client_cert),
            client_key=text(settings.client_key),
        )


def _no_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
    return b""


@cache
def default_context() -> ssl.SSLContext:
    """
    httpx's default verification (certifi's CAs, hostnames checked), built once per process.

    Callers must not change it: a context of their own (a CA file, a client certificate)
    starts from a fresh one.
    """
    return httpx.create_ssl_context()


def tls_verify(options: TlsOptions, *, upstream: str, key: str) -> ssl.SSLContext:
    """
    What to pass as ``httpx.AsyncClient(verify=...)`` for ``options``.

    Args:
        options: The upstream's TLS options.
        upstream: ``pim`` or the source name, for the warning.
        key: The configuration section (``pim.http``, ``sources.<name>.http``), for errors.

    Returns:
        The process's shared :func:`default_context` when nothing is configured, else an SSL
        context of the upstream's own.

    Raises:
        ConfigError: a file cannot be read or is not what its key says (names the key).
    """
    if not options.verify:
        log.warning(
            "http.tls_verification_disabled",
            upstream=upstream,
            key=f"{key}.verify_tls",
            hint="certificates are not checked: anyone on the path can read and change traffic",
        )
    if options.verify and options.ca_file is None and options.client_cert is None:
        return default_context()
    if not options.verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif options.ca_file is not None:
        try:
            context = ssl.create_default_context(cafile=options.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot use the CA bundle: {exc}", key=f"{key}.ca_file") from None
    else:
        context = httpx.create_ssl_context()
    if options.client_cert is not None:
        try:
            context.load_cert_chain(options.client_cert, options.client_key, password=_no_password)
        except (OSError, ssl.SSLError) as exc:
            which = "client_key" if options.client_key is not None else "client_cert"
            raise ConfigError(
                f"cannot use the client certificate and key (an encrypted key is not "
                f"supported): {exc}",
                key=f"{key}.{which}",
            ) from None
    return context


__all__ = ["TlsOptions", "default_context", "tls_verify"]
