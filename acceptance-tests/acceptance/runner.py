"""Run a connector through its command line or its image and parse what it prints.

Both runners see the same paths: the command runs in the repository root; the image runs on the host network with
the repository mounted read-only at its own path (as working folder) and the test's working folder mounted
read-write at its own path. Every stdout line must be an Airbyte protocol message, whatever the command.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from airbyte_cdk.models import AirbyteMessageSerializer

from acceptance.connectors import REPOSITORY

TIMEOUT_SECONDS = 600


@dataclass
class Output:
    exit_code: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for number, line in enumerate(self.stdout.splitlines(), 1):
            try:
                message = json.loads(line)
                AirbyteMessageSerializer.load(message)
            except Exception as error:  # noqa: BLE001 - any failure means the line is not a protocol message
                raise AssertionError(
                    f"stdout line {number} is not an Airbyte message ({error}): {line[:300]!r}"
                ) from None
            self.messages.append(message)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    @property
    def records(self) -> list[dict[str, Any]]:
        return [m["record"] for m in self.of_type("RECORD")]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["state"] for m in self.of_type("STATE")]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"]["type"] == "ERROR"]

    def describe(self) -> str:
        return f"exit {self.exit_code}; stderr tail: {self.stderr[-1500:]}; stdout tail: {self.stdout[-1500:]}"


class Runner(Protocol):
    label: str

    def run(self, args: list[str], workdir: Path, stdin: bytes | None = None) -> Output: ...


def _completed(argv: list[str], stdin: bytes | None, cwd: Path | None = None) -> Output:
    done = subprocess.run(argv, input=stdin or b"", capture_output=True, cwd=cwd, timeout=TIMEOUT_SECONDS)
    return Output(done.returncode, done.stdout.decode(), done.stderr.decode(errors="replace"))


@dataclass(frozen=True)
class CommandRunner:
    command: tuple[str, ...]

    @property
    def label(self) -> str:
        return " ".join(self.command)

    def argv(self, args: list[str], workdir: Path) -> list[str]:
        return [*self.command, *args]

    def run(self, args: list[str], workdir: Path, stdin: bytes | None = None) -> Output:
        return _completed(self.argv(args, workdir), stdin, cwd=REPOSITORY)


@dataclass(frozen=True)
class ImageRunner:
    image: str

    @property
    def label(self) -> str:
        return self.image

    def argv(self, args: list[str], workdir: Path) -> list[str]:
        os.chmod(workdir, 0o777)  # the image runs as a non-root user
        mounts = ["-v", f"{REPOSITORY}:{REPOSITORY}:ro", "-v", f"{workdir}:{workdir}", "-w", str(REPOSITORY)]
        return ["docker", "run", "--rm", "-i", "--network", "host", *mounts, self.image, *args]

    def run(self, args: list[str], workdir: Path, stdin: bytes | None = None) -> Output:
        return _completed(self.argv(args, workdir), stdin)


def invoke(
    runner: Runner,
    workdir: Path,
    command: str,
    *,
    config: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
    state: Any = None,
    stdin: bytes | None = None,
) -> Output:
    """Run one protocol command, its JSON inputs written to files in `workdir`."""
    args = [command]
    for flag, value in (("config", config), ("catalog", catalog), ("state", state)):
        if value is not None:
            path = workdir / f"{flag}-{len(list(workdir.glob(f'{flag}-*')))}.json"
            path.write_text(json.dumps(value))
            args += [f"--{flag}", str(path)]
    return runner.run(args, workdir, stdin)
