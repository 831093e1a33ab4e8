"""Incremental reads by the history of the files read: files at the newest time read, newer files, files that come
in with an older time, rewritten files, nothing new, states of the earlier (cursor) shape, STATEs at the checkpoint
interval, and resuming from any STATE (as after a crash) with no duplicates and no gaps, on local files and on S3."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import (
    AirbyteMessageSerializer,
    AirbyteStateMessageSerializer,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    DestinationSyncMode,
    SyncMode,
    Type,
)

from source_core.launch import Records
from source_core.testing import Run, parse_output
from source_file import source as source_module
from source_file.storage import FileRef

from .conftest import BASE_NS, FILE_MODIFIED, FILE_URL, config_of, iso_of_ns, set_mtime, stream, write

T1 = BASE_NS + 5 * 10**9 + 123_456_789  # sub-microsecond digits are dropped: 123456 us
T2 = BASE_NS + 9 * 10**9 + 987_654_000
T3 = BASE_NS + 20 * 10**9


def ids(run: Run) -> list[int]:
    return [d["id"] for d in run.data]


def csv_file(path: Path, ids_: list[int], ns: int) -> Path:
    write(path, "id,word\n" + "".join(f"{i},w{i}\n" for i in ids_))
    return set_mtime(path, ns)


def history(*files: Path) -> dict[str, list[int]]:
    """The `history` of a STATE after reading `files`: URL -> [modification time in us, size]."""
    return {str(f): [f.stat().st_mtime_ns // 1000, f.stat().st_size] for f in files}


def every_file(config: dict[str, Any]) -> dict[str, Any]:
    """`config` with a STATE after every file."""
    return config | {"checkpoint_interval_seconds": 0}


def resume(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "files"}, "stream_state": state}}]


def test_same_mtime_and_newer_files_are_read_next_time(connector, data_dir):
    b = csv_file(data_dir / "b_first.csv", [1, 2], T1)
    c = csv_file(data_dir / "c_second.csv", [3], T2)
    config = config_of(stream("files", data_dir / "*.csv"))
    catalog = connector.catalog(config, "incremental")

    first = connector.run("read", config, catalog)
    assert first.exit_code == 0, first.describe()
    assert ids(first) == [1, 2, 3]
    # the files are read well within the checkpoint interval (10 s): one STATE, after the last
    assert first.stream_states == [{"cursor": iso_of_ns(T2), "modified_us": T2 // 1000, "history": history(b, c)}]
    assert [s["sourceStats"]["recordCount"] for s in first.states] == [3]

    # a file with exactly the newest mtime read (its name sorts before that file's) and a newer one
    a = csv_file(data_dir / "a_same.csv", [4], T2)
    d = csv_file(data_dir / "d_newer.csv", [5, 6], T3)
    assert a.stat().st_mtime_ns == c.stat().st_mtime_ns == T2
    second = connector.run("read", config, catalog, resume(first.stream_states[-1]))
    assert second.exit_code == 0, second.describe()
    assert ids(second) == [4, 5, 6]
    assert [r[FILE_URL] for r in second.data] == [str(a), str(d), str(d)]
    assert [r[FILE_MODIFIED] for r in second.data] == [iso_of_ns(T2), iso_of_ns(T3), iso_of_ns(T3)]
    assert second.stream_states == [
        {"cursor": iso_of_ns(T3), "modified_us": T3 // 1000, "history": history(b, c, a, d)}
    ]
    assert [s["sourceStats"]["recordCount"] for s in second.states] == [3]

    third = connector.run("read", config, catalog, resume(second.stream_states[-1]))
    assert third.exit_code == 0, third.describe()
    assert third.records == []
    assert third.stream_states == [second.stream_states[-1]]  # said again, unchanged
    assert [s for _, s in third.statuses] == ["STARTED", "COMPLETE"]


def test_resuming_from_any_state_reads_exactly_the_rest(connector, data_dir):
    files = {  # name -> (ids, mtime); two share T2, and their names sort against the read order of the others
        "m.csv": ([1, 2], T1),
        "k.csv": ([3], T2),
        "l.csv": ([4, 5], T2),
        "a.csv": ([6], T3),
    }
    for name, (numbers, ns) in files.items():
        csv_file(data_dir / "sub" / name, numbers, ns)
    config = every_file(config_of(stream("files", data_dir / "**" / "*.csv")))
    catalog = connector.catalog(config, "incremental")
    full = connector.run("read", config, catalog)
    assert full.exit_code == 0, full.describe()
    assert ids(full) == [1, 2, 3, 4, 5, 6]
    paths = [data_dir / "sub" / n for n in ("m.csv", "k.csv", "l.csv", "a.csv")]  # in the order of reading
    assert [s["history"] for s in full.stream_states] == [history(*paths[: n + 1]) for n in range(4)]

    # the records that came out before each STATE: what a crash right after that STATE has delivered
    delivered: list[list[int]] = []
    seen: list[int] = []
    for kind, value in full.sequence():
        if kind == "RECORD":
            seen.append(value["id"])
        else:
            delivered.append(list(seen))
    assert delivered == [[1, 2], [1, 2, 3], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]]

    for index, before in enumerate(delivered[:-1]):  # the last one is the "nothing new" case of the test above
        rest = connector.run("read", config, catalog, resume(full.stream_states[index]))
        assert rest.exit_code == 0, rest.describe()
        assert ids(rest) == [1, 2, 3, 4, 5, 6][len(before) :], index
        together = Counter(before + ids(rest))
        assert together == Counter(range(1, 7)), (index, together)  # every record once: no gap, no duplicate
        assert rest.stream_states[-1] == full.stream_states[-1]


def test_a_state_from_a_finished_full_refresh_starts_an_incremental_read_over(connector, data_dir):
    csv_file(data_dir / "a.csv", [1], T1)
    config = config_of(stream("files", data_dir / "*.csv"))
    catalog = connector.catalog(config, "incremental")
    run = connector.run("read", config, catalog, resume({"__ab_full_refresh_sync_complete": True}))
    assert run.exit_code == 0, run.describe()
    assert ids(run) == [1]
    assert run.stream_states == [
        {"cursor": iso_of_ns(T1), "modified_us": T1 // 1000, "history": history(data_dir / "a.csv")}
    ]


def test_a_full_refresh_reads_every_file_whatever_the_incremental_state(connector, data_dir):
    """After a switch from incremental to full refresh | overwrite, the old cursor must not leave files out."""
    csv_file(data_dir / "a.csv", [1], T1)
    csv_file(data_dir / "b.csv", [2], T2)
    config = config_of(stream("files", data_dir / "*.csv"))
    incremental = connector.run("read", config, connector.catalog(config, "incremental"))
    assert ids(incremental) == [1, 2], incremental.describe()
    csv_file(data_dir / "c.csv", [3], T3)
    full = connector.run("read", config, connector.catalog(config), resume(incremental.stream_states[-1]))
    assert full.exit_code == 0, full.describe()
    assert ids(full) == [1, 2, 3]


def test_an_interrupted_full_refresh_resumes_after_its_last_checkpoint(connector, data_dir):
    for name, number, ns in (("a.csv", 1, T1), ("b.csv", 2, T2), ("c.csv", 3, T3)):
        csv_file(data_dir / name, [number], ns)
    config = every_file(config_of(stream("files", data_dir / "*.csv")))
    catalog = connector.catalog(config)
    first = connector.run("read", config, catalog)
    assert first.stream_states[0] == {"cursor": iso_of_ns(T1), "modified_us": T1 // 1000,
                                      "history": history(data_dir / "a.csv"), "full_refresh": True}  # fmt: skip
    rest = connector.run("read", config, catalog, resume(first.stream_states[0]))
    assert rest.exit_code == 0, rest.describe()
    assert ids(rest) == [2, 3]
    assert rest.stream_states == first.stream_states[1:]


# ---------------------------------------------------------------- S3: objects put in the same second share LastModified


def _put_in_one_second(s3, bucket: str, objects: dict[str, bytes]) -> dt.datetime:
    """Put `objects` so that all get the same LastModified (S3 keeps whole seconds); retries across a boundary."""
    for _ in range(10):
        for key, body in objects.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        stamps = {s3.head_object(Bucket=bucket, Key=key)["LastModified"] for key in objects}
        if len(stamps) == 1:
            return stamps.pop()
    pytest.fail("could not put the objects within one second")


def _wait_for_next_second(after: dt.datetime) -> None:
    while time.time() < after.timestamp() + 1.05:
        time.sleep(0.05)


def test_s3_objects_sharing_a_second(connector, s3, bucket, s3_settings):
    csv = lambda numbers: ("id,word\n" + "".join(f"{i},w{i}\n" for i in numbers)).encode()  # noqa: E731
    shared = _put_in_one_second(s3, bucket, {"in/b.csv": csv([1, 2]), "in/deep/a.csv": csv([3])})
    shared_us = int(shared.timestamp()) * 1_000_000
    url_a, url_b = f"s3://{bucket}/in/deep/a.csv", f"s3://{bucket}/in/b.csv"
    config = every_file(config_of(stream("files", f"s3://{bucket}/in/**/*.csv"), **s3_settings))
    catalog = connector.catalog(config, "incremental")

    first = connector.run("read", config, catalog)
    assert first.exit_code == 0, first.describe()
    assert ids(first) == [1, 2, 3]  # one modification time: by URL (in/b.csv < in/deep/a.csv)
    assert [d[FILE_MODIFIED] for d in first.data] == [shared.strftime("%Y-%m-%dT%H:%M:%S.000000Z")] * 3
    entry_b, entry_a = [shared_us, len(csv([1, 2]))], [shared_us, len(csv([3]))]
    assert first.stream_states == [
        {"cursor": shared.strftime("%Y-%m-%dT%H:%M:%S.000000Z"), "modified_us": shared_us,
         "history": {url_b: entry_b}},
        {"cursor": shared.strftime("%Y-%m-%dT%H:%M:%S.000000Z"), "modified_us": shared_us,
         "history": {url_b: entry_b, url_a: entry_a}},
    ]  # fmt: skip

    # crash after the first object: the one at the same time, not yet read, is read, and only it
    rest = connector.run("read", config, catalog, resume(first.stream_states[0]))
    assert rest.exit_code == 0, rest.describe()
    assert ids(rest) == [3]
    assert rest.stream_states == first.stream_states[1:]

    # a newer object: only it is read next
    _wait_for_next_second(shared)
    s3.put_object(Bucket=bucket, Key="in/c.csv", Body=csv([4]))
    newer = s3.head_object(Bucket=bucket, Key="in/c.csv")["LastModified"]
    assert newer > shared
    after = connector.run("read", config, catalog, resume(first.stream_states[-1]))
    assert after.exit_code == 0, after.describe()
    assert ids(after) == [4]
    newer_us = int(newer.timestamp()) * 1_000_000
    assert after.stream_states == [{"cursor": newer.strftime("%Y-%m-%dT%H:%M:%S.000000Z"), "modified_us": newer_us,
                                    "history": {url_b: entry_b, url_a: entry_a,
                                                f"s3://{bucket}/in/c.csv": [newer_us, len(csv([4]))]}}]  # fmt: skip


def _read_at_a_second_start(connector, config: dict, catalog: dict, before: Callable[[], None]) -> Run:
    """A read that starts right after `before()`, at the start of a second: the connector's process is started
    first and waits for its config on a pipe, so that its start-up does not carry the read into the next second."""
    fifo = connector.folder / f"config-{time.time_ns()}.fifo"
    os.mkfifo(fifo)
    argv = [*connector.argv, "read", "--config", str(fifo), "--catalog", connector.file("catalog", catalog)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(3)  # Python and airbyte-cdk imported
    while time.time() % 1 > 0.05:
        time.sleep(0.005)
    before()
    fifo.write_text(json.dumps(config))
    stdout, stderr = process.communicate(timeout=120)
    return parse_output(stdout.decode(), stderr.decode(), process.returncode, connector.parse_float)


def test_s3_object_rewritten_in_the_second_it_was_read_is_read_again(connector, s3, bucket, s3_settings):
    csv = lambda numbers: ("id\n" + "".join(f"{i}\n" for i in numbers)).encode()  # noqa: E731
    config = config_of(stream("files", f"s3://{bucket}/in/*.csv", schema={"type": "object", "properties": {
        "id": {"type": "integer"}}}), **s3_settings)  # fmt: skip
    catalog = connector.catalog(config, "incremental")
    for _ in range(5):  # until the rewrite falls in the second of the first version (and of the read)
        first = _read_at_a_second_start(connector, config, catalog, lambda: s3.put_object(
            Bucket=bucket, Key="in/k.csv", Body=csv([1])))  # fmt: skip
        s3.put_object(Bucket=bucket, Key="in/k.csv", Body=csv([1, 2, 3]))
        rewritten = s3.head_object(Bucket=bucket, Key="in/k.csv")["LastModified"]
        assert ids(first) == [1], first.describe()
        if first.stream_states[-1]["modified_us"] == int(rewritten.timestamp()) * 1_000_000:
            break
    else:
        pytest.fail("could not rewrite the object within the second it was read in")
    second = connector.run("read", config, catalog, resume(first.stream_states[-1]))
    assert second.exit_code == 0, second.describe()
    assert ids(second) == [1, 2, 3]
    url, rewritten_us = f"s3://{bucket}/in/k.csv", int(rewritten.timestamp()) * 1_000_000
    assert first.stream_states[-1]["history"] == {url: [rewritten_us, len(csv([1]))]}  # the same second, another size
    assert second.stream_states[-1]["history"] == {url: [rewritten_us, len(csv([1, 2, 3]))]}
    third = connector.run("read", config, catalog, resume(second.stream_states[-1]))
    assert ids(third) == []


# ---------------------------------------------------------------- files that come in with an older time, rewrites


def test_a_file_that_comes_in_with_an_older_mtime_is_read(connector, data_dir):
    """mv, cp -p, rsync -t, an unpacked archive: a file can come in with a modification time older than the newest
    one read. It is read all the same, and the files read before are not read again."""
    a = csv_file(data_dir / "in" / "a.csv", [1], T2)
    b = csv_file(data_dir / "in" / "b.csv", [2], T3)
    config = config_of(stream("files", data_dir / "in" / "*.csv"))
    catalog = connector.catalog(config, "incremental")
    first = connector.run("read", config, catalog)
    assert ids(first) == [1, 2], first.describe()

    c = data_dir / "in" / "c.csv"
    os.rename(csv_file(data_dir / "elsewhere" / "c.csv", [3, 4], T1), c)
    assert c.stat().st_mtime_ns == T1 < T3
    second = connector.run("read", config, catalog, resume(first.stream_states[-1]))
    assert second.exit_code == 0, second.describe()
    assert ids(second) == [3, 4]
    assert second.stream_states == [{"cursor": iso_of_ns(T3), "modified_us": T3 // 1000, "history": history(a, b, c)}]

    third = connector.run("read", config, catalog, resume(second.stream_states[-1]))
    assert ids(third) == [], third.describe()
    assert third.stream_states == second.stream_states


def test_a_rewritten_file_is_read_again(connector, data_dir):
    a = csv_file(data_dir / "a.csv", [1], T1)
    b = csv_file(data_dir / "b.csv", [2], T3)
    config = config_of(stream("files", data_dir / "*.csv"))
    catalog = connector.catalog(config, "incremental")
    first = connector.run("read", config, catalog)
    assert ids(first) == [1, 2], first.describe()

    csv_file(a, [1, 10], T2)  # a new version, its time still older than the newest read (cp -p, say)
    second = connector.run("read", config, catalog, resume(first.stream_states[-1]))
    assert second.exit_code == 0, second.describe()
    assert ids(second) == [1, 10]
    assert second.stream_states == [{"cursor": iso_of_ns(T3), "modified_us": T3 // 1000, "history": history(a, b)}]

    csv_file(a, [1, 10, 100], T2)  # another, with the same time and another size
    third = connector.run("read", config, catalog, resume(second.stream_states[-1]))
    assert ids(third) == [1, 10, 100], third.describe()
    assert third.stream_states[-1]["history"] == history(a, b)

    fourth = connector.run("read", config, catalog, resume(third.stream_states[-1]))
    assert ids(fourth) == [], fourth.describe()


def test_s3_object_restored_with_its_old_last_modified_is_read(connector, s3, bucket, s3_settings):
    """In a versioned bucket, removing an object's delete marker brings its last version back, LastModified and
    all: an object older than the newest one read appears in the listing."""
    csv = lambda numbers: ("id,word\n" + "".join(f"{i},w{i}\n" for i in numbers)).encode()  # noqa: E731
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="in/old.csv", Body=csv([1, 2]))
    old = s3.head_object(Bucket=bucket, Key="in/old.csv")["LastModified"]
    marker = s3.delete_object(Bucket=bucket, Key="in/old.csv")["VersionId"]
    _wait_for_next_second(old)
    s3.put_object(Bucket=bucket, Key="in/new.csv", Body=csv([3]))
    newer = s3.head_object(Bucket=bucket, Key="in/new.csv")["LastModified"]
    config = config_of(stream("files", f"s3://{bucket}/in/*.csv"), **s3_settings)
    catalog = connector.catalog(config, "incremental")
    first = connector.run("read", config, catalog)
    assert ids(first) == [3], first.describe()

    s3.delete_object(Bucket=bucket, Key="in/old.csv", VersionId=marker)
    assert s3.head_object(Bucket=bucket, Key="in/old.csv")["LastModified"] == old < newer
    second = connector.run("read", config, catalog, resume(first.stream_states[-1]))
    assert second.exit_code == 0, second.describe()
    assert ids(second) == [1, 2]
    newer_us, old_us = int(newer.timestamp()) * 1_000_000, int(old.timestamp()) * 1_000_000
    assert second.stream_states == [{"cursor": newer.strftime("%Y-%m-%dT%H:%M:%S.000000Z"), "modified_us": newer_us,
                                     "history": {f"s3://{bucket}/in/new.csv": [newer_us, len(csv([3]))],
                                                 f"s3://{bucket}/in/old.csv": [old_us, len(csv([1, 2]))]}}]  # fmt: skip

    third = connector.run("read", config, catalog, resume(second.stream_states[-1]))
    assert ids(third) == [], third.describe()


# ---------------------------------------------------------------- states of the earlier shape


def test_a_state_of_the_earlier_shape_goes_on_where_it_stopped(connector, data_dir):
    """A cursor state (`modified_us`, `files_at_cursor`, `sizes_at_cursor`) leaves the same files to read as it did,
    and the read writes today's shape."""
    csv_file(data_dir / "old.csv", [1], T1)  # older than the cursor: read
    c = csv_file(data_dir / "c.csv", [2], T2)  # read at the cursor's time
    f = csv_file(data_dir / "f.csv", [3], T2)  # the same, by a version that kept no sizes
    a = csv_file(data_dir / "a.csv", [4], T2)  # at the cursor's time, not read yet
    d = csv_file(data_dir / "d.csv", [5, 6], T3)  # newer
    legacy = {"cursor": iso_of_ns(T2), "modified_us": T2 // 1000, "files_at_cursor": [str(c), str(f)],
              "sizes_at_cursor": {str(c): c.stat().st_size}}  # fmt: skip
    config = config_of(stream("files", data_dir / "*.csv"))
    catalog = connector.catalog(config, "incremental")
    run = connector.run("read", config, catalog, resume(legacy))
    assert run.exit_code == 0, run.describe()
    assert ids(run) == [4, 5, 6]
    assert run.stream_states == [{"cursor": iso_of_ns(T3), "modified_us": T3 // 1000,
                                  "history": history(c, f, a, d), "horizon_us": T2 // 1000 - 1}]  # fmt: skip

    e = csv_file(data_dir / "e.csv", [7], T2)  # lands later at the old cursor's time (S3 keeps whole seconds)
    csv_file(data_dir / "g.csv", [8], T1 + 10**9)  # older than the old cursor: behind the horizon, never read
    after = connector.run("read", config, catalog, resume(run.stream_states[-1]))
    assert after.exit_code == 0, after.describe()
    assert ids(after) == [7]
    assert after.stream_states[-1]["history"] == history(c, f, a, d, e)

    # with nothing new, such a state is said again in today's shape
    quiet = connector.run("read", config, catalog, resume({"modified_us": T3 // 1000, "files_at_cursor": [str(d)]}))
    assert ids(quiet) == [], quiet.describe()
    assert quiet.stream_states == [{"cursor": iso_of_ns(T3), "modified_us": T3 // 1000, "history": history(d),
                                    "horizon_us": T3 // 1000 - 1}]  # fmt: skip


# ---------------------------------------------------------------- STATEs at the checkpoint interval


def test_many_files_read_within_the_interval_get_one_state(connector, data_dir):
    paths = [csv_file(data_dir / f"f{n:03}.csv", [n], BASE_NS + n * 10**9) for n in range(200)]
    config = config_of(stream("files", data_dir / "*.csv"))
    catalog = connector.catalog(config, "incremental")
    run = connector.run("read", config, catalog)
    assert run.exit_code == 0, run.describe()
    assert ids(run) == list(range(200))
    newest = BASE_NS + 199 * 10**9
    assert run.stream_states == [{"cursor": iso_of_ns(newest), "modified_us": newest // 1000,
                                  "history": history(*paths)}]  # fmt: skip
    again = connector.run("read", config, catalog, resume(run.stream_states[-1]))
    assert ids(again) == [], again.describe()


LOGGER = logging.getLogger("test-source-file")


class BatchClock:
    """The reader's clock in a read in process: a second passes with every batch of records it hands out (every
    file here is one batch), so that STATEs come at a known rhythm."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


def read_in_process(config: dict, state: dict | None, clock: BatchClock) -> list[tuple[str, Any]]:
    """("ids", [...]) for each batch of records and ("STATE", {...}) for each STATE of a read in this process."""
    source = source_module.SourceFile()
    streams = source.discover(LOGGER, config).streams
    catalog = ConfiguredAirbyteCatalog(streams=[
        ConfiguredAirbyteStream(stream=s, sync_mode=SyncMode.incremental, cursor_field=[FILE_MODIFIED],
                                destination_sync_mode=DestinationSyncMode.append) for s in streams])  # fmt: skip
    states = [AirbyteStateMessageSerializer.load(m) for m in resume(state)] if state is not None else None
    out: list[tuple[str, Any]] = []
    for message in source.read(LOGGER, config, catalog, states):
        if isinstance(message, Records):
            out.append(("ids", message.batch.column("id").to_pylist()))
            clock.now += 1
        elif message.type == Type.STATE:
            out.append(("STATE", AirbyteMessageSerializer.dump(message)["state"]["stream"]["stream_state"]))
    return out


def test_states_come_at_the_interval_and_resuming_from_any_reads_exactly_the_rest(data_dir, monkeypatch):
    clock = BatchClock()
    monkeypatch.setattr(source_module, "time", clock)
    paths = [csv_file(data_dir / f"f{n}.csv", [n], BASE_NS + n * 10**9) for n in range(10)]
    config = config_of(stream("files", data_dir / "*.csv"), checkpoint_interval_seconds=2.5)
    full = read_in_process(config, None, clock)
    # a file takes a second: a STATE after the third file since the last one, and after the last file
    assert [v if kind == "ids" else "STATE" for kind, v in full] == [
        [0], [1], [2], "STATE", [3], [4], [5], "STATE", [6], [7], [8], "STATE", [9], "STATE"
    ]  # fmt: skip
    states = [v for kind, v in full if kind == "STATE"]
    covered = [3, 6, 9, 10]
    for state, count in zip(states, covered, strict=True):
        newest = BASE_NS + (count - 1) * 10**9
        assert state == {"cursor": iso_of_ns(newest), "modified_us": newest // 1000, "history": history(*paths[:count])}

    for state, count in zip(states, covered, strict=True):  # a crash right after each STATE
        rest = read_in_process(config, state, clock)
        assert [i for kind, v in rest if kind == "ids" for i in v] == list(range(count, 10)), count
        assert [v for kind, v in rest if kind == "STATE"][-1] == states[-1]


def test_a_failing_file_leaves_a_state_for_the_files_read_before_it(connector, data_dir):
    schema = {"type": "object", "properties": {"id": {"type": "integer"}, "word": {"type": "string"}}}
    a = csv_file(data_dir / "a.csv", [1], T1)
    b = set_mtime(write(data_dir / "b.csv", "id,word\nnot a number,w\n"), T2)
    config = config_of(stream("files", data_dir / "*.csv", schema=schema))
    catalog = connector.catalog(config, "incremental")
    csv_file(data_dir / "c.csv", [3], T3)
    failed = connector.run("read", config, catalog)
    assert failed.exit_code != 0
    assert ids(failed) == [1]
    assert failed.stream_states == [{"cursor": iso_of_ns(T1), "modified_us": T1 // 1000, "history": history(a)}]
    csv_file(b, [2], T2)  # fixed
    rest = connector.run("read", config, catalog, resume(failed.stream_states[-1]))
    assert rest.exit_code == 0, rest.describe()
    assert ids(rest) == [2, 3]


# ---------------------------------------------------------------- the bound on the history


def test_the_history_keeps_the_newest_files_and_a_horizon_below_them(data_dir, monkeypatch):
    monkeypatch.setattr(source_module, "HISTORY_MAX", 3)
    clock = BatchClock()
    paths = [csv_file(data_dir / f"f{n}.csv", [n], BASE_NS + n * 10**9) for n in range(5)]
    config = config_of(stream("files", data_dir / "*.csv"))
    (*_, (_, state)) = read_in_process(config, None, clock)
    newest = BASE_NS + 4 * 10**9
    assert state == {"cursor": iso_of_ns(newest), "modified_us": newest // 1000, "history": history(*paths[2:]),
                     "horizon_us": (BASE_NS + 10**9) // 1000}  # fmt: skip

    csv_file(data_dir / "below.csv", [50], BASE_NS + 10**9 - 1000)  # not newer than the horizon: counts as read
    csv_file(data_dir / "above.csv", [60], BASE_NS + 10**9 + 1000)  # newer than the horizon, older than the rest
    csv_file(paths[0], [0, 70], BASE_NS + 3 * 10**9)  # let go of, then rewritten: newer than the horizon
    rest = read_in_process(config, state, clock)
    assert [i for kind, v in rest if kind == "ids" for i in v] == [60, 0, 70]
    (*_, (_, after)) = rest
    assert len(after["history"]) == 3
    assert after["horizon_us"] == (BASE_NS + 2 * 10**9) // 1000  # above.csv and f2.csv let go of


def test_trimming_never_covers_a_file_still_to_read(monkeypatch):
    monkeypatch.setattr(source_module, "HISTORY_MAX", 1)
    History = source_module.History
    t = T2 // 1000
    p, x, y = (FileRef(t, f"/d/{n}.csv", f"/d/{n}.csv", 10) for n in "pxy")
    history_ = History({"modified_us": t, "history": {p.url: [t, 10]}})
    assert [history_.unread(f) for f in (p, x, y)] == [False, True, True]
    history_.add(x)
    history_.trim([y])  # a STATE between x and y, which has the same time (S3: the same second)
    between = history_.state()
    assert between == {"cursor": iso_of_ns(T2 // 1000 * 1000), "modified_us": t,
                       "history": {p.url: [t, 10], x.url: [t, 10]}}  # over the bound until y is read  # fmt: skip
    assert History(between).unread(y)
    history_.add(y)
    history_.trim([])
    assert history_.state()["history"] == {y.url: [t, 10]}
    assert history_.state()["horizon_us"] == t

    # a file rewritten with a time behind the horizon, still to read: its entry stays until it is read
    r, q = FileRef(t - 5, "/d/r.csv", "/d/r.csv", 11), FileRef(t - 5, "/d/q.csv", "/d/q.csv", 10)
    history_ = History({"modified_us": t, "history": {r.url: [t - 9, 10], p.url: [t, 10]}, "horizon_us": t - 1})
    assert history_.unread(r) and not history_.unread(q)  # q: behind the horizon
    history_.add(p)
    history_.trim([r])
    assert History(history_.state()).unread(r)
