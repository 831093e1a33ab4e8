"""A connector's real CLI as a separate process, exactly as a platform runs it: config, catalog and state as
files, messages on stdin, every stdout line parsed as JSON."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Run:
    """What one CLI invocation printed: every stdout line parsed as a message, plus exit code and stderr."""

    exit_code: int
    messages: list[dict[str, Any]]
    stdout: str
    stderr: str
    non_json: list[str] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    @property
    def output(self) -> str:
        """Everything the process printed, on both streams."""
        return self.stdout + self.stderr

    @property
    def records(self) -> list[dict[str, Any]]:
        return [m["record"] for m in self.of("RECORD")]

    @property
    def data(self) -> list[dict[str, Any]]:
        return [r["data"] for r in self.records]

    def stream_data(self, stream: str) -> list[dict[str, Any]]:
        """The data of one stream's records, in output order."""
        return [r["data"] for r in self.records if r["stream"] == stream]

    def ids(self, stream: str | None = None) -> list[Any]:
        """The `id` of every record (of one stream), in output order."""
        return [r["data"]["id"] for r in self.records if stream in (None, r["stream"])]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["state"] for m in self.of("STATE")]

    @property
    def stream_states(self) -> list[Any]:
        return [s["stream"]["stream_state"] for s in self.states]

    def latest_states(self) -> list[dict[str, Any]]:
        """The latest STATE of each stream, as the next run's `--state`."""
        latest = {s["stream"]["stream_descriptor"]["name"]: s["stream"] for s in self.states}
        return [{"type": "STREAM", "stream": stream} for stream in latest.values()]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.of("TRACE") if m["trace"]["type"] == "ERROR"]

    @property
    def logs(self) -> list[str]:
        return [m["log"]["message"] for m in self.of("LOG")]

    @property
    def statuses(self) -> list[tuple[str, str]]:
        """(stream, status) of every STREAM_STATUS trace, in order."""
        return [
            (m["trace"]["stream_status"]["stream_descriptor"]["name"], m["trace"]["stream_status"]["status"])
            for m in self.of("TRACE")
            if m["trace"]["type"] == "STREAM_STATUS"
        ]

    @property
    def connection_status(self) -> dict[str, Any]:
        (only,) = [m["connectionStatus"] for m in self.of("CONNECTION_STATUS")]
        return only

    @property
    def catalog(self) -> dict[str, dict[str, Any]]:
        """discover's streams by name."""
        (found,) = [m["catalog"] for m in self.of("CATALOG")]
        return {s["name"]: s for s in found["streams"]}

    def logged(self, key: str) -> Any:
        """The value under `key` of the one JSON LOG message holding it (an API connector's `http_figures`)."""
        found = [json.loads(text) for text in self.logs if text.startswith("{") and key in text]
        assert len(found) == 1, f"expected one {key} LOG message, got {len(found)}"
        return found[0][key]

    def sequence(self) -> list[tuple[str, Any]]:
        """RECORDs and STATEs in output order: ("RECORD", data) or ("STATE", stream_state)."""
        out: list[tuple[str, Any]] = []
        for m in self.messages:
            if m["type"] == "RECORD":
                out.append(("RECORD", m["record"]["data"]))
            elif m["type"] == "STATE":
                out.append(("STATE", m["state"]["stream"]["stream_state"]))
        return out

    def describe(self) -> str:
        """A short account of the run for assertion messages: exit code, errors, last messages, stderr."""
        errors = [f"{e.get('failure_type')}: {e.get('message')} | {e.get('internal_message')}" for e in self.errors]
        last = [json.dumps(m, default=str)[:300] for m in self.messages if m["type"] != "LOG"][-12:]
        return (
            f"exit {self.exit_code}; errors: {errors}\n--- last messages\n"
            + "\n".join(last)
            + f"\n--- non-JSON stdout\n{self.non_json[-10:]}\n--- stderr\n{self.stderr[-2000:]}"
        )


def parse_output(stdout: str, stderr: str, exit_code: int, parse_float: Callable[[str], Any] | None = None) -> Run:
    messages, non_json = [], []
    for line in stdout.splitlines():
        try:
            messages.append(json.loads(line, parse_float=parse_float))
        except json.JSONDecodeError:
            non_json.append(line)
    return Run(exit_code, messages, stdout, stderr, non_json)


def lines(messages: list[dict[str, Any] | str]) -> bytes:
    """stdin for `write`: each message as one JSON line (a str is taken as an already serialized line)."""
    return "".join((m if isinstance(m, str) else json.dumps(m)) + "\n" for m in messages).encode()


class Cli:
    """Runs one connector's commands (`argv` + command + files) as separate processes; files go to `folder`."""

    def __init__(
        self,
        argv: list[str],
        folder: Path,
        env: Mapping[str, str] | None = None,
        parse_float: Callable[[str], Any] | None = None,
    ) -> None:
        self.argv = argv
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.env = dict(env) if env is not None else None
        self.parse_float = parse_float
        self.count = 0

    def file(self, name: str, content: Any) -> str:
        self.count += 1
        path = self.folder / f"{self.count}-{name}.json"
        path.write_text(json.dumps(content))
        return str(path)

    def command(
        self, command: str, config: Any = None, catalog: dict[str, Any] | None = None, state: Any = None
    ) -> list[str]:
        args = [command]
        for option, content in (("config", config), ("catalog", catalog), ("state", state)):
            if content is not None:
                args += [f"--{option}", self.file(option, content)]
        return self.argv + args

    def run(
        self,
        command: str,
        config: Any = None,
        catalog: dict[str, Any] | None = None,
        state: Any = None,
        *,
        messages: list[dict[str, Any] | str] | bytes = b"",
        timeout: float = 300,
    ) -> Run:
        data = messages if isinstance(messages, bytes) else lines(messages)
        done = subprocess.run(
            self.command(command, config, catalog, state),
            input=data,
            capture_output=True,
            timeout=timeout,
            env=self.env,
        )
        return parse_output(done.stdout.decode(), done.stderr.decode(), done.returncode, self.parse_float)

    def spec(self) -> Run:
        return self.run("spec")

    def check(self, config: Any) -> Run:
        return self.run("check", config)

    def discover(self, config: Any) -> Run:
        return self.run("discover", config)

    def read(self, config: Any, catalog: dict[str, Any], state: Any = None) -> Run:
        return self.run("read", config, catalog, state=state)

    def write(self, config: Any, catalog: dict[str, Any], messages: list[dict[str, Any] | str] | bytes) -> Run:
        return self.run("write", config, catalog, messages=messages)
