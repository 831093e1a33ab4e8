"""Three ways to run a connector, behind one interface: a command on PATH, a container image (through the `docker`
SDK, so Docker or Podman's Docker API socket), or in-process from its installed package.

A runner starts one protocol command (`spec`, `check`, `discover`, `read`, `write`) with its JSON arguments
written to files in a private temporary folder, and gives back a `Run`: the connector's output as blocks of
whole lines of JSON (or, in-process, `source_core.launch.Records` Arrow batches besides those blocks), then its
exit code and the tail of its stderr.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from airbyte_cdk.destinations import Destination
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import AirbyteMessage, Type
from airbyte_cdk.sources import Source
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_core.parse import CHUNK_BYTES, read_lines
from source_core.emit import as_bytes
from source_core.launch import Entrypoint, Records
from source_core.prefetch import prefetch
from sqlflow_bridge.errors import config_error

logger = logging.getLogger("sqlflow_bridge")

STDERR_TAIL = 4000
FILE_ARGS = ("config", "catalog", "state")  # --config, --catalog, --state, in that order

Piece = bytes | memoryview | Records


class Run(ABC):
    """One running connector command. Use it as a context manager: leaving it stops the connector."""

    exit_code: int | None = None

    @abstractmethod
    def pieces(self) -> Iterator[Piece]:
        """The output: blocks of whole JSON lines, or (in-process) Arrow batches."""

    @abstractmethod
    def wait(self) -> int:
        """Wait for the connector to end; its exit code."""

    def stderr_tail(self) -> str:
        return ""

    @abstractmethod
    def close(self) -> None:
        """Stop the connector if it still runs and remove its files."""

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def output(self) -> bytes:
        """The whole output (spec, check, discover) as bytes; in-process batches are encoded to RECORD lines."""
        parts = []
        for piece in self.pieces():
            if isinstance(piece, Records):
                parts.append(bytes(as_bytes(piece.encoder.encode(piece.batch, int(time.time() * 1000)))))
            else:
                parts.append(bytes(piece))
        return b"".join(parts)


class Runner(ABC):
    """How a connector runs. `label` names it in errors and logs."""

    label: str

    @abstractmethod
    def start(self, command: str, files: Mapping[str, Any], stdin: Iterable[bytes] | None = None) -> Run:
        """Start `command` with `files` ({"config": ..., "catalog": ..., "state": ...}, JSON values) and, for
        `write`, `stdin` (blocks of RECORD and STATE lines)."""


def _blocks(stream: Any, stop: Callable[[], None]) -> Iterator[bytes]:
    """Blocks of whole lines from a connector's stdout, read by a thread of their own: the connector keeps writing
    (it does not wait on a full pipe) while the bridge parses the block before.

    A consumer that leaves early calls `stop` (ends the connector) first: closing the blocks joins the thread, which
    may be waiting for output the connector is in no hurry to write.
    """
    blocks = prefetch((bytes(block) for block in read_lines(stream, CHUNK_BYTES)), depth=2)
    try:
        for block in blocks:  # noqa: UP028 - `yield from` would close `blocks` before `stop` could run
            yield block
    except GeneratorExit:
        stop()
        raise
    finally:
        blocks.close()


def _write_files(folder: Path, files: Mapping[str, Any], prefix: str) -> list[str]:
    """Write the JSON arguments; the command-line flags that name them (as `prefix`/name seen by the connector)."""
    args = []
    for name in FILE_ARGS:
        if files.get(name) is None:
            continue
        path = folder / f"{name}.json"
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
            json.dump(files[name], handle)
        args += [f"--{name}", f"{prefix}/{name}.json"]
    return args


def _feed(target: Callable[[bytes], Any], close: Callable[[], None], blocks: Iterable[bytes], errors: list) -> None:
    """Write `blocks` to a connector's stdin (in a thread), then close it; a failure is kept for the caller."""
    try:
        for block in blocks:
            target(block)
    except BrokenPipeError:
        pass  # the connector stopped reading: its output and exit code say why
    except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
        errors.append(exc)
    finally:
        with contextlib.suppress(OSError):
            close()


