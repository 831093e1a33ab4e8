"""Crash safety, for real: SIGKILL the destination in the middle of a large write, rerun from the last STATE it
echoed, and compare the final table with an uninterrupted run of the same sync."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from typing import Any

import pytest

from source_core.testing import catalog, lines, record, state, status, stream_entry

from .conftest import Destination

ROWS = 120_000
STATE_EVERY = 2_000
PROPS = {"id": {"type": "integer"}, "v": {"type": "string"}, "updated": {"type": "integer"}}
SETTINGS = {"commit_interval_rows": 10_000, "commit_interval_seconds": 1}


def source_output(stream: str, start: int) -> list[dict[str, Any]]:
    """What a source resumed after `start` records would send: the rest, a STATE every STATE_EVERY records."""
    messages: list[dict[str, Any]] = [status(stream, "STARTED")]
    for n in range(start, ROWS):
        messages.append(record(stream, {"id": n, "v": f"value {n}", "updated": n}))
        if (n + 1) % STATE_EVERY == 0:
            messages.append(state(stream, {"after": n + 1}))
    messages.append(status(stream, "COMPLETE"))
    return messages


def entry(stream: str, mode: str) -> dict[str, Any]:
    return stream_entry(stream, PROPS, mode=mode, primary_key=["id"], cursor="updated", generation_id=1,
                        minimum_generation_id=1 if mode == "overwrite" else 0)  # fmt: skip


def write_and_kill(dest: Destination, cat: dict[str, Any], messages: list[dict[str, Any]]) -> int:
    """Feed `messages` slowly, SIGKILL the destination once it has echoed three STATEs; the last one's position."""
    command = dest.command("write", cat, {**dest.config, **SETTINGS})
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    data = lines(messages)

    def feed() -> None:
        try:
            for at in range(0, len(data), 256 << 10):
                process.stdin.write(data[at : at + (256 << 10)])
                process.stdin.flush()
                time.sleep(0.02)
            process.stdin.close()
        except (BrokenPipeError, ValueError):
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    echoed: list[int] = []
    for line in process.stdout:  # read to the end: STATEs echoed just before the kill are still in the pipe
        message = json.loads(line)
        if message["type"] == "STATE":
            echoed.append(message["state"]["stream"]["stream_state"]["after"])
            if len(echoed) == 3:
                os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    feeder.join(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the write ended before it could be killed: feed more rows"
    assert echoed[-1] < ROWS, "the kill came after the last record"
    return echoed[-1]


@pytest.mark.parametrize("mode", ["append", "append_dedup", "overwrite"])
def test_sigkill_mid_write_then_rerun_from_last_echoed_state(dest: Destination, mode: str) -> None:
    reference = dest.write(catalog(entry("reference", mode)), source_output("reference", 0), **SETTINGS)
    assert reference.exit_code == 0, reference.stderr
    if mode == "overwrite":  # a table from an earlier sync, which must stay readable until the new one is complete
        old = dest.write(catalog(stream_entry("t", PROPS)), [record("t", {"id": -1, "v": "old", "updated": -1})])
        assert old.exit_code == 0, old.stderr

    acknowledged = write_and_kill(dest, catalog(entry("t", mode)), source_output("t", 0))
    after_crash = Counter(row["id"] for row in dest.rows("t"))
    if mode == "overwrite":
        assert after_crash == Counter({-1: 1}), "the old table must stay as it was until the overwrite completes"
    else:
        assert all(after_crash[n] == 1 for n in range(acknowledged)), "an acknowledged row is missing"
        assert max(after_crash.values()) == 1

    rerun = dest.write(catalog(entry("t", mode)), source_output("t", acknowledged), **SETTINGS)
    assert rerun.exit_code == 0, rerun.stderr
    final = Counter((row["id"], row["v"], row["updated"]) for row in dest.rows("t"))
    expected = Counter((row["id"], row["v"], row["updated"]) for row in dest.rows("reference"))
    assert sum(expected.values()) == ROWS
    if mode == "append":
        extra = final - expected
        assert not expected - final, "rows were lost"
        assert all(n >= acknowledged for n, _, _ in extra), "a row before the acknowledged state was duplicated"
    else:
        assert final == expected
