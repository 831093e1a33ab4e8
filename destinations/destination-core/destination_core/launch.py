"""A destination on airbyte-cdk's `Destination` (SQL databases, files), with a bulk stdin path for `write`.

`spec` and `check` go through the CDK unchanged (config validated against the spec first, naming the field at
fault, secrets masked). `write` does not let the CDK parse stdin line by line into message objects: the raw
bytes go to `Sync`, which parses them in bulk (see `parse.py`) and echoes STATEs after each commit.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

import dpath.options
from airbyte_cdk.destinations import Destination
from airbyte_cdk.logger import init_logger
from airbyte_cdk.models import AirbyteMessage, ConfiguredAirbyteCatalog
from airbyte_cdk.utils.airbyte_secrets_utils import get_secrets, update_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_core.parse import StreamKey
from destination_core.streams import TargetStream, read_catalog, shadow_name, target_streams
from destination_core.sync import COMMIT_ROWS, COMMIT_SECONDS, Loader, Sync
from source_core.config import config_error, validate_config

logger = logging.getLogger("airbyte")

# As airbyte_cdk.sources's `__init__` does, which a destination's start-up leaves out (source_core/startup.py): the
# CDK masks secrets by walking the config with dpath, which otherwise refuses a config that holds an empty key
dpath.options.ALLOW_EMPTY_STRING_KEYS = True


class BatchDestination(Destination):
    # spec(): the CDK reads spec.json from the connector's package
    max_name_bytes: int | None = None  # the database's limit on identifiers, if it has one
    default_schema: str
    check_config_against_spec = False  # done in run_cmd, with a message that names the field

    def exact_numbers(self, config: Mapping[str, Any]) -> bool:
        """Whether `number` values keep every digit (as their text) rather than what a double holds."""
        return False

    @staticmethod
    @abstractmethod
    def fold(name: str) -> str:
        """How the database compares identifiers: names equal after folding are the same table or column."""

    def schema_of(self, config: Mapping[str, Any], namespace: str | None) -> str:
        """A stream's schema: its namespace, unless the config says to put everything in `schema`."""
        if namespace and not config.get("ignore_source_namespace"):
            return namespace
        return config.get("schema") or self.default_schema

    @abstractmethod
    def loader(self, config: Mapping[str, Any], streams: list[TargetStream]) -> AbstractContextManager[Loader]:
        """Connect, create or evolve every stream's table, and return the loader (closing it rolls back)."""

    def run_cmd(self, parsed_args: argparse.Namespace) -> Iterable[AirbyteMessage]:
        if parsed_args.command in ("check", "write"):
            config = self.read_config(config_path=parsed_args.config)
            spec = self.spec(logger)
            update_secrets(get_secrets(spec.connectionSpecification, config))
            try:
                validate_config(spec, config)
            except AirbyteTracedException as exc:
                if parsed_args.command == "check":
                    yield exc.as_connection_status_message()
                    return
                raise
        yield from super().run_cmd(parsed_args)

    def _run_write(
        self, config: Mapping[str, Any], configured_catalog_path: str, input_stream: io.TextIOWrapper
    ) -> Iterator[AirbyteMessage]:
        try:
            with open(configured_catalog_path, encoding="utf-8") as handle:
                raw = json.load(handle)
        except (OSError, ValueError) as exc:
            raise config_error(f"Cannot read the configured catalog {configured_catalog_path}: {exc}") from exc
        streams = self.streams(config, raw)
        with self.loader(config, list(streams.values())) as loader:
            sync = Sync(
                streams,
                loader,
                commit_rows=int(config.get("commit_interval_rows", COMMIT_ROWS)),
                commit_seconds=float(config.get("commit_interval_seconds", COMMIT_SECONDS)),
                exact_numbers=self.exact_numbers(config),
            )
            sync.run(input_stream.buffer.raw, sys.stdout.buffer)  # type: ignore[attr-defined]
        yield from ()

    def streams(self, config: Mapping[str, Any], raw_catalog: Mapping[str, Any]) -> dict[StreamKey, TargetStream]:
        return target_streams(
            read_catalog(raw_catalog), self.fold, lambda ns: self.schema_of(config, ns), self.shadow_table
        )

    def shadow_table(self, name: str) -> str | None:
        """The table an overwrite of stream `name` writes into until it is complete; None: the destination has none."""
        return shadow_name(name, self.max_name_bytes)

    def write(
        self,
        config: Mapping[str, Any],
        configured_catalog: ConfiguredAirbyteCatalog,
        input_messages: Iterable[AirbyteMessage],
    ) -> Iterable[AirbyteMessage]:
        """Unused: `_run_write` hands stdin to `Sync` in bulk instead of one message object per line."""
        raise NotImplementedError


def launch(destination: BatchDestination, args: list[str]) -> None:
    init_logger("airbyte")
    destination.run(args)
