"""The progress of ``damsync migrate-pam`` in the state database (issue 18), on both backends."""

from __future__ import annotations

from sqlalchemy import event

from daemon.engine.pam_write import PamProgress
from daemon.store import PamProgressStore
from daemon.store.pam_progress_store import PENDING_KEYS


def test_facts_are_kept_per_target_pim(url):
    """Two migrations into two PIMs share one database and see nothing of each other."""
    with PamProgressStore.from_url(url, "eu") as eu, PamProgressStore.from_url(url, "us") as us:
        eu.remember_file("a/b/one.jpg", "c1")
        eu.remember_media("c1", "m/eu/one.jpg")
        eu.remember_assets("pam_assets", [("one", "f1"), ("two", "f2")])
        assert (None, None, None) == (
            us.key_checksum("a/b/one.jpg"),
            us.media_code("c1"),
            us.asset_fingerprint("pam_assets", "one"),
        )
        us.remember_media("c1", "m/us/one.jpg")
    with PamProgressStore.from_url(url, "eu") as again:
        assert ("c1", "m/eu/one.jpg", "f2") == (
            again.key_checksum("a/b/one.jpg"),
            again.media_code("c1"),
            again.asset_fingerprint("pam_assets", "two"),
        )
        assert {"file_key": 1, "media": 1, "asset": 2} == again.counts()
    with PamProgressStore.from_url(url, "us") as us_again:
        assert "m/us/one.jpg" == us_again.media_code("c1")


def test_a_second_write_replaces_the_first(url):
    """A re-uploaded content or a re-written asset keeps its latest code and fingerprint."""
    with PamProgressStore.from_url(url, "default") as progress:
        progress.remember_media("c1", "old")
        progress.remember_media("c1", "new")
        progress.remember_assets("f", [("a", "v1")])
        progress.remember_assets("f", [("a", "v2"), ("b", "v1")])
        progress.remember_file("k", "c1")
        progress.remember_file("k", "c2")
        assert ("new", "v2", "c2") == (
            progress.media_code("c1"),
            progress.asset_fingerprint("f", "a"),
            progress.key_checksum("k"),
        )
    with PamProgressStore.from_url(url, "default") as progress:
        assert "c2" == progress.key_checksum("k")


def test_a_batch_is_one_transaction_and_one_executemany_per_table(url):
    """Pending file hashes and the batch's assets: one commit, one statement per table."""
    progress = PamProgressStore.from_url(url, "default")
    statements: list[tuple[str, bool]] = []

    @event.listens_for(progress.engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement.split()[0].upper(), executemany))

    commits: list[int] = []
    event.listen(progress.engine, "commit", lambda conn: commits.append(1))
    for n in range(10):
        progress.remember_file(f"key{n}", f"sum{n}")
    assert [] == statements  # held until the batch
    progress.remember_assets("pam_assets", [(f"a{n}", f"f{n}") for n in range(50)])
    writes = [s for s in statements if s[0] in ("INSERT", "UPDATE", "DELETE")]
    assert [("INSERT", True), ("INSERT", True)] == writes
    assert 1 == len(commits)
    progress.close()


def test_a_killed_process_loses_only_pending_hashes_never_an_upload(url):
    """Media codes are committed at once; hashes wait for the batch (a lost one: a download)."""
    progress = PamProgressStore.from_url(url, "default")
    progress.remember_file("k", "c1")
    progress.remember_media("c1", "m1")
    progress.engine.dispose()  # killed: no close, no flush
    with PamProgressStore.from_url(url, "default") as again:
        assert (None, "m1") == (again.key_checksum("k"), again.media_code("c1"))


def test_many_pending_hashes_are_written_without_waiting_for_a_batch(url):
    """Memory stays bounded: past PENDING_KEYS hashes they are written on their own."""
    progress = PamProgressStore.from_url(url, "default")
    for n in range(PENDING_KEYS):
        progress.remember_file(f"key{n}", f"sum{n}")
    progress.engine.dispose()
    with PamProgressStore.from_url(url, "default") as again:
        assert PENDING_KEYS == again.counts()["file_key"]


def test_it_is_a_pam_progress_and_its_repr_shows_no_password():
    """The engine's Protocol is met; the URL's password stays out of the repr."""
    progress: PamProgress = PamProgressStore.from_url(
        "postgresql+psycopg://damsync:s3cret@db.example/state", "eu"
    )
    assert "s3cret" not in repr(progress)
    assert "pim='eu'" in repr(progress)
