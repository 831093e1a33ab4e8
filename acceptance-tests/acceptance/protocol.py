"""What every test needs from a connector: its spec, its catalog, configured catalogs, and reads."""

from __future__ import annotations

import copy
import functools
import tempfile
from pathlib import Path
from typing import Any

from acceptance.runner import Output, invoke


@functools.cache
def spec_of(target: Any) -> dict[str, Any]:
    """The connector's SPEC (run once per connector and way of running it)."""
    out = invoke(target.runner, Path(tempfile.mkdtemp(prefix="acceptance-spec-")), "spec")
    specs = out.of_type("SPEC")
    assert out.exit_code == 0 and len(specs) == 1, f"spec: expected one SPEC and exit 0; {out.describe()}"
    return specs[0]["spec"]


def discovered(target: Any, config: dict[str, Any], workdir: Path) -> list[dict[str, Any]]:
    out = invoke(target.runner, workdir, "discover", config=config)
    catalogs = out.of_type("CATALOG")
    assert out.exit_code == 0 and len(catalogs) == 1, f"discover: expected one CATALOG; {out.describe()}"
    return catalogs[0]["catalog"]["streams"]


def configured_catalog(
    target: Any, entry: dict[str, Any], config: dict[str, Any], workdir: Path, sync_mode: str | None = None
) -> dict[str, Any]:
    """The entry's configured catalog with each stream as discovered (as Airbyte's acceptance tests do), or every
    discovered stream; with `sync_mode`, only the streams that can be read so, all set to it."""
    streams = {s["name"]: s for s in discovered(target, config, workdir)}
    if path := entry.get("configured_catalog_path"):
        catalog = target.connector.json_file(path)
        for configured in catalog["streams"]:
            configured["stream"] = copy.deepcopy(streams[configured["stream"]["name"]])
    else:
        catalog = {
            "streams": [
                {"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
                for stream in streams.values()
            ]
        }
    if sync_mode == "incremental":  # the streams the catalog reads incrementally, or those with a cursor
        catalog["streams"] = [
            c
            for c in catalog["streams"]
            if (c["sync_mode"] == "incremental" if path else c["stream"].get("default_cursor_field"))
        ]
    elif sync_mode:
        catalog["streams"] = [c for c in catalog["streams"] if sync_mode in c["stream"]["supported_sync_modes"]]
    for configured in catalog["streams"]:
        configured["sync_mode"] = sync_mode or configured["sync_mode"]
        if configured["sync_mode"] == "incremental" and not configured.get("cursor_field"):
            configured["cursor_field"] = configured["stream"]["default_cursor_field"]
    return catalog


def read(target: Any, workdir: Path, config: dict[str, Any], catalog: dict[str, Any], state: Any = None) -> Output:
    out = invoke(target.runner, workdir, "read", config=config, catalog=catalog, state=state)
    assert out.exit_code == 0 and not out.errors, f"read failed: {out.describe()}"
    return out