class _ProcessRun(Run):
    def __init__(self, argv: list[str], folder: Path, stdin: Iterable[bytes] | None, env: Mapping[str, str] | None):
        self.folder = folder
        self._stderr = open(folder / "stderr.log", "w+b")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            bufsize=0,
            env={**os.environ, **(env or {})},
        )
        self.feed_errors: list[BaseException] = []
        self._feeder = None
        if stdin is not None:
            self._feeder = threading.Thread(
                target=_feed,
                args=(self.process.stdin.write, self.process.stdin.close, stdin, self.feed_errors),
                name="connector-stdin",
                daemon=True,
            )
            self._feeder.start()

    def pieces(self) -> Iterator[Piece]:
        yield from _blocks(self.process.stdout, self._stop)

    def wait(self) -> int:
        if self._feeder is not None:
            self._feeder.join()
        self.exit_code = self.process.wait()
        if self.feed_errors:
            raise self.feed_errors[0]
        return self.exit_code

    def stderr_tail(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0, io.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - STDERR_TAIL))
        return self._stderr.read().decode(errors="replace")

    def _stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def close(self) -> None:
        self._stop()
        self.process.stdout.close()
        self._stderr.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class CommandRunner(Runner):
    """A connector command (e.g. `source-postgres`), looked up on PATH, then among the running Python's scripts
    (where pip installs the console scripts of packages, also when the venv is not activated)."""

    def __init__(self, command: str | Sequence[str], env: Mapping[str, str] | None = None):
        argv = [command] if isinstance(command, str) else list(command)
        found = shutil.which(argv[0]) or shutil.which(argv[0], path=str(Path(sys.executable).parent))
        if found is None:
            raise config_error(
                f"Connector command {argv[0]!r} is not on PATH: install the connector's package "
                f"(pip install ./sources/{argv[0]}) or give its full path."
            )
        self.argv = [found, *argv[1:]]
        self.env = env
        self.label = Path(argv[0]).name

    def start(self, command: str, files: Mapping[str, Any], stdin: Iterable[bytes] | None = None) -> Run:
        folder = Path(tempfile.mkdtemp(prefix="sqlflow-bridge-"))
        return _ProcessRun([*self.argv, command, *_write_files(folder, files, str(folder))], folder, stdin, self.env)


class _Chunks(io.RawIOBase):
    """A readable binary stream over an iterator of byte chunks (a container's output)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._rest:
            self._rest = next(self._chunks, b"")
            if not self._rest:
                return 0
        size = min(len(buffer), len(self._rest))
        buffer[:size] = self._rest[:size]
        self._rest = self._rest[size:]
        return size


class _ContainerRun(Run):
    def __init__(self, runner: ImageRunner, args: list[str], folder: Path, stdin: Iterable[bytes] | None):
        self.folder = folder
        volumes = {str(folder): {"bind": "/data", "mode": "ro"}}
        volumes |= {host: {"bind": inside, "mode": "rw"} for host, inside in runner.volumes.items()}
        self.container = runner.client.containers.create(
            runner.image,
            command=args,
            volumes=volumes,
            network_mode=runner.network_mode,
            stdin_open=stdin is not None,
            detach=True,
        )
        self.feed_errors: list[BaseException] = []
        self._feeder = None
        if stdin is not None:
            socket = self.container.attach_socket(params={"stdin": 1, "stream": 1})
            raw = getattr(socket, "_sock", socket)
            self._feeder = threading.Thread(
                target=_feed,
                args=(raw.sendall, lambda: (raw.shutdown(1), raw.close()), stdin, self.feed_errors),
                name="container-stdin",
                daemon=True,
            )
        self.container.start()
        if self._feeder is not None:
            self._feeder.start()

    def pieces(self) -> Iterator[Piece]:
        chunks = self.container.logs(stdout=True, stderr=False, stream=True, follow=True)
        yield from _blocks(_Chunks(iter(chunks)), self._stop)

    def _stop(self) -> None:
        import docker

        with contextlib.suppress(docker.errors.APIError):  # it has ended already
            self.container.kill()

    def wait(self) -> int:
        if self._feeder is not None:
            self._feeder.join()
        self.exit_code = int(self.container.wait()["StatusCode"])
        if self.feed_errors:
            raise self.feed_errors[0]
        return self.exit_code

    def stderr_tail(self) -> str:
        return self.container.logs(stdout=False, stderr=True)[-STDERR_TAIL:].decode(errors="replace")

    def close(self) -> None:
        try:
            self.container.remove(force=True)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


class ImageRunner(Runner):
    """A connector image (`sqlflow/source-postgres:dev`), run through the Docker API: Docker itself, or Podman's
    Docker-compatible socket (`DOCKER_HOST=unix:///run/podman/podman.sock`). The arguments are mounted read-only at
    /data. `network_mode="host"` (the default) lets the container reach servers on the host's loopback; `volumes`
    ({host folder: path inside}) are mounted read-write, e.g. for a destination's output files."""

    def __init__(
        self,
        image: str,
        client: Any = None,
        network_mode: str | None = "host",
        volumes: Mapping[str, str] | None = None,
    ):
        import docker  # only image runs need the SDK and a reachable engine

        try:
            self.client = client or docker.from_env()
            self.client.images.get(image)
        except docker.errors.ImageNotFound as exc:
            raise config_error(f"Image {image!r} is not present: build or pull it first.") from exc
        except docker.errors.DockerException as exc:
            raise config_error(
                f"No container engine answers ({exc}): start Docker, or Podman's API service, and set DOCKER_HOST."
            ) from exc
        self.image = image
        self.network_mode = network_mode
        self.volumes = dict(volumes or {})
        self.label = image

    def start(self, command: str, files: Mapping[str, Any], stdin: Iterable[bytes] | None = None) -> Run:
        folder = Path(tempfile.mkdtemp(prefix="sqlflow-bridge-"))
        args = [command, *_write_files(folder, files, "/data")]
        # The image runs as its own user (uid 1000): it may enter the folder and read the files, not list them.
        folder.chmod(0o711)
        for path in folder.iterdir():
            path.chmod(0o644)
        return _ContainerRun(self, args, folder, stdin)


