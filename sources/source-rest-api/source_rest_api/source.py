"""source-rest-api: spec, check, discover and read of a JSON API described in config (or a low-code manifest)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteRecordMessage,
    AirbyteStateMessage,
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    ConnectorSpecification,
    DestinationSyncMode,
    Status,
    StreamDescriptor,
    SyncMode,
)
from airbyte_cdk.utils.schema_inferrer import SchemaInferrer
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.checkpoint import stream_states
from source_core.config import config_error
from source_core.http import HttpClient
from source_core.launch import BatchSource, Records
from source_core.lifecycle import read_streams
from source_rest_api.auth import Auth
from source_rest_api.config import RestConfig, StreamConfig
from source_rest_api.manifest import manifest_source
from source_rest_api.pagination import first_page
from source_rest_api.reader import PageFetcher, StreamReader, select
from source_rest_api.spec import MANIFEST_KEY, SPEC

SAMPLE_RECORDS = 500  # discover infers a schema from at most this many records of the first page
CHECK_RETRIES = 1  # check answers within seconds: an unreachable API is reported, not waited for


class SourceRestApi(BatchSource):
    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecification(
            documentationUrl="https://github.com/sqlflow/connectors/tree/main/sources/source-rest-api",
            connectionSpecification=SPEC,
            supportsIncremental=True,
            supported_destination_sync_modes=[DestinationSyncMode.overwrite, DestinationSyncMode.append],
        )

    @staticmethod
    def _session(
        config: Mapping[str, Any], logger: logging.Logger, most_retries: int | None = None
    ) -> tuple[RestConfig, PageFetcher]:
        settings = RestConfig.parse(config)
        http = settings.http
        if most_retries is not None:
            http = replace(http, max_retries=min(http.max_retries, most_retries))
        return settings, PageFetcher(HttpClient(http, logger), Auth(settings.auth))

    def _first_page(self, settings: RestConfig, fetcher: PageFetcher, stream: StreamConfig) -> list[Any]:
        request = first_page(stream.pagination, settings.url(stream), stream.params)
        _, body = fetcher.fetch(request, stream.name)
        return select(body, stream)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        try:
            if MANIFEST_KEY in config:
                return manifest_source(config).check(logger, config)
            settings, fetcher = self._session(config, logger, most_retries=CHECK_RETRIES)
            try:
                self._first_page(settings, fetcher, settings.streams[0])
            finally:
                fetcher.client.close()
        except AirbyteTracedException as exc:
            return AirbyteConnectionStatus(status=Status.FAILED, message=exc.message)
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        if MANIFEST_KEY in config:
            return manifest_source(config).discover(logger, config)
        settings, fetcher = self._session(config, logger)
        try:
            return AirbyteCatalog(streams=[self._stream(settings, fetcher, s) for s in settings.streams])
        finally:
            fetcher.client.close()

    def _stream(self, settings: RestConfig, fetcher: PageFetcher, stream: StreamConfig) -> AirbyteStream:
        schema = stream.schema
        if schema is None:
            inferrer = SchemaInferrer()
            for record in self._first_page(settings, fetcher, stream)[:SAMPLE_RECORDS]:
                inferrer.accumulate(AirbyteRecordMessage(stream=stream.name, data=record, emitted_at=0))
            schema = inferrer.get_stream_schema(stream.name) or {"type": "object", "properties": {}}
        cursor = stream.incremental.cursor_field.split(".") if stream.incremental else None
        return AirbyteStream(
            name=stream.name,
            json_schema=schema,
            supported_sync_modes=[SyncMode.full_refresh] + ([SyncMode.incremental] if cursor else []),
            source_defined_cursor=bool(cursor),
            default_cursor_field=cursor,
            source_defined_primary_key=[[k] for k in stream.primary_key] or None,
            is_resumable=True,
        )

    def read(  # type: ignore[override]
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage | Records]:
        if MANIFEST_KEY in config:
            yield from manifest_source(config, catalog, state).read(logger, config, catalog, state)
            return
        settings, fetcher = self._session(config, logger)
        by_name = {s.name: s for s in settings.streams}
        plans = []
        for configured in catalog.streams:
            stream = by_name.get(configured.stream.name)
            if stream is None:
                raise config_error(
                    f"Stream {configured.stream.name!r} is not in the config (streams: {sorted(by_name)}): "
                    "run discover again and update the configured catalog."
                )
            incremental = configured.sync_mode == SyncMode.incremental
            if incremental and stream.incremental is None:
                raise config_error(f"Stream {stream.name!r} is read incrementally but has no incremental settings.")
            plans.append((stream, incremental))
        states = stream_states(state)

        def read_one(plan: tuple[StreamConfig, bool]) -> Iterator[AirbyteMessage | Records]:
            stream, incremental = plan
            reader = StreamReader(settings, fetcher, stream, logger)
            return reader.read(incremental, states.get((None, stream.name)))

        figures = fetcher.client.figures
        try:
            yield from read_streams(logger, plans, lambda plan: [StreamDescriptor(name=plan[0].name)], read_one)
        except Exception:
            yield figures.log_message()  # also after a failed read: what the API did is the first thing to look at
            raise
        else:
            yield figures.log_message()
        finally:
            fetcher.client.close()
