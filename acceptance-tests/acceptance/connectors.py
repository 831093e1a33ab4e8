"""The connectors of the repository, found by their `acceptance-test-config.yml`, and what that file declares."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Connector:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_source(self) -> bool:
        return self.name.startswith("source-")

    @cached_property
    def test_config(self) -> dict[str, Any]:
        return yaml.safe_load((self.path / "acceptance-test-config.yml").read_text())

    @cached_property
    def metadata(self) -> dict[str, Any]:
        return yaml.safe_load((self.path / "metadata.yaml").read_text())["data"]

    @property
    def image(self) -> str:
        """The image `make images` builds for this connector."""
        return f"{self.metadata['dockerRepository']}:dev"

    def tests(self, section: str) -> list[dict[str, Any]]:
        """The entries of one `acceptance_tests` section (`connection`, `basic_read`, `incremental`, ...)."""
        return (self.test_config["acceptance_tests"].get(section) or {}).get("tests") or []

    def required_tests(self, section: str) -> list[dict[str, Any]]:
        """`tests(section)`; the test fails if acceptance-test-config.yml declares none."""
        entries = self.tests(section)
        if not entries:
            pytest.fail(f"{self.name}: acceptance-test-config.yml declares no {section} tests", pytrace=False)
        return entries

    def json_file(self, relative: str, workdir: Path | None = None) -> Any:
        """A JSON file of the connector; `{workdir}` in it becomes the test's working folder."""
        text = (self.path / relative).read_text()
        return json.loads(text.replace("{workdir}", str(workdir)) if workdir else text)

    @cached_property
    def hooks(self) -> ModuleType | None:
        """`integration_tests/acceptance.py`: `environment()` (what the configs need, as a context manager) and,
        for destinations, `read_back(config, stream)` (the stored rows of a stream)."""
        path = self.path / "integration_tests" / "acceptance.py"
        if not path.exists():
            return None
        spec = importlib.util.spec_from_file_location(f"acceptance_hooks_{self.name.replace('-', '_')}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def repository_connectors() -> list[Connector]:
    """Every connector folder that has an acceptance-test-config.yml: sources first, then destinations."""
    configs = sorted(REPOSITORY.glob("sources/*/acceptance-test-config.yml"))
    configs += sorted(REPOSITORY.glob("destinations/*/acceptance-test-config.yml"))
    return [Connector(config.parent) for config in configs]
