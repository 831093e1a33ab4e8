"""Durability on a local disk, seen through strace: before a STATE is echoed, the file holding its rows is on the
disk (fsync of the part file, then the rename into place, then fsync of every folder whose entries changed), so a
power loss cannot lose rows the source was told are written. strace must be installed: without it this fails."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from source_core.testing import catalog, lines, record, state, stream_entry

from .conftest import Cli, LocalStore

CALLS = "trace=fsync,fdatasync,rename,renameat,renameat2,write"
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def traced_write(cli: Cli, store: LocalStore, trace: Path) -> list[str]:
    """A one-row write under strace (`-y`: each file descriptor shown with its path); the calls in order."""
    command = cli.command("write", store.config(format="csv"), catalog(stream_entry("s", {"id": {"type": "integer"}})))
    strace = ["strace", "-f", "-qq", "-y", "-s", "200", "-e", CALLS, "-o", str(trace)]
    messages = lines([record("s", {"id": 1}), state("s", {"n": 1})])
    done = subprocess.run([*strace, *command], input=messages, capture_output=True, env=cli.env, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert b'"STATE"' in done.stdout, done.stdout
    return trace.read_text().splitlines()


def fsynced(calls: list[str], path: str) -> list[int]:
    """The positions of the fsync calls of `path`."""
    return [n for n, call in enumerate(calls) if re.search(rf"\bf(data)?sync\(\d+<{re.escape(path)}>\)", call)]


def test_local_file_and_folders_are_synced_before_the_state(cli: Cli, local_store: LocalStore, tmp_path: Path) -> None:
    calls = traced_write(cli, local_store, tmp_path / "trace.txt")
    (echo,) = [n for n, call in enumerate(calls) if re.search(r"\bwrite\(1<.*STATE", call)]
    (rename,) = [n for n, call in enumerate(calls) if re.search(r"\brename(at2?)?\(", call)]
    scratch, final = QUOTED.findall(calls[rename])[:2]
    assert final.startswith(f"{local_store.folder}/default/s/"), calls[rename]
    assert rename < echo, "the STATE was echoed before its file was in place"
    assert [n for n in fsynced(calls, scratch) if n < rename], "the part file's data was not synced before the rename"
    folder = Path(final).parent
    assert [n for n in fsynced(calls, str(folder)) if rename < n < echo], "the file's folder was not synced"
    made = (folder.parent, folder.parent.parent, local_store.folder, local_store.folder.parent)  # new folders' parents
    for parent in made:
        assert [n for n in fsynced(calls, str(parent)) if n < echo], (
            f"{parent} not synced after a folder was made in it"
        )
