"""Relative request URLs merged onto the base once: the URL httpx itself would request."""

from __future__ import annotations

import httpx
import pytest

from daemon.upstream.targets import MAX_TARGETS, RequestTargets


@pytest.mark.parametrize("base", ["http://pim.test", "https://dam.test:8443/api/v2/"])
@pytest.mark.parametrize(
    "url",
    ["/assets", "/a/b c/é?q=1", "/x/%2F/y", "/", "https://cdn.test/f?sig=1", "//cdn.test/f", "rel"],
)
@pytest.mark.parametrize("params", [None, {"page": "2"}])
def test_the_request_url_is_the_one_httpx_builds(base, url, params):
    client = httpx.AsyncClient(base_url=base)
    targets = RequestTargets(client)
    expected = client.build_request("GET", url, params=params).url
    for _ in range(2):  # merged, then from the cache
        assert expected == client.build_request("GET", targets(url), params=params).url


def test_absolute_urls_are_not_kept():
    client = httpx.AsyncClient(base_url="http://pim.test")
    targets = RequestTargets(client)
    assert "https://cdn.test/f" == targets("https://cdn.test/f")
    assert "//cdn.test/f" == targets("//cdn.test/f")


def test_a_new_base_url_is_followed():
    client = httpx.AsyncClient(base_url="http://one.test")
    targets = RequestTargets(client)
    assert "one.test" == targets("/x").host  # type: ignore[union-attr]
    client.base_url = httpx.URL("http://two.test")
    assert "two.test" == targets("/x").host  # type: ignore[union-attr]


def test_the_cache_is_bounded():
    client = httpx.AsyncClient(base_url="http://pim.test")
    targets = RequestTargets(client)
    for i in range(MAX_TARGETS + 10):
        assert f"/assets/{i}" == targets(f"/assets/{i}").path  # type: ignore[union-attr]
    assert MAX_TARGETS == len(targets._merged)


def test_an_invalid_url_raises_as_httpx_does():
    client = httpx.AsyncClient(base_url="http://pim.test")
    with pytest.raises(httpx.InvalidURL):
        RequestTargets(client)("/a\tb")
