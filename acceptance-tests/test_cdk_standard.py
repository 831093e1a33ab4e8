"""airbyte-cdk's own standard tests (`airbyte_cdk.test.standard_tests`) for every source of the repository: in-process
when the suite runs commands, against the image when it runs images (conftest.py picks which)."""

from __future__ import annotations

import importlib
from pathlib import Path

from airbyte_cdk.test.standard_tests import SourceTestSuiteBase

from acceptance.connectors import repository_connectors
from source_core.launch import BatchSource, MessageSource


def _suite(root: Path) -> type[SourceTestSuiteBase]:
    package = root.name.replace("-", "_")
    source_class = getattr(importlib.import_module(f"{package}.source"), package.title().replace("_", ""))

    def connector() -> object:
        source = source_class()
        return MessageSource(source) if isinstance(source, BatchSource) else source

    return type(
        f"TestStandard{source_class.__name__}",
        (SourceTestSuiteBase,),
        {"connector": staticmethod(connector), "get_connector_root_dir": classmethod(lambda cls: root)},
    )


for _connector in repository_connectors():
    if _connector.is_source:
        _cls = _suite(_connector.path)
        globals()[_cls.__name__] = _cls
