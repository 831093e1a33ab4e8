"""Atomic publishing, for real: a reader of the stream's folder never sees part of a file, files appear only when
their STATE is echoed, and after a SIGKILL in the middle of a write a rerun from the last echoed STATE gives every
row (duplicates only among the rows no echoed STATE covered)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from typing import Any

import pytest

from source_core.testing import catalog, record, state, status, stream_entry

from .conftest import Cli, LiveWrite, LocalStore, Store, read_file, template_pattern

PROPS = {"id": {"type": "integer"}, "v": {"type": "string"}}
HEAD = "default/events/"


class Watcher:
    """Reads every file under the stream's folder, over and over, while a write runs: each must read whole, and
    once seen it must keep its content."""

    def __init__(self, store: Store, fmt: str, compression: str) -> None:
        self.store, self.fmt, self.compression = store, fmt, compression
        self.seen: dict[str, list[Any]] = {}
        self.problems: list[str] = []
        self.rounds = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            for path in self.store.files(HEAD):
                try:
                    ids = [row["id"] for row in read_file(self.store.read(path), self.fmt, self.compression)]
                except FileNotFoundError:
                    continue  # deleted between listing and reading: not a partial file
                except Exception as exc:  # noqa: BLE001 - any failure to read it whole is what we look for
                    self.problems.append(f"{path}: {type(exc).__name__}: {exc}")
                    continue
                if path in self.seen and self.seen[path] != ids:
                    self.problems.append(f"{path} changed after it appeared")
                self.seen[path] = ids
            self.rounds += 1
            time.sleep(0.01)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)


def readable_ids(store: Store, path: str, fmt: str, compression: str) -> list[int]:
    return [int(row["id"]) for row in read_file(store.read(path), fmt, compression)]


@pytest.mark.parametrize(
    ("where", "fmt", "compression", "commit", "pause"),
    [
        ("local", "parquet", "snappy", {"commit_interval_rows": 1, "commit_interval_seconds": 3600}, 0.2),
        ("s3", "jsonl", "gzip", {"commit_interval_rows": 10**9, "commit_interval_seconds": 1}, 1.2),
    ],
    ids=["local-parquet-commit-by-rows", "s3-jsonl-gzip-commit-by-seconds"],
)
def test_files_appear_whole_and_only_with_their_state(
    cli: Cli,
    request: pytest.FixtureRequest,
    where: str,
    fmt: str,
    compression: str,
    commit: dict[str, int],
    pause: float,
) -> None:
    """Each batch of rows is fed in pieces, then (`pause` after them, so longer than commit_interval_seconds for
    the second case) its STATE: the commit is due at that STATE, by rows or by time."""
    store: Store = request.getfixturevalue(f"{where}_store")
    batches, per_batch = 3, 3000
    config = store.config(format=fmt, compression=compression, **commit)
    live = cli.start_write(config, catalog(stream_entry("events", PROPS)))
    watcher = Watcher(store, fmt, compression)
    pattern = template_pattern(fmt, compression, HEAD)
    published: dict[str, list[int]] = {}
    try:
        for b in range(batches):
            ids = list(range(b * per_batch, (b + 1) * per_batch))
            data = [record("events", {"id": n, "v": f"batch {b} row {n} " + "x" * 40}) for n in ids]
            for third in range(3):  # several pieces of stdin: several chunks loaded into the open part file
                live.send(data[third * per_batch // 3 : (third + 1) * per_batch // 3])
                time.sleep(0.1)
            time.sleep(pause)  # no STATE covers these rows yet: nothing of them may be visible
            files = store.files(HEAD)
            assert len(files) == b, f"batch {b}: a file appeared before its STATE: {files}"
            assert len(live.states) == b
            live.send([state("events", {"batch": b})])
            live.wait_states(b + 1)
            files = store.files(HEAD)
            assert len(files) == b + 1, f"batch {b}: its STATE was echoed before its file was published: {files}"
            (new,) = set(files) - set(published)
            match = pattern.fullmatch(new)
            assert match and match.group(3) == f"{b + 1:05d}", new
            assert sorted(readable_ids(store, new, fmt, compression)) == ids
            assert all(readable_ids(store, f, fmt, compression) == published[f] for f in published), "a file changed"
            published[new] = readable_ids(store, new, fmt, compression)
            wait_until_seen(watcher, new)
        run = live.finish()
    finally:
        live.kill()
        watcher.stop()
    assert run.exit_code == 0, run.describe()
    assert run.stream_states == [{"batch": b} for b in range(batches)]
    assert [s["destinationStats"]["recordCount"] for s in run.states] == [per_batch] * batches
    assert watcher.problems == [], watcher.problems
    assert watcher.rounds > 10, "the watcher must have looked many times during the write"
    assert store.files() == store.files(HEAD) == sorted(published), "nothing but the published files is left"
    if isinstance(store, LocalStore):
        assert store.entries() == sorted(published), "the temporary files are gone"


def wait_until_seen(watcher: Watcher, path: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while path not in watcher.seen:
        assert time.monotonic() < deadline, f"the watcher never read {path}"
        time.sleep(0.02)


# ---------------------------------------------------------------- SIGKILL and rerun

ROWS = 40_000
STATE_EVERY = 1_000
KILL_AFTER_STATES = 10  # two commits at least (one every 5,000 rows)
CRASH_SETTINGS = {"commit_interval_rows": 5_000, "commit_interval_seconds": 3600}


def source_output(start: int, stream: str = "events") -> list[list[dict[str, Any]]]:
    """What a source resumed after `start` records sends, as pieces of STATE_EVERY records, each ending in a STATE."""
    pieces: list[list[dict[str, Any]]] = [[status(stream, "STARTED")]]
    for first in range(start, ROWS, STATE_EVERY):
        last = min(first + STATE_EVERY, ROWS)
        piece = [record(stream, {"id": n, "v": f"value {n}"}) for n in range(first, last)]
        pieces.append([*piece, state(stream, {"after": last})])
    pieces[-1].append(status(stream, "COMPLETE"))
    return pieces


def write_and_kill(live: LiveWrite, pieces: list[list[dict[str, Any]]]) -> int:
    """Feed `pieces` slowly; SIGKILL the destination once it has echoed KILL_AFTER_STATES; the last echoed position."""

    def feed() -> None:
        try:
            for piece in pieces:
                live.send(piece)
                time.sleep(0.05)
        except (BrokenPipeError, ValueError, OSError):
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    live.wait_states(KILL_AFTER_STATES, timeout=60)
    os.kill(live.process.pid, signal.SIGKILL)
    run = live.finish()  # read to the end: STATEs echoed just before the kill are still in the pipe
    feeder.join(timeout=60)
    assert run.exit_code == -signal.SIGKILL, "the write ended before it could be killed: feed more rows"
    echoed = [s["after"] for s in run.stream_states]
    assert echoed == list(range(STATE_EVERY, echoed[-1] + 1, STATE_EVERY)), "STATEs echoed in order, none skipped"
    assert echoed[-1] < ROWS, "the kill came after the last record"
    return echoed[-1]


def rows_in(store: Store, head: str, fmt: str) -> Counter[int]:
    """Every row id in the stream's files; each file must read whole and be named as the template says."""
    pattern = template_pattern(fmt, "none", head)
    found: Counter[int] = Counter()
    for path in store.files(head):
        assert pattern.fullmatch(path), f"not a published file: {path}"
        found.update(readable_ids(store, path, fmt, "none"))
    return found


