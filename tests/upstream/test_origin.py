"""The one origin check: scheme, host and port, default ports normalised; credentials obey it."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest

from daemon.core.errors import PimProtocolError
from daemon.upstream.origin import origin_of, same_origin
from daemon.upstream.policy import RequestSpec
from daemon.upstream.session import Upstream
from tests.upstream.test_session import FAST, KINDS


@pytest.mark.parametrize(
    ("base", "target", "expected"),
    [
        ("https://dam.test/api/", "/assets", True),
        ("https://dam.test/api/", "https://dam.test:443/assets", True),
        ("https://dam.test", "https://DAM.test/assets", True),
        ("http://dam.test", "http://dam.test:80/x", True),
        ("http://dam.test:8080", "http://dam.test:8080/x", True),
        ("https://dam.test", "https://dam.test:8443/x", False),
        ("https://dam.test", "http://dam.test/x", False),
        ("http://dam.test", "http://dam.test:443/x", False),
        ("http://dam.test:8080", "http://dam.test/x", False),
        ("https://dam.test", "https://cdn.dam.test/x", False),
        ("https://dam.test", "//evil.test/x", False),
    ],
)
def test_same_origin_compares_scheme_host_and_port(base, target, expected):
    """Only an equal scheme, host and (normalised) port is the same origin."""
    assert expected == same_origin(base, target)


@pytest.mark.parametrize(
    "target",
    [
        "/",
        "/a?b=//evil.test",
        "/\\evil.test/x",
        "/%2F%2Fevil.test",
        "/..//evil.test",
        "/@evil.test",
        "/a:b@evil.test",
        "//evil.test",
        "///evil.test",
        " //evil.test",
        "/\t//evil.test",
        "/é",
        "https://pim.test:8443/x",
        "HTTPS://PIM.test:8443/../x",
        "http://pim.test/x?y=1",
        "http://pim.test:80/x",
        "https://pim.test/x",
        "http:///x",
        "x/y",
        "",
    ],
)
@pytest.mark.parametrize("base", ["https://pim.test:8443/base/", "http://pim.test"])
def test_the_path_shortcut_agrees_with_resolving_the_url(base, target):
    """Paths and absolute URLs are judged without a join; the verdict is the join's."""
    base_url = httpx.URL(base)
    try:
        expected: object = origin_of(base_url) == origin_of(base_url.join(target))
    except httpx.InvalidURL:
        expected = httpx.InvalidURL
    if expected is httpx.InvalidURL:
        with pytest.raises(httpx.InvalidURL):
            same_origin(base, target)
    else:
        assert expected == same_origin(base, target)
        assert expected == same_origin(base_url, httpx.URL(target))


class Token:
    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": "Bearer s3cret"}

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
        return False


@pytest.mark.parametrize("url", ["http://pim.test:8443/x", "https://pim.test/x", "//other/x"])
async def test_credentials_are_never_attached_to_another_origin(url):
    """An authenticated request to another origin is refused before anything is sent."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://pim.test")
    upstream = Upstream("pim", client, KINDS, retry=FAST, auth=Token())
    spec = RequestSpec(method="GET", url=url, endpoint="/x")
    with pytest.raises(PimProtocolError) as info:
        await upstream.request(spec, lambda r: r.status_code)
    unauthenticated = RequestSpec(method="GET", url=url, endpoint="/x", authenticated=False)
    status = await upstream.request(unauthenticated, lambda r: r.status_code)
    await upstream.aclose()
    assert "refusing to send credentials to another origin" in str(info.value)
    assert (200, [False]) == (status, ["authorization" in r.headers for r in sent])


async def test_query_credentials_are_never_sent_to_another_origin():
    """A credential query parameter is refused off-origin and sent on it."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://dam.test")
    upstream = Upstream("dam", client, KINDS, retry=FAST, credential_params={"api_key"})
    key = {"api_key": "s3cret"}
    away = RequestSpec(method="GET", url="http://dam.test:81/x", endpoint="/x", params=key)
    with pytest.raises(PimProtocolError):
        await upstream.request(away, lambda r: r.status_code)
    home = RequestSpec(method="GET", url="http://dam.test:80/x", endpoint="/x", params=key)
    await upstream.request(home, lambda r: r.status_code)
    await upstream.aclose()
    assert [("dam.test", "s3cret")] == [(r.url.host, r.url.params["api_key"]) for r in sent]
