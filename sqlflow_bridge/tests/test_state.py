"""State stores on real files: what a later read starts from."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlflow_bridge.state import DeferredStateStore, DuckDBStateStore, FileStateStore, StateStore


def stream_state(name: str, value: int, namespace: str | None = None) -> dict:
    descriptor = {"name": name} | ({"namespace": namespace} if namespace else {})
    return {"type": "STREAM", "stream": {"stream_descriptor": descriptor, "stream_state": {"cursor": value}},
            "sourceStats": {"recordCount": 3.0}}  # fmt: skip


@pytest.fixture(params=["file", "duckdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StateStore:
    return FileStateStore(tmp_path / "s.json") if request.param == "file" else DuckDBStateStore(tmp_path / "s.duckdb")


def test_latest_state_per_stream_and_scope(store: StateStore) -> None:
    store.commit("a", [stream_state("x", 1), stream_state("y", 1, "ns"), stream_state("x", 2)])
    store.commit("b", [stream_state("x", 9)])
    store.commit("a", [stream_state("y", 3, "ns")])
    found = {s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"]["cursor"] for s in store.load("a")}
    assert found == {"x": 2, "y": 3}
    assert [s["stream"]["stream_state"]["cursor"] for s in store.load("b")] == [9]
    assert all("sourceStats" not in s for s in store.load("a"))


def test_global_state_replaces_stream_states(store: StateStore) -> None:
    store.commit("a", [stream_state("x", 1)])
    global_state = {"type": "GLOBAL", "global": {"shared_state": {"lsn": 5}, "stream_states": []}}
    store.commit("a", [global_state])
    assert store.load("a") == [global_state]


def test_a_store_survives_reopening(tmp_path: Path) -> None:
    DuckDBStateStore(tmp_path / "s.duckdb").commit("a", [stream_state("x", 4)])
    (state,) = DuckDBStateStore(tmp_path / "s.duckdb").load("a")
    assert state["stream"]["stream_state"] == {"cursor": 4}


def test_deferred_commits_reach_the_store_only_on_flush(store: StateStore) -> None:
    store.commit("a", [stream_state("x", 1)])
    deferred = DeferredStateStore(store)
    deferred.commit("a", [stream_state("x", 2)])
    assert [s["stream"]["stream_state"]["cursor"] for s in deferred.load("a")] == [2]
    assert [s["stream"]["stream_state"]["cursor"] for s in store.load("a")] == [1]
    deferred.flush()
    assert [s["stream"]["stream_state"]["cursor"] for s in store.load("a")] == [2]


def test_legacy_state_is_refused(store: StateStore) -> None:
    with pytest.raises(Exception, match="LEGACY"):
        store.commit("a", [{"type": "LEGACY", "data": {}}])


def test_a_scope_is_apart_from_the_scopes_it_prefixes(store: StateStore) -> None:
    store.commit("prod/x", [stream_state("orders", 41)])
    assert store.load("prod") == []
    store.commit("prod", [stream_state("a/b", 1, "ns/1%2F")])
    assert [s["stream"]["stream_state"]["cursor"] for s in store.load("prod/x")] == [41]
    (state,) = store.load("prod")
    assert state["stream"]["stream_descriptor"] == {"name": "a/b", "namespace": "ns/1%2F"}


def test_a_file_store_in_a_new_relative_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative `state_path` whose folder does not exist yet: the folder is made and the state written there."""
    monkeypatch.chdir(tmp_path)
    store = FileStateStore("states/pipeline.json")
    store.commit("s", [stream_state("a", 1)])
    (state,) = FileStateStore(tmp_path / "states" / "pipeline.json").load("s")
    assert state["stream"]["stream_state"] == {"cursor": 1}
    assert [p.name for p in (tmp_path / "states").iterdir()] == ["pipeline.json"]  # no temporary file left
