"""source-shopify: spec, check, discover and read of Shopify's GraphQL Admin API."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    ConnectorSpecification,
    DestinationSyncMode,
    Status,
    SyncMode,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.checkpoint import stream_states
from source_core.config import config_error
from source_core.http import HttpClient
from source_core.launch import BatchSource, Records
from source_core.lifecycle import read_streams
from source_shopify.bulk import read_bulk
from source_shopify.client import ShopifyClient
from source_shopify.config import ShopifyConfig
from source_shopify.family import Family, Member, start_value
from source_shopify.paginated import read_pages, read_single
from source_shopify.queries import SCOPES_QUERY
from source_shopify.spec import SPEC
from source_shopify.streams import BY_NAME, Stream

CHECK_RETRIES = 1  # check answers within seconds: an unreachable shop is reported, not waited for


def missing_scopes(granted: set[str], streams: list[str]) -> dict[str, list[str]]:
    """Per access scope the token lacks, the selected streams that need it (a write scope implies its read)."""
    have = granted | {g.replace("write_", "read_", 1) for g in granted}
    missing: dict[str, list[str]] = {}
    for name in streams:
        for scope in BY_NAME[name].scopes:
            if scope not in have:
                missing.setdefault(scope, []).append(name)
    return missing


def scope_error(missing: dict[str, list[str]]) -> AirbyteTracedException:
    needs = "; ".join(f"{scope} (for {', '.join(names)})" for scope, names in missing.items())
    why = (
        " Without read_all_orders Shopify shows the app only the orders created in the last 60 days, without saying "
        "so: the older ones, and their later changes, would be missed."
        if "read_all_orders" in missing
        else ""
    )
    return config_error(
        f"The access token lacks access scopes: {needs}.{why} Grant them to the app in Shopify's admin (Apps > "
        "Develop apps > Configuration > Admin API access scopes) and install it again, or leave those streams out of "
        "`streams`."
    )


def granted_scopes(client: ShopifyClient) -> set[str]:
    return {s["handle"] for s in client.query(SCOPES_QUERY)["currentAppInstallation"]["accessScopes"]}


class SourceShopify(BatchSource):
    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecification(
            documentationUrl="https://github.com/sqlflow/connectors/tree/main/sources/source-shopify",
            connectionSpecification=SPEC,
            supportsIncremental=True,
            supported_destination_sync_modes=[
                DestinationSyncMode.overwrite,
                DestinationSyncMode.append,
                DestinationSyncMode.append_dedup,
            ],
        )

    @staticmethod
    def _client(settings: ShopifyConfig, logger: logging.Logger, most_retries: int | None = None) -> ShopifyClient:
        http = settings.http
        if most_retries is not None:
            http = replace(http, max_retries=min(http.max_retries, most_retries))
        return ShopifyClient(settings, HttpClient(http, logger), logger)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        try:
            settings = ShopifyConfig.parse(config)
            client = self._client(settings, logger, most_retries=CHECK_RETRIES)
            try:
                granted = granted_scopes(client)
            finally:
                client.http.close()
        except AirbyteTracedException as exc:
            return AirbyteConnectionStatus(status=Status.FAILED, message=exc.message)
        missing = missing_scopes(granted, settings.streams)
        if missing:
            return AirbyteConnectionStatus(status=Status.FAILED, message=scope_error(missing).message)
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        settings = ShopifyConfig.parse(config)
        return AirbyteCatalog(streams=[self._stream(BY_NAME[name]) for name in settings.streams])

    @staticmethod
    def _stream(stream: Stream) -> AirbyteStream:
        cursor = [stream.cursor_field] if stream.cursor_field else None
        return AirbyteStream(
            name=stream.name,
            json_schema=stream.schema,
            supported_sync_modes=[SyncMode.full_refresh] + ([SyncMode.incremental] if cursor else []),
            source_defined_cursor=bool(cursor),
            default_cursor_field=cursor,
            source_defined_primary_key=[[k] for k in stream.primary_key],
            is_resumable=True,
        )

    @staticmethod
    def _families(
        settings: ShopifyConfig,
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None,
        logger: logging.Logger,
    ) -> list[Family]:
        """The selected streams grouped under their parents, in the catalog's order of first mention."""
        states = stream_states(state)
        start = start_value(settings.start_date)
        families: dict[str, Family] = {}
        for configured in catalog.streams:
            stream = BY_NAME.get(configured.stream.name)
            if stream is None:
                raise config_error(
                    f"Stream {configured.stream.name!r} is not a Shopify stream of this connector "
                    f"(streams: {sorted(BY_NAME)}): run discover again and update the configured catalog."
                )
            incremental = configured.sync_mode == SyncMode.incremental
            if incremental and stream.cursor_field is None:
                raise config_error(f"Stream {stream.name!r} can only be read in full refresh.")
            root = BY_NAME[stream.parent] if stream.parent else stream
            family = families.setdefault(root.name, Family(root, None, []))
            member = Member.of(stream, incremental, states.get((None, stream.name)), start, logger)
            if stream.parent:
                family.children.append(member)
            else:
                family.own = member
        return list(families.values())

    def read(  # type: ignore[override]
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage | Records]:
        settings = ShopifyConfig.parse(config)
        families = self._families(settings, catalog, state, logger)
        client = self._client(settings, logger)
        granted: set[str] | None = None  # asked once, when a family first needs a scope

        def read_one(family: Family) -> Iterator[AirbyteMessage | Records]:
            # a stream the token may not read fails here, the others go on: the orders a token without
            # read_all_orders misses would be missed without any error from Shopify
            nonlocal granted
            if any(m.stream.scopes for m in family.members):
                if granted is None:
                    granted = granted_scopes(client)
                missing = missing_scopes(granted, [m.stream.name for m in family.members])
                if missing:
                    raise scope_error(missing)
            if family.parent.single:
                return read_single(client, family)
            bulk = settings.bulk_mode == "always" or (
                settings.bulk_mode == "auto" and family.behind(settings.bulk_threshold_days)
            )
            start = family.start()
            names = ", ".join(m.stream.name for m in family.members)
            logger.info(f"{names}: {'a bulk operation' if bulk else 'paginated queries'} from {start or 'the start'}")
            return read_bulk(client, family, logger) if bulk else read_pages(client, family)

        try:
            yield from read_streams(logger, families, lambda family: family.descriptors, read_one)
        except Exception:
            yield from self._figures(client)  # also after a failed read: what the API did is the first thing to see
            raise
        else:
            yield from self._figures(client)
        finally:
            client.http.close()

    @staticmethod
    def _figures(client: ShopifyClient) -> Iterator[AirbyteMessage]:
        yield client.http.figures.log_message()
        yield client.cost_log()
