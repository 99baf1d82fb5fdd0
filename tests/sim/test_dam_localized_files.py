"""The DAM simulator's files per locale and per channel (``DamSimOptions.localized_files``)."""

from __future__ import annotations

import hashlib

from daemon.sim.dam.dataset import DamSimOptions, DamStore, to_us
from tests.sim.test_dam_helpers import BEARER, START, make_client

NOW = to_us(START)


def test_files_are_off_by_default_and_derived_from_the_record_when_on():
    plain = DamStore(DamSimOptions(assets=12, seed=7), NOW)
    assert all(
        "manuals" not in plain.metadata(r) and "renditions" not in plain.metadata(r)
        for r in plain.records
    )
    store = DamStore(DamSimOptions(assets=12, seed=7, localized_files=True), NOW)
    for record in store.records:
        meta = store.metadata(record)
        if record.kind == "pdf":
            assert {"en_US", "fr_FR", "de_DE"} == set(meta["manuals"])
        else:
            assert {"web", "print"} == set(meta["renditions"])
        assert meta == store.metadata(record)  # the same record, the same files


def test_a_new_file_moves_the_current_ones_only_and_a_tests_own_files_win():
    store = DamStore(DamSimOptions(assets=12, seed=7, localized_files=True), NOW)
    pdf = next(r for r in store.records if r.kind == "pdf")
    before = store.metadata(pdf)["manuals"]
    changed = store.mutate(pdf.num, NOW + 1, new_file=True)
    after = store.metadata(changed)["manuals"]
    assert after["en_US"]["url"].endswith("/2") and before["en_US"] != after["en_US"]
    assert before["fr_FR"] == after["fr_FR"]
    assert after["fr_FR"]["sha256"] == after["de_DE"]["sha256"] != after["en_US"]["sha256"]
    mine = {"en_US": {"url": "/elsewhere.pdf"}}
    edited = store.mutate(pdf.num, NOW + 2, metadata={"manuals": mine})
    assert mine == store.metadata(edited)["manuals"]
    gone = store.mutate(pdf.num, NOW + 3, metadata={"manuals": None}, deleted=True)
    assert store.metadata(gone)["manuals"] is None


async def test_every_file_is_served_with_the_announced_bytes():
    client, _ = make_client(DamSimOptions(assets=6, localized_files=True))
    async with client:
        await client.post("/_sim/mutate", json={"id": "a-000002", "new_file": True})
        items = (await client.get("/generic/assets", headers=BEARER)).json()["items"]
        checked = 0
        for item in items:
            files = item["metadata"].get("manuals") or item["metadata"]["renditions"]
            for file in files.values():
                body = await client.get(file["url"], headers=BEARER)
                assert 200 == body.status_code
                assert file["sha256"] == hashlib.sha256(body.content).hexdigest()
                assert file["size"] == len(body.content)
                assert file["mime_type"] == body.headers["content-type"]
                checked += 1
    assert checked >= 2 * len(items)