def feed_all(cli: Cli, config: dict[str, Any], cat: dict[str, Any], pieces: list[list[dict[str, Any]]]) -> None:
    run = cli.write(config, cat, [m for piece in pieces for m in piece])
    assert run.exit_code == 0, run.describe()
    assert run.stream_states[-1] == {"after": ROWS}


@pytest.mark.parametrize(("where", "fmt"), [("local", "parquet"), ("s3", "jsonl")])
def test_sigkill_mid_write_then_rerun_from_last_echoed_state(
    cli: Cli, request: pytest.FixtureRequest, where: str, fmt: str
) -> None:
    store: Store = request.getfixturevalue(f"{where}_store")
    config = store.config(format=fmt, **CRASH_SETTINGS)
    cat = catalog(stream_entry("events", PROPS, mode="append"))

    acknowledged = write_and_kill(cli.start_write(config, cat), source_output(0))
    after_crash = rows_in(store, HEAD, fmt)
    assert all(after_crash[n] == 1 for n in range(acknowledged)), "an acknowledged row is missing or doubled"
    assert max(after_crash.values()) == 1
    beyond = sorted(n for n in after_crash if n >= acknowledged)  # published just before the kill, not yet echoed
    assert not beyond or beyond == list(range(acknowledged, beyond[-1] + 1)), "only whole commits are visible"
    if isinstance(store, LocalStore):  # a crash leaves its temporary files in the hidden folder, nowhere else
        assert all(e.startswith(".airbyte_tmp/") for e in store.entries() if not e.startswith(HEAD))

    feed_all(cli, config, cat, source_output(acknowledged))
    final = rows_in(store, HEAD, fmt)
    assert set(final) == set(range(ROWS)), "rows were lost"
    doubled = sorted(n for n, count in final.items() if count > 1)
    assert all(n >= acknowledged for n in doubled), "a row the echoed STATE covered was written twice"
    assert max(final.values()) <= 2


