"""One protocol-conformance suite for every connector of the repository, driven only through its command line.

    pytest acceptance-tests                                    every connector, by its command (the dev venv's)
    pytest acceptance-tests --images                           every connector, by its image <dockerRepository>:dev
    pytest acceptance-tests --connector-cmd "source-postgres"  one connector, by a command
    pytest acceptance-tests --connector-image IMAGE            one connector, by an image (its io.airbyte.name label
                                                               says which connector folder describes it)

Each connector's `acceptance-test-config.yml` supplies configs, catalogs and expected outcomes; its
`integration_tests/acceptance.py` prepares what those configs need. airbyte-cdk's own standard tests run for every
source too (in-process with commands, against the image with images), through its pytest plugin.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from acceptance.connectors import Connector, repository_connectors
from acceptance.runner import CommandRunner, ImageRunner, Runner

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]  # it also defines --connector-image


@dataclass(frozen=True)
class Target:
    """A connector under test and the way it runs."""

    connector: Connector
    runner: Runner

    @property
    def image(self) -> str | None:
        return self.runner.image if isinstance(self.runner, ImageRunner) else None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("acceptance")
    group.addoption("--connector-cmd", help="test one connector, run by this command (e.g. 'source-postgres')")
    group.addoption("--images", action="store_true", help="run every connector by its image instead of its command")


def _command(name: str) -> tuple[str, ...]:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        raise pytest.UsageError(f"the command {name!r} is not installed: run `make setup` first")
    return (found,)


def _image_connector(image: str, connectors: list[Connector]) -> Connector:
    inspected = subprocess.run(
        ["docker", "image", "inspect", "--format", '{{ index .Config.Labels "io.airbyte.name" }}', image],
        capture_output=True,
        text=True,
    )
    if inspected.returncode != 0:
        raise pytest.UsageError(f"--connector-image {image}: {inspected.stderr.strip()} (is the image built?)")
    name = inspected.stdout.strip()
    for connector in connectors:
        if connector.metadata["dockerRepository"] == name:
            return connector
    raise pytest.UsageError(f"--connector-image {image}: no connector's metadata.yaml names {name!r}")


def _targets(config: pytest.Config) -> list[Target]:
    connectors = repository_connectors()
    if command := config.getoption("--connector-cmd"):
        argv = shlex.split(command)
        named = [c for c in connectors if c.name == Path(argv[0]).name]
        if not named:
            raise pytest.UsageError(f"--connector-cmd {command!r}: no connector folder is named {Path(argv[0]).name}")
        return [Target(named[0], CommandRunner(tuple(argv)))]
    if image := config.getoption("--connector-image"):
        return [Target(_image_connector(image, connectors), ImageRunner(image))]
    if config.getoption("--images"):
        return [Target(c, ImageRunner(c.image)) for c in connectors]
    return [Target(c, CommandRunner(_command(c.name))) for c in connectors]


def pytest_configure(config: pytest.Config) -> None:
    config.stash[TARGETS] = _targets(config)


TARGETS = pytest.StashKey[list[Target]]()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `source`, `destination`, `target` (either) and `image` (one run by its image) over the selected
    connectors."""
    targets = metafunc.config.stash[TARGETS]
    for fixture, wanted in (
        ("source", lambda t: t.connector.is_source),
        ("destination", lambda t: not t.connector.is_source),
        ("target", lambda t: True),
        ("image", lambda t: t.image is not None),
    ):
        if fixture in metafunc.fixturenames:
            chosen = [t for t in targets if wanted(t)]
            metafunc.parametrize(fixture, chosen, ids=[t.connector.name for t in chosen])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """airbyte-cdk's standard tests: only for the selected sources; in-process ones with commands, image ones
    with images."""
    targets = {t.connector.path: t for t in config.stash[TARGETS]}
    keep, drop = [], []
    for item in items:
        cls = getattr(item, "cls", None)
        if cls is None or not hasattr(cls, "get_connector_root_dir"):
            keep.append(item)
            continue
        target = targets.get(cls.get_connector_root_dir())
        is_image_test = item.get_closest_marker("image_tests") is not None
        (keep if target and is_image_test == bool(target.image) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session", autouse=True)
def connector_environments(request: pytest.FixtureRequest) -> Iterator[None]:
    """What each selected connector's configs need (seeded schemas, a local S3 server), for the whole session."""
    with ExitStack() as stack:
        for target in request.config.stash[TARGETS]:
            hooks = target.connector.hooks
            if hooks is not None and hasattr(hooks, "environment"):
                stack.enter_context(hooks.environment())
        yield


@pytest.fixture
def read_from_streams() -> str:
    """airbyte-cdk's image tests read every stream (its plugin's default reads none)."""
    return "all"


@pytest.fixture
def targets_by_name(request: pytest.FixtureRequest) -> dict[str, Target]:
    return {t.connector.name: t for t in request.config.stash[TARGETS]}


@pytest.fixture
def connector_image_override(request: pytest.FixtureRequest) -> str | None:
    """For airbyte-cdk's image tests: the image of the test class's connector (never a build of its own)."""
    targets = {t.connector.path: t for t in request.config.stash[TARGETS]}
    return targets[request.cls.get_connector_root_dir()].image
