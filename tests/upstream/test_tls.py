"""
TLS per upstream against a real loopback TLS server: a private CA, a client certificate, and
a loud warning when verification is off.

The throwaway CA and certificates are made with the ``openssl`` command line (the
``cryptography`` package is not installed in the project's environment).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from daemon.core.errors import ConfigError, SourceUnavailable
from daemon.pim import PimClient
from daemon.settings.connections import PimSettings
from daemon.sources import build_source, load_source_settings
from daemon.upstream.tls import TlsOptions, default_context, tls_verify
from tests.upstream.loopback import DATE, Loopback, json_body

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

TOKEN = "s3cret-tls-token"
LISTING: dict[str, Any] = {"items": [], "next_cursor": None}


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _ca(directory: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip


def _leaf(directory: Path, name: str, usage: str, san: str) -> None:
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    extensions = directory / f"{name}.ext"
    extensions.write_text(
        f"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        f"extendedKeyUsage={usage}\nsubjectKeyIdentifier=hash\n"
        f"authorityKeyIdentifier=keyid\n{san}"
    )
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
        cwd=directory,
    )  # fmt: skip


@pytest.fixture(name="pki", scope="module")
def _pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    _ca(directory, "ca")
    _ca(directory, "other-ca")
    _leaf(directory, "server", "serverAuth", "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _leaf(directory, "damsync-client", "clientAuth", "")
    return Pki(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "damsync-client.pem",
        client_key=directory / "damsync-client.key",
        other_ca=directory / "other-ca.pem",
    )


def server_context(pki: Pki, *, require_client: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if require_client:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca)
    return context


def table(url: str, **http: Any) -> dict[str, Any]:
    return {
        "name": "private",
        "kind": "rest",
        "http": {"retry": {"attempts": 1}, **http},
        "rest": {
            "base_url": url,
            "changes_path": "/assets",
            "items_path": "items",
            "paging": {"style": "cursor", "param": "cursor", "cursor_path": "next_cursor"},
            "auth": {"type": "bearer", "token": TOKEN},
        },
    }


async def probe(url: str, **http: Any) -> Any:
    """The DAM's clock read through a fresh source (one listing request)."""
    source = build_source("private", load_source_settings(table(url, **http)))
    try:
        return await source.server_now()
    finally:
        await source.aclose()


async def test_a_private_ca_is_trusted_only_through_ca_file(pki):
    """With ``ca_file`` the request succeeds; without it (or with another CA) it fails."""
    async with Loopback(json_body(LISTING), tls=server_context(pki)) as server:
        when = await probe(server.url, ca_file=str(pki.ca))
        with pytest.raises(SourceUnavailable) as default_cas:
            await probe(server.url)
        with pytest.raises(SourceUnavailable) as other_ca:
            await probe(server.url, ca_file=str(pki.other_ca))
    assert DATE == when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 1 == len(server.seen)
    assert "TLS failure (certificate not trusted" in str(default_cas.value)
    assert "TLS failure (certificate not trusted" in str(other_ca.value)


async def test_a_client_certificate_is_presented_for_mutual_tls(pki):
    """A server requiring a client certificate accepts the configured one, and only that."""
    tls = server_context(pki, require_client=True)
    async with Loopback(json_body(LISTING), tls=tls) as server:
        await probe(
            server.url,
            ca_file=str(pki.ca),
            client_cert=str(pki.client_cert),
            client_key=str(pki.client_key),
        )
        with pytest.raises(SourceUnavailable):
            await probe(server.url, ca_file=str(pki.ca))
    subjects = [dict(pair[0] for pair in (s.peer_cert or {})["subject"]) for s in server.seen]
    assert [{"commonName": "damsync-client"}] == subjects


async def test_turning_verification_off_warns_once_naming_the_upstream(pki):
    """``verify_tls = false`` reaches a self-signed DAM and logs one warning, without secrets."""
    async with Loopback(json_body(LISTING), tls=server_context(pki)) as server:
        with capture_logs() as logs:
            await probe(server.url, verify_tls=False)
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [("http.tls_verification_disabled", "private", "sources.private.http.verify_tls")] == [
        (e["event"], e["upstream"], e["key"]) for e in warnings
    ]
    assert TOKEN not in repr(logs)


async def test_the_pim_warns_too_when_verification_is_off():
    """The PIM client built with ``verify_tls = false`` logs the same warning naming ``pim``."""
    settings = PimSettings.model_validate(
        {"base_url": "https://pim.test", "token": "app-t0ken", "http": {"verify_tls": False}}
    )
    with capture_logs() as logs:
        client = PimClient.from_settings(settings)
    await client.aclose()
    assert [("http.tls_verification_disabled", "pim", "pim.http.verify_tls")] == [
        (e["event"], e["upstream"], e["key"]) for e in logs if e["log_level"] == "warning"
    ]
    assert "app-t0ken" not in repr(logs)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("ca_file", "sources.private.http.ca_file"),
        ("client_cert", "sources.private.http.client_cert"),
    ],
)
def test_an_unusable_pem_file_is_a_config_error_naming_the_key(tmp_path, key, expected):
    """A file that is no PEM certificate fails at start with a ConfigError naming its key."""
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate")
    settings = load_source_settings(table("https://dam.test", **{key: bogus}))
    with pytest.raises(ConfigError) as info:
        build_source("private", settings)
    assert (expected, True) == (info.value.key, "cannot use the" in str(info.value))


@pytest.mark.parametrize(
    ("http", "message"),
    [
        ({"client_key": "KEY"}, "client_key needs client_cert"),
        ({"ca_file": "CA", "verify_tls": False}, "ca_file is only used with verify_tls = true"),
        ({"ca_file": "/nonexistent/ca.pem"}, "http.ca_file: Path does not point to a file"),
    ],
)
def test_contradictory_or_missing_tls_files_are_refused_at_load(pki, http, message):
    """A key without its certificate, a CA with verification off, a missing file: ConfigError."""
    paths = {"KEY": str(pki.client_key), "CA": str(pki.ca)}
    resolved = {k: paths.get(v, v) if isinstance(v, str) else v for k, v in http.items()}
    with pytest.raises(ConfigError) as info:
        load_source_settings(table("https://dam.test", **resolved))
    assert message in str(info.value)


def test_upstreams_with_the_default_trust_share_one_context_and_others_get_their_own(pki):
    """The CA bundle is loaded once per process; a CA file or a client certificate is never
    added to that shared context."""
    shared = tls_verify(TlsOptions(), upstream="pim", key="pim.http")
    again = tls_verify(TlsOptions(), upstream="dam", key="sources.dam.http")
    own_ca = tls_verify(TlsOptions(ca_file=str(pki.ca)), upstream="dam", key="sources.dam.http")
    mutual = tls_verify(
        TlsOptions(client_cert=str(pki.client_cert), client_key=str(pki.client_key)),
        upstream="dam",
        key="sources.dam.http",
    )
    assert (shared is again, shared is default_context()) == (True, True)
    assert (own_ca is shared, mutual is shared) == (False, False)
    assert (ssl.CERT_REQUIRED, True) == (shared.verify_mode, shared.check_hostname)
    assert httpx.create_ssl_context().cert_store_stats() == shared.cert_store_stats()
