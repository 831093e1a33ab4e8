"""Compatibility mode: a config holding `__injected_declarative_manifest` runs that Airbyte low-code manifest on
airbyte-cdk's ConcurrentDeclarativeSource, exactly as Airbyte's source-declarative-manifest does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airbyte_cdk.models import AirbyteStateMessage, ConfiguredAirbyteCatalog
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource

from source_core.config import config_error
from source_rest_api.spec import MANIFEST_KEY


def manifest_source(
    config: Mapping[str, Any],
    catalog: ConfiguredAirbyteCatalog | None = None,
    state: list[AirbyteStateMessage] | None = None,
) -> ConcurrentDeclarativeSource:
    manifest = config[MANIFEST_KEY]
    if not isinstance(manifest, dict):
        raise config_error(f"{MANIFEST_KEY} must be a declarative manifest (an object), not {type(manifest).__name__}.")
    try:
        return ConcurrentDeclarativeSource(
            source_config=manifest,
            config=config,
            catalog=catalog,
            state=state,
            custom_components_trusted=False,  # a manifest from config may not load Python code
        )
    except Exception as exc:  # any failure to load the manifest is for the user to fix
        raise config_error(f"The declarative manifest is not valid: {exc}", repr(exc)) from exc
