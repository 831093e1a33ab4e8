"""Sync modes over several syncs: `overwrite` replaces the earlier syncs' files once the stream is complete (and only
then), `append` keeps them; neighbouring streams' files are never touched."""

from __future__ import annotations

import threading
from typing import Any

from source_core.testing import catalog, record, source_error, state, status, stream_entry

from .conftest import Cli, LocalStore, S3Store, Store, read_file

PROPS = {"k": {"type": "string"}}


def sync(cli: Cli, store: Store, rows: dict[str, list[str]], user_status: str | None, generation: int) -> None:
    """One sync of 'user' (overwrite) and 'users' (append): `rows` per stream, 'user' reported `user_status`."""
    cat = catalog(
        stream_entry("user", PROPS, mode="overwrite", generation_id=generation, minimum_generation_id=generation),
        stream_entry("users", PROPS, mode="append", generation_id=generation),
    )
    messages: list[dict[str, Any]] = [status("users", "STARTED")]
    if user_status:  # else no status at all for 'user'
        messages.append(status("user", "STARTED"))
    for stream, keys in rows.items():
        messages += [record(stream, {"k": k}) for k in keys]
        messages.append(state(stream, {"done": keys[-1]}))
    if user_status:
        messages.append(status("user", user_status))
    messages.append(status("users", "COMPLETE"))
    run = cli.write(store.config(format="jsonl"), cat, messages)
    assert run.exit_code == 0, run.describe()
    assert len(run.states) == len(rows)


def keys_in(store: Store, head: str) -> list[str]:
    files = [p for p in store.files(head) if not p.endswith("_airbyte_generation")]  # the overwrite's marker
    return sorted(row["k"] for path in files for row in read_file(store.read(path), "jsonl"))


def contents(store: Store, head: str) -> dict[str, bytes]:
    return {path: store.read(path) for path in store.files(head)}


def test_overwrite_replaces_when_complete_keeps_when_incomplete_and_append_accumulates(cli: Cli, store: Store) -> None:
    sync(cli, store, {"user": ["a1", "a2"], "users": ["x1"]}, "COMPLETE", generation=1)
    assert keys_in(store, "default/user/") == ["a1", "a2"]
    first = contents(store, "default/user/")

    # INCOMPLETE: the overwrite is unfinished, so the old files stay exactly as they were; the new ones wait in the
    # hidden .airbyte_tmp/user/ folder, for a rerun of the same generation to finish
    sync(cli, store, {"user": ["b1"], "users": ["y1", "y2"]}, "INCOMPLETE", generation=2)
    second = contents(store, "default/user/")
    assert second == first, "an old file was changed or deleted, or a new one shown before the overwrite completed"
    assert keys_in(store, "default/.airbyte_tmp/user/") == ["b1"]
    assert keys_in(store, "default/users/") == ["x1", "y1", "y2"]

    # no status at all counts as complete: only this sync's files remain; the neighbour 'users' is untouched
    sync(cli, store, {"user": ["c1", "c2", "c3"], "users": ["z1"]}, None, generation=3)
    assert keys_in(store, "default/user/") == ["c1", "c2", "c3"]
    assert not set(store.files("default/user/")) & set(second), "files of earlier syncs are left"
    assert store.files("default/.airbyte_tmp/") == [], "the other generation's unfinished files are left"
    assert keys_in(store, "default/users/") == ["x1", "y1", "y2", "z1"]
    assert len(store.files("default/users/")) == 3, "append: one file per sync, the earlier ones kept"

    # COMPLETE with nothing new: the stream is replaced by nothing
    cat = catalog(stream_entry("user", PROPS, mode="overwrite", generation_id=4, minimum_generation_id=4))
    run = cli.write(store.config(format="jsonl"), cat, [status("user", "STARTED"), status("user", "COMPLETE")])
    assert run.exit_code == 0, run.describe()
    assert store.files("default/user/") == []
    assert keys_in(store, "default/users/") == ["x1", "y1", "y2", "z1"]


