"""A batch's media codes read in one statement (:meth:`AssetAccess.media_codes`)."""

from __future__ import annotations

from daemon.store.statements import CHUNK


def test_media_codes_of_a_batch_in_one_read(store):
    store.record_media("dam", {"sha256:ab": "m/1"})
    store.record_media("dam", {"ab": "m/legacy"})
    store.record_media("other", {"sha256:cd": "m/other"})

    found = store.media_codes("dam", ["sha256:ab", "ab", "sha256:cd", "sha256:ab", "nope"])

    # Those without a code are absent; another source's codes are not this one's.
    assert {"sha256:ab": "m/1", "ab": "m/legacy"} == found
    assert {} == store.media_codes("dam", [])


def test_media_codes_past_one_chunk(store):
    keys = [f"sha256:{n:064x}" for n in range(CHUNK + 3)]
    for n in (0, CHUNK - 1, CHUNK + 2):
        store.record_media("dam", {keys[n]: f"m/{n}"})

    found = store.media_codes("dam", keys)

    assert {keys[n]: f"m/{n}" for n in (0, CHUNK - 1, CHUNK + 2)} == found