def test_sigkill_mid_overwrite_keeps_old_files_and_rerun_of_same_generation_completes(
    cli: Cli, local_store: LocalStore
) -> None:
    """An overwrite killed midway leaves the earlier sync's files in place; its rerun (the same sync's next attempt:
    same generation, resumed from the last echoed STATE) must end with every row of the new sync and none of the
    old, like the SQL destinations resume their `_airbyte_tmp` table."""
    config = local_store.config(format="parquet", **CRASH_SETTINGS)
    old_rows = [*(record("events", {"id": -n, "v": "old"}) for n in range(1, 4)), state("events", {"old": True})]
    first = cli.write(config, catalog(stream_entry("events", PROPS, mode="overwrite", generation_id=1)), old_rows)
    assert first.exit_code == 0, first.describe()
    old_files = local_store.files(HEAD)
    assert len(old_files) == 1

    cat = catalog(stream_entry("events", PROPS, mode="overwrite", generation_id=2, minimum_generation_id=2))
    acknowledged = write_and_kill(cli.start_write(config, cat), source_output(0))
    after_crash = rows_in(local_store, HEAD, "parquet")
    assert set(local_store.files(HEAD)) >= set(old_files), "the old files must stay until the overwrite completes"
    assert {-1, -2, -3} <= set(after_crash)

    feed_all(cli, config, cat, source_output(acknowledged))
    final = rows_in(local_store, HEAD, "parquet")
    assert not {-1, -2, -3} & set(final), "the overwrite completed: the old rows must be gone"
    missing = sorted(set(range(ROWS)) - set(final))
    assert missing == [], (
        f"{len(missing)} rows lost (ids {missing[0]}..{missing[-1]}; last echoed STATE after {acknowledged}): the "
        "rerun deleted the files its own killed attempt had published"
    )
    assert all(n >= acknowledged for n, count in final.items() if count > 1)


def test_state_in_same_chunk_as_records_commits_them(cli: Cli, local_store: LocalStore) -> None:
    """All of stdin at once (one chunk): rows after the last STATE still arrive, in a part of their own."""
    config = local_store.config(format="parquet", commit_interval_rows=1)
    messages = [record("events", {"id": n, "v": "x"}) for n in range(10)] + [state("events", 1)]
    messages += [record("events", {"id": n, "v": "y"}) for n in range(10, 15)]
    run = cli.run("write", config, catalog(stream_entry("events", PROPS)), messages=messages)
    assert run.exit_code == 0, run.describe()
    files = local_store.files(HEAD)
    assert [sorted(readable_ids(local_store, f, "parquet", "none")) for f in files] == [
        list(range(10)),
        list(range(10, 15)),
    ]


def test_a_swap_interrupted_halfway_keeps_what_it_moved_when_rerun(cli: Cli, local_store: LocalStore) -> None:
    """An overwrite's swap that fails after moving some of its new files among the old ones (here a folder stands
    where its last file goes): the rerun of the same overwrite must delete only the old files, not the new ones
    the interrupted swap had already moved."""
    config = local_store.config(format="jsonl", commit_interval_rows=1)
    old = [record("events", {"id": -1, "v": "old"}), state("events", {"old": True})]
    first = cli.write(config, catalog(stream_entry("events", PROPS, mode="overwrite", generation_id=1)), old)
    assert first.exit_code == 0, first.describe()

    cat = catalog(stream_entry("events", PROPS, mode="overwrite", generation_id=2, minimum_generation_id=2))
    for n in range(4):  # four attempts of the sync, each ending before the stream is COMPLETE: four new files wait
        piece = [status("events", "STARTED"), record("events", {"id": n, "v": "new"}), state("events", {"after": n})]
        assert cli.write(config, cat, piece).exit_code == 0
    shadow = "default/.airbyte_tmp/events/"
    waiting = sorted(e for e in local_store.entries() if e.startswith(shadow) and "/_airbyte" not in e)
    assert len(waiting) == 4, local_store.entries()
    last = local_store.folder / HEAD / waiting[-1][len(shadow) :]
    last.mkdir(parents=True)  # the swap's last move fails on it

    done = [state("events", {"after": 4}), status("events", "COMPLETE")]
    interrupted = cli.write(config, cat, done)
    assert interrupted.exit_code != 0, interrupted.describe()
    assert sorted(rows_in_files(local_store, HEAD)) == [-1, 0, 1, 2], "moved in name order: all but the last"

    last.rmdir()
    rerun = cli.write(config, cat, done)
    assert rerun.exit_code == 0, rerun.describe()
    assert sorted(rows_in_files(local_store, HEAD)) == [0, 1, 2, 3], "the rerun deleted files the swap had moved"
    assert not [e for e in local_store.entries() if ".airbyte_tmp/" in e]


def rows_in_files(store: Store, head: str) -> list[int]:
    return [n for path in store.files(head) for n in readable_ids(store, path, "jsonl", "none")]