def test_append_without_timestamp_in_template_keeps_earlier_files(cli: Cli, local_store: LocalStore) -> None:
    """A template without {timestamp} names the first part of every sync alike: a later sync must not replace an
    earlier sync's file (append keeps every row), or the template must be refused."""
    config = local_store.config(format="jsonl", path_template="{namespace}/{stream}/{part}")
    cat = catalog(stream_entry("t", PROPS, mode="append"))
    first = cli.write(config, cat, [record("t", {"k": "first"}), state("t", 1)])
    if first.exit_code != 0:  # refusing such a template up front is an answer too
        assert first.errors[0]["failure_type"] == "config_error", first.describe()
        return
    second = cli.write(config, cat, [record("t", {"k": "second"}), state("t", 2)])
    assert second.exit_code == 0, second.describe()
    assert keys_in(local_store, "default/t/") == ["first", "second"], "the second sync replaced the first's file"


def test_streams_of_two_namespaces_in_one_folder_lose_nothing(cli: Cli, local_store: LocalStore) -> None:
    """A template without {namespace} puts 'a.t' and 'b.t' in one folder: both streams' rows must survive (or the
    config must be refused before anything is written)."""
    config = local_store.config(format="jsonl", path_template="{stream}/{timestamp}_{part}")
    cat = catalog(stream_entry("t", PROPS, namespace="a"), stream_entry("t", PROPS, namespace="b"))
    run = cli.write(config, cat, [record("t", {"k": "from a"}, "a"), record("t", {"k": "from b"}, "b")])
    if run.exit_code != 0:
        assert run.errors[0]["failure_type"] == "config_error", run.describe()
        assert local_store.files() == []
        return
    assert keys_in(local_store, "t/") == ["from a", "from b"], "one stream's file replaced the other's"


def overwrite_in_parts(cli: Cli, store: Store, generation: int, parts: int) -> set[str]:
    """An overwrite of 'user' in `parts` commits (one file each); the files in the stream's folder after it."""
    cat = catalog(
        stream_entry("user", PROPS, mode="overwrite", generation_id=generation, minimum_generation_id=generation)
    )
    live = cli.start_write(store.config(format="jsonl", commit_interval_rows=1), cat)
    try:
        for n in range(parts):
            live.send([record("user", {"k": f"g{generation}-{n}"}), state("user", {"n": n})])
            live.wait_states(n + 1)
        run = live.finish()
    finally:
        live.kill()
    assert run.exit_code == 0, run.describe()
    files = set(store.files("default/user/"))
    assert len(files) == parts, files
    return files


def test_overwrite_swap_shows_readers_every_old_file_until_every_new_one_is_there(cli: Cli, s3_store: S3Store) -> None:
    """While an overwrite completes, each listing of the stream's folder holds all the old files or all the new
    ones: the new files are moved in first, the old ones deleted after (never an empty or half-old folder)."""
    old = overwrite_in_parts(cli, s3_store, generation=1, parts=20)
    listings: list[set[str]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            listings.append(set(s3_store.files("default/user/")))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        new = overwrite_in_parts(cli, s3_store, generation=2, parts=20)
    finally:
        stop.set()
        watcher.join(timeout=30)
    assert not old & new
    assert keys_in(s3_store, "default/user/") == sorted(f"g2-{n}" for n in range(20))
    broken = [listing for listing in listings if not (old <= listing or new <= listing)]
    assert not broken, f"{len(broken)} of {len(listings)} listings lacked old and new files alike: {sorted(broken[0])}"


def test_rows_no_state_covers_are_not_published_when_the_source_fails(cli: Cli, local_store: LocalStore) -> None:
    """Rows that come while no STATE waits for a commit go into a part file at once: when the source fails before a
    STATE covers them, that part is dropped, not published, and the retry's rows are there once."""
    config, cat = local_store.config(format="jsonl"), catalog(stream_entry("t", PROPS, mode="append"))
    failure = source_error()
    run = cli.write(config, cat, [record("t", {"k": "a"}), record("t", {"k": "b"}), failure])
    assert run.exit_code == 0, run.describe()
    assert run.states == [] and local_store.files("default/t/") == []
    run = cli.write(config, cat, [record("t", {"k": "a"}), record("t", {"k": "b"}), state("t", 1)])
    assert run.exit_code == 0, run.describe()
    assert keys_in(local_store, "default/t/") == ["a", "b"]