def load_connector(name: str) -> Source | Destination:
    """The connector object behind an installed console script: `source-postgres` -> `SourcePostgres()`.

    The script's module (`source_postgres.run`) launches one Source or Destination class; that class is found
    among the module's names.
    """
    scripts = [e for e in entry_points(group="console_scripts") if e.name == name]
    if not scripts:
        raise config_error(f"No installed package provides the connector {name!r}: pip install it first.")
    module = scripts[0].load().__module__
    found = [
        value
        for value in vars(sys.modules[module]).values()
        if isinstance(value, type)
        and issubclass(value, Source | Destination)
        and value.__module__ != module
        and not value.__module__.startswith("airbyte_cdk")
        and not getattr(value, "__abstractmethods__", None)
    ]
    if len(found) != 1:
        raise config_error(f"Cannot tell which connector class {module} runs (found {len(found)}).")
    return found[0]()


def _line(message: AirbyteMessage) -> bytes:
    return (AirbyteEntrypoint.airbyte_message_to_string(message) + "\n").encode()


class _InProcessRun(Run):
    def __init__(self, connector: Source | Destination, command: str, args: list[str], folder: Path, arrow: bool):
        self.connector = connector
        self.command = command
        self.args = args
        self.folder = folder
        self.arrow = arrow

    def pieces(self) -> Iterator[Piece]:
        self.exit_code = 0
        try:
            yield from self._messages()
        except Exception as exc:  # noqa: BLE001 - a failure becomes the TRACE ERROR a process would print
            traced = exc if isinstance(exc, AirbyteTracedException) else AirbyteTracedException.from_exception(exc)
            self.exit_code = 1
            yield _line(traced.as_sanitized_airbyte_message())

    def _messages(self) -> Iterator[Piece]:
        connector = self.connector
        if isinstance(connector, Destination):
            yield b"".join(_line(m) for m in connector.run_cmd(connector.parse_args([self.command, *self.args])))
            return
        hook = sys.excepthook  # the CDK's entrypoint installs its own handler for uncaught exceptions
        entrypoint = Entrypoint(connector)
        sys.excepthook = hook
        parsed = entrypoint.parse_args([self.command, *self.args])
        if self.command != "read":
            yield "".join(f"{m}\n" for m in entrypoint.run(parsed)).encode()
            return
        # What source_core.launch does for read, without printing: config checked against the spec, secrets masked.
        spec = connector.spec(entrypoint.logger)
        config = connector.configure(connector.read_config(parsed.config), str(self.folder))
        entrypoint.set_up_secret_filter(config, spec.connectionSpecification)
        if connector.check_config_against_spec:
            entrypoint.validate_connection(spec, config)
        catalog = connector.read_catalog(parsed.catalog)
        state = connector.read_state(parsed.state) if parsed.state else []
        lines: list[bytes] = []  # JSON lines not handed on yet, at most about CHUNK_BYTES
        size = 0
        try:
            for message in connector.read(entrypoint.logger, config, catalog, state):
                if isinstance(message, Records) and self.arrow:
                    if lines:  # messages before the batch come out before it
                        yield b"".join(lines)
                        lines, size = [], 0
                    yield message
                    continue
                if isinstance(message, Records):
                    lines.append(bytes(as_bytes(message.encoder.encode(message.batch, int(time.time() * 1000)))))
                else:
                    lines.append(_line(message))
                size += len(lines[-1])
                if size >= CHUNK_BYTES or (isinstance(message, AirbyteMessage) and message.type == Type.STATE):
                    yield b"".join(lines)
                    lines, size = [], 0
        except Exception:
            if lines:  # what the source said before failing (its stream's TRACE) comes out first
                yield b"".join(lines)
            raise
        if lines:
            yield b"".join(lines)

    def wait(self) -> int:
        return self.exit_code if self.exit_code is not None else 0

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class InProcessRunner(Runner):
    """A connector run inside this Python process, from its installed package (`source-postgres`) or as an object.

    With `arrow=True` a source of this repository hands over its Arrow batches as they are (the fast path: no
    JSON); with `arrow=False` they are encoded to RECORD lines first, exactly as its command would print them.
    """

    def __init__(self, connector: str | Source | Destination, arrow: bool = True):
        self.connector = load_connector(connector) if isinstance(connector, str) else connector
        self.arrow = arrow
        self.label = connector if isinstance(connector, str) else type(connector).__name__

    def start(self, command: str, files: Mapping[str, Any], stdin: Iterable[bytes] | None = None) -> Run:
        if stdin is not None:  # this repository's destinations read stdin and write stdout of the process itself
            raise config_error("In-process destinations run spec and check only: write through a command or image.")
        folder = Path(tempfile.mkdtemp(prefix="sqlflow-bridge-"))
        args = _write_files(folder, files, str(folder))
        return _InProcessRun(self.connector, command, args, folder, self.arrow)
