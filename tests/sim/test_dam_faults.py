"""The DAM simulator's fault injection, run-time options, stats, helpers and CLI command."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from daemon.sim.dam.dam_app import DamSimOptions, dam_command
from tests.sim.test_dam_helpers import BEARER, make_client


async def _statuses(rng_seed: int, count: int = 40) -> list[int]:
    client, _ = make_client(DamSimOptions(assets=5, fault_rate=0.5, rng_seed=rng_seed))
    async with client:
        return [
            (await client.get("/generic/assets", headers=BEARER)).status_code for _ in range(count)
        ]


async def test_faults_are_reproducible_per_rng_seed():
    """The same rng_seed gives the same fault sequence; another seed gives another one."""
    first = await _statuses(3)
    assert first == await _statuses(3)
    assert first != await _statuses(4)
    assert {200} < set(first)


async def test_every_fault_kind_appears_and_helpers_are_never_faulted():
    """At rate 1, API calls get 500/503/429/HTML/truncated answers while /_sim/* stays clean."""
    client, _ = make_client(DamSimOptions(assets=5, fault_rate=1.0, rng_seed=1))
    kinds: set[str] = set()
    async with client:
        for _ in range(60):
            response = await client.get("/generic/assets", headers=BEARER)
            kind = str(response.status_code)
            if response.status_code == 429:
                assert response.headers["retry-after"].isdigit()
            if response.headers["content-type"].startswith("text/html"):
                kind = "html"
            if response.status_code == 200:
                with pytest.raises(json.JSONDecodeError):
                    json.loads(response.content)
                kind = "truncated"
            kinds.add(kind)
        helpers = [
            (await client.get("/_sim/stats")).status_code,
            (await client.post("/_sim/tick")).status_code,
            (await client.get("/_sim/assets")).status_code,
        ]
        stats = (await client.get("/_sim/stats")).json()
    assert {"500", "503", "429", "html", "truncated"} == kinds
    assert [200, 200, 200] == helpers
    assert 60 == sum(stats["faults"].values())


async def test_truncated_binary_declares_more_than_it_sends():
    """A truncated download keeps the full Content-Length but sends fewer bytes."""
    client, _ = make_client(DamSimOptions(assets=3))
    async with client:
        full = await client.get("/generic/files/a-000001/1", headers=BEARER)
        await client.put("/_sim/options", json={"fault_rate": 1.0, "rng_seed": 0})
        truncated = None
        for _ in range(40):
            response = await client.get("/generic/files/a-000001/1", headers=BEARER)
            if response.status_code == 200:
                truncated = response
                break
    assert truncated is not None
    assert str(len(full.content)) == truncated.headers["content-length"]
    assert len(truncated.content) < len(full.content)


async def test_options_endpoint_changes_faults_at_run_time():
    """PUT /_sim/options switches faults on and off; invalid values are refused."""
    client, _ = make_client(DamSimOptions(assets=3))
    async with client:
        on = await client.put("/_sim/options", json={"fault_rate": 1.0, "latency": 0.0})
        faulty = await client.get("/generic/assets", headers=BEARER)
        await client.put("/_sim/options", json={"fault_rate": 0.0})
        healthy = await client.get("/generic/assets", headers=BEARER)
        invalid = await client.put("/_sim/options", json={"fault_rate": 2})
        wrong_type = await client.put("/_sim/options", json={"latency": "slow"})
    assert {"latency": 0.0, "fault_rate": 1.0} == on.json()
    assert faulty.status_code != 200 or faulty.content[-1:] != b"}"
    assert 200 == healthy.status_code
    assert ("fault_rate", "latency") == (invalid.json()["param"], wrong_type.json()["param"])


async def test_stats_count_requests_by_template_and_status_and_downloads():
    """Stats key requests by method and route template, and count downloads and bytes."""
    client, _ = make_client(DamSimOptions(assets=3))
    async with client:
        await client.get("/generic/assets/a-000001", headers=BEARER)
        await client.get("/generic/assets/a-000002")
        file = await client.get("/generic/files/a-000003/1", headers=BEARER)
        stats = (await client.get("/_sim/stats")).json()
    assert {"200": 1, "401": 1} == stats["requests"]["GET /generic/assets/{id}"]
    assert {"200": 1} == stats["requests"]["GET /generic/files/{id}/{version:int}"]
    assert (1, len(file.content)) == (stats["downloads"], stats["bytes"])
    assert {"total": 3, "live": 3, "deleted": 0} == stats["assets"]


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"id": "a-999999"}, 404, "id"),
        ({"id": "a-000001", "metadata": []}, 400, "metadata"),
        ({"id": "a-000001", "deleted": "yes"}, 400, "deleted"),
        ({"id": "a-000001", "updated_at": "2027-01-01"}, 400, "updated_at"),
    ],
)
async def test_mutate_refuses_bad_input_naming_the_field(body, status, param):
    """/_sim/mutate answers a clear error naming the bad field."""
    client, _ = make_client(DamSimOptions(assets=3))
    async with client:
        response = await client.post("/_sim/mutate", json=body)
    assert (status, param) == (response.status_code, response.json()["param"])


async def test_mutate_sets_metadata_and_exact_timestamp():
    """/_sim/mutate merges metadata and sets updated_at exactly, visible in the API."""
    client, _ = make_client(DamSimOptions(assets=3))
    async with client:
        body = {
            "id": "a-000002",
            "metadata": {"colour": "teal"},
            "updated_at": "2027-02-02T02:02:02Z",
        }
        await client.post("/_sim/mutate", json=body)
        item = (await client.get("/generic/assets/a-000002", headers=BEARER)).json()
    assert ("teal", "2027-02-02T02:02:02.000000Z") == (
        item["metadata"]["colour"],
        item["updated_at"],
    )
    assert {"en_US", "fr_FR", "de_DE"} == set(item["metadata"]["title"])


def test_dam_command_offers_the_documented_options():
    """The click command exposes --port, --assets, --seed and --tick."""
    result = CliRunner().invoke(dam_command, ["--help"])
    assert 0 == result.exit_code
    for option in ("--port", "--assets", "--seed", "--tick", "--fault-rate", "--latency"):
        assert option in result.output
