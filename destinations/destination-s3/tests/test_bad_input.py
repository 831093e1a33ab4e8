"""Bad input and bad names: a TRACE ERROR and a non-zero exit, and nothing published after the last echoed STATE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from source_core.testing import catalog, record, state, status, stream_entry

from .conftest import KEY_ID, SECRET, Cli, LocalStore, S3Store, Store, read_file

PROPS = {"id": {"type": "integer"}}
HEAD = "default/events/"


def ids_in(store: Store, head: str = HEAD) -> list[int]:
    files = [p for p in store.files(head) if not p.endswith("_airbyte_generation")]
    return sorted(row["id"] for path in files for row in read_file(store.read(path), "parquet"))


def test_record_of_unknown_stream_fails_and_publishes_nothing_after_last_state(cli: Cli, store: Store) -> None:
    cat = catalog(stream_entry("events", PROPS, mode="overwrite"))
    config = store.config(commit_interval_rows=1)
    old = cli.write(config, cat, [record("events", {"id": -1}), state("events", {"n": 0})])
    assert old.exit_code == 0, old.describe()
    old_files = store.files(HEAD)

    live = cli.start_write(config, cat)
    try:
        live.send([record("events", {"id": n}) for n in range(100)] + [state("events", {"n": 100})])
        live.wait_states(1)
        live.send([record("events", {"id": n}) for n in range(100, 200)] + [status("events", "COMPLETE")])
        live.send([record("ghost", {"id": 0}), state("events", {"n": 200})])
        run = live.finish()
    finally:
        live.kill()
    assert run.exit_code != 0
    (error,) = run.errors
    assert "ghost" in error["message"] and "stdin line" in error["message"], error
    assert run.stream_states == [{"n": 100}], "only the STATE before the bad line may be echoed"
    assert run.states[0]["destinationStats"]["recordCount"] == 100
    files = store.files(HEAD)
    assert files == old_files, "a failed overwrite must leave the earlier sync's files, and only them, in view"
    shadow = "default/.airbyte_tmp/events/"
    parts = [f for f in store.files(shadow) if not f.endswith("_airbyte_generation")]
    assert len(parts) == 1, parts
    assert ids_in(store, shadow) == list(range(100)), "rows after the last echoed STATE were published"
    if isinstance(store, LocalStore):
        assert store.entries() == sorted([*files, *store.files(shadow)]), "temporary files were left behind"


@pytest.mark.parametrize(
    "bad",
    [
        record("ghost", {"id": 1}),
        state("ghost", {"n": 1}),
    ],
    ids=["record of unknown stream", "state of unknown stream"],
)
def test_bad_message_in_the_only_chunk_publishes_nothing(cli: Cli, local_store: LocalStore, bad: Any) -> None:
    messages = [record("events", {"id": n}) for n in range(10)] + [state("events", {"n": 10}), bad]
    run = cli.write(local_store.config(commit_interval_rows=1), catalog(stream_entry("events", PROPS)), messages)
    assert run.exit_code != 0
    (error,) = run.errors
    assert "stdin line 12" in error["message"], error
    assert run.states == []
    assert local_store.entries() == []


def test_line_that_is_not_json_is_skipped_with_a_warning(cli: Cli, local_store: LocalStore) -> None:
    data = b'{"type":"RECORD","record":{"stream":"events","data":{"id":1},"emitted_at":1}}\nnot json at all\n'
    run = cli.write(local_store.config(), catalog(stream_entry("events", PROPS)), data)
    assert run.exit_code == 0, run.describe()
    warnings = [m["log"]["message"] for m in run.of("LOG") if m["log"]["level"] == "WARN"]
    assert any("stdin line 2 is not JSON" in w and "not json at all" in w for w in warnings), warnings
    assert ids_in(local_store) == [1]


@pytest.mark.parametrize(
    ("name", "namespace", "shown"),
    [("a/b", None, "'a/b'"), ("t", "x/y", "'x/y'"), ("..", None, "'..'")],
)
def test_names_that_are_not_one_folder_are_refused(
    cli: Cli, local_store: LocalStore, name: str, namespace: str | None, shown: str
) -> None:
    cat = catalog(stream_entry(name, PROPS, namespace=namespace))
    run = cli.write(local_store.config(), cat, [record(name, {"id": 1}, namespace), state(name, 1, namespace)])
    assert run.exit_code != 0
    (error,) = run.errors
    assert error["failure_type"] == "config_error", error
    assert shown in error["message"], error["message"]
    assert run.states == []
    assert local_store.entries() == []


@pytest.mark.parametrize("case", ["path below a file", "missing bucket"])
def test_write_to_a_destination_that_cannot_be_is_a_config_error(
    cli: Cli, tmp_path: Path, s3_store: S3Store, case: str
) -> None:
    """A destination_path the user must change fails as a config_error saying what is wrong, before any row."""
    a_file = tmp_path / "plain.txt"
    a_file.write_text("not a folder")
    config, words = {
        "path below a file": ({"destination_path": str(a_file / "lake")}, [str(a_file / "lake"), "folder"]),
        "missing bucket": (
            s3_store.config(destination_path="s3://no-such-bucket-here/raw"),
            ["s3://no-such-bucket-here/raw", "'no-such-bucket-here' does not exist"],
        ),
    }[case]
    run = cli.write(config, catalog(stream_entry("events", PROPS)), [record("events", {"id": 1}), state("events", 1)])
    assert run.exit_code != 0
    (error,) = run.errors
    assert error["failure_type"] == "config_error", error
    for word in words:
        assert word in error["message"], error["message"]
    assert run.states == []
    assert SECRET not in run.stdout + run.stderr and KEY_ID not in run.stdout + run.stderr, "a secret was printed"
