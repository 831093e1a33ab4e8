"""Incremental reads by modification time: files at the cursor's exact time, newer files, nothing new, and resuming
from any STATE (as after a crash) with no duplicates and no gaps, on local files and on S3."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from source_core.testing import Run, parse_output

from .conftest import BASE_NS, FILE_MODIFIED, FILE_URL, config_of, iso_of_ns, set_mtime, stream, write

T1 = BASE_NS + 5 * 10**9 + 123_456_789  # sub-microsecond digits are dropped: 123456 us
T2 = BASE_NS + 9 * 10**9 + 987_654_000
T3 = BASE_NS + 20 * 10**9


def ids(run: Run) -> list[int]:
    return [d["id"] for d in run.data]


def csv_file(path: Path, ids_: list[int], ns: int) -> Path:
    write(path, "id,word\n" + "".join(f"{i},w{i}\n" for i in ids_))
    return set_mtime(path, ns)


def sizes(*files: Path) -> dict[str, int]:
    """The `sizes_at_cursor` of a STATE after reading `files`."""
    return {str(f): f.stat().st_size for f in files}


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
    assert first.stream_states == [
        {"cursor": iso_of_ns(T1), "modified_us": T1 // 1000, "files_at_cursor": [str(b)], "sizes_at_cursor": sizes(b)},
        {"cursor": iso_of_ns(T2), "modified_us": T2 // 1000, "files_at_cursor": [str(c)], "sizes_at_cursor": sizes(c)},
    ]
    assert [s["sourceStats"]["recordCount"] for s in first.states] == [2, 1]

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
        {
            "cursor": iso_of_ns(T2),
            "modified_us": T2 // 1000,
            "files_at_cursor": sorted([str(a), str(c)]),
            "sizes_at_cursor": sizes(a, c),
        },
        {"cursor": iso_of_ns(T3), "modified_us": T3 // 1000, "files_at_cursor": [str(d)], "sizes_at_cursor": sizes(d)},
    ]
    assert [s["sourceStats"]["recordCount"] for s in second.states] == [1, 2]

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
    config = config_of(stream("files", data_dir / "**" / "*.csv"))
    catalog = connector.catalog(config, "incremental")
    full = connector.run("read", config, catalog)
    assert full.exit_code == 0, full.describe()
    assert ids(full) == [1, 2, 3, 4, 5, 6]
    assert full.stream_states[1]["files_at_cursor"] == [str(data_dir / "sub" / "k.csv")]
    assert full.stream_states[2]["files_at_cursor"] == [str(data_dir / "sub" / n) for n in ("k.csv", "l.csv")]

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
    assert run.stream_states == [{"cursor": iso_of_ns(T1), "modified_us": T1 // 1000,
                                  "files_at_cursor": [str(data_dir / "a.csv")],
                                  "sizes_at_cursor": sizes(data_dir / "a.csv")}]  # fmt: skip


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
    config = config_of(stream("files", data_dir / "*.csv"))
    catalog = connector.catalog(config)
    first = connector.run("read", config, catalog)
    assert first.stream_states[0] == {"cursor": iso_of_ns(T1), "modified_us": T1 // 1000,
                                      "files_at_cursor": [str(data_dir / "a.csv")],
                                      "sizes_at_cursor": sizes(data_dir / "a.csv"), "full_refresh": True}  # fmt: skip
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
    config = config_of(stream("files", f"s3://{bucket}/in/**/*.csv"), **s3_settings)
    catalog = connector.catalog(config, "incremental")

    first = connector.run("read", config, catalog)
    assert first.exit_code == 0, first.describe()
    assert ids(first) == [1, 2, 3]  # one modification time: by URL (in/b.csv < in/deep/a.csv)
    assert [d[FILE_MODIFIED] for d in first.data] == [shared.strftime("%Y-%m-%dT%H:%M:%S.000000Z")] * 3
    assert first.stream_states == [
        {"cursor": shared.strftime("%Y-%m-%dT%H:%M:%S.000000Z"), "modified_us": shared_us, "files_at_cursor": [url_b],
         "sizes_at_cursor": {url_b: len(csv([1, 2]))}},
        {"cursor": shared.strftime("%Y-%m-%dT%H:%M:%S.000000Z"), "modified_us": shared_us,
         "files_at_cursor": [url_b, url_a], "sizes_at_cursor": {url_b: len(csv([1, 2])), url_a: len(csv([3]))}},
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
    assert after.stream_states == [{"cursor": newer.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                                    "modified_us": int(newer.timestamp()) * 1_000_000,
                                    "files_at_cursor": [f"s3://{bucket}/in/c.csv"],
                                    "sizes_at_cursor": {f"s3://{bucket}/in/c.csv": len(csv([4]))}}]  # fmt: skip


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
    url = f"s3://{bucket}/in/k.csv"
    assert first.stream_states[-1]["sizes_at_cursor"] == {url: len(csv([1]))}
    assert second.stream_states[-1]["sizes_at_cursor"] == {url: len(csv([1, 2, 3]))}
    third = connector.run("read", config, catalog, resume(second.stream_states[-1]))
    assert ids(third) == []
