"""Local files written for good: fsynced, renamed into place, their folder fsynced, so that a power loss cannot undo
a file once it was reported written (a STATE echoed, a state committed)."""

from __future__ import annotations

import os


def sync_to_disk(path: str) -> None:
    """fsync a local file (its data) or folder (its entries), so that a power loss cannot undo what is in it."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def make_folders(folder: str) -> None:
    """`os.makedirs`, each folder it makes synced to the disk as an entry of its parent."""
    folder = os.path.abspath(folder)
    if os.path.isdir(folder):
        return
    make_folders(os.path.dirname(folder))
    try:
        os.mkdir(folder)
    except FileExistsError:
        if not os.path.isdir(folder):  # a file: no folder can be made there
            raise
    sync_to_disk(os.path.dirname(folder))


def place(source: str, final: str) -> None:
    """Rename a local file into place for good: its data on the disk first, then the rename (all or nothing), then
    its entry in the folder, so that a file whose STATE was echoed survives a power loss."""
    folder = os.path.dirname(os.path.abspath(final))
    make_folders(folder)
    sync_to_disk(source)
    os.replace(source, final)
    sync_to_disk(folder)
