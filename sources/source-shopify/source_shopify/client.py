"""GraphQL POSTs to the Admin API through the shared HTTP client (retries on 5xx and timeouts, circuit breaker),
paced by query cost; Shopify's errors said as what to fix.

HTTP 401 (token) and 404 (shop or version) and GraphQL ACCESS_DENIED are config errors; THROTTLED is waited out and
sent again (the bucket says for how long) and only surfaces when that keeps happening; INTERNAL_SERVER_ERROR, which
Shopify answers with status 200 instead of a 500, is retried by the HTTP layer as a 500 is.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import orjson
from airbyte_cdk.models import AirbyteLogMessage, AirbyteMessage, FailureType, Level, Type
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.config import config_error
from source_core.http import HttpClient, HttpStatusError
from source_shopify.config import ShopifyConfig
from source_shopify.cost import CostBucket, requested_cost

THROTTLED_TRIES = 10  # sends of one query that may come back THROTTLED before the read gives up
COST_LOG_KEY = "shopify_cost"
PROBE_QUERY = "query { shop { id } }"


def system_error(message: str, internal: str | None = None) -> AirbyteTracedException:
    return AirbyteTracedException(message=message, internal_message=internal, failure_type=FailureType.system_error)


def refused(error: HttpStatusError, config: ShopifyConfig) -> AirbyteTracedException:
    if error.status in (401, 403):
        return config_error(
            f"Shopify refused the access token ({error.status}) for shop {config.shop!r}: check access_token "
            "(the custom app's Admin API access token, shpat_...) and that the app is still installed.",
            str(error),
        )
    if error.status == 404:
        return config_error(
            f"Shop {config.shop!r} or API version {config.api_version!r} was not found (404) at "
            f"{config.graphql_url}: check shop, api_version and base_url.",
            str(error),
        )
    return system_error(
        f"Shopify answered {error.status} for shop {config.shop!r}.", f"{error}: {error.response.text[:300]}"
    )


def _codes(errors: list[dict[str, Any]]) -> set[str]:
    return {str((e.get("extensions") or {}).get("code")) for e in errors}


def server_error(answer: Any) -> str | None:
    """Shopify's own failure, reported in a 200's errors: worth retrying like a 500."""
    errors = answer.get("errors") if isinstance(answer, dict) else None
    if isinstance(errors, list) and "INTERNAL_SERVER_ERROR" in _codes(errors):
        return "INTERNAL_SERVER_ERROR"
    return None


class ShopifyClient:
    def __init__(self, config: ShopifyConfig, http: HttpClient, logger: logging.Logger):
        self.config = config
        self.http = http
        self.logger = logger
        self.bucket = CostBucket()

    def budget(self) -> float:
        """The most one query may ask for; a first, nearly free query learns the bucket's size."""
        if self.bucket.maximum is None:
            self.query(PROBE_QUERY)
        return self.bucket.budget

    def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of one query, after waiting for its cost; raises a traced error saying what to fix."""
        variables = variables or {}
        cost = requested_cost(query, variables)
        body = orjson.dumps({"query": query, "variables": variables})
        headers = {"X-Shopify-Access-Token": self.config.token, "Content-Type": "application/json"}
        for _ in range(THROTTLED_TRIES):
            self.bucket.wait_for(cost)
            try:
                _, answer = self.http.post_json(
                    self.config.graphql_url, retry_if=server_error, data=body, headers=headers
                )
            except HttpStatusError as error:
                raise refused(error, self.config) from error
            self.bucket.observe((answer.get("extensions") or {}).get("cost"))
            errors = answer.get("errors")
            if not errors:
                return answer["data"]
            if isinstance(errors, str):  # Shopify's REST-style error body on a 200
                raise system_error(f"Shopify answered: {errors}")
            codes = _codes(errors)
            if "THROTTLED" in codes:
                self.bucket.throttled += 1
                self.logger.info(f"Throttled (query cost {cost}): waiting for the bucket to refill.")
                continue
            if "ACCESS_DENIED" in codes:
                needed = sorted({str((e.get("extensions") or {}).get("requiredAccess", "")) for e in errors} - {""})
                raise config_error(
                    f"The access token lacks an access scope this read needs ({', '.join(needed) or 'see message'}): "
                    "grant it to the app in Shopify's admin (Apps > Develop apps > Admin API access scopes), "
                    "or deselect the stream.",
                    "; ".join(e.get("message", "") for e in errors),
                )
            raise system_error(
                "Shopify refused a query: " + "; ".join(e.get("message", "") for e in errors)[:500],
                f"codes {sorted(codes)}",
            )
        raise AirbyteTracedException(
            message=f"Shopify kept throttling the read ({THROTTLED_TRIES} tries of one query): try again later; "
            "every STATE emitted before this is safe to resume from.",
            failure_type=FailureType.transient_error,
        )

    def cost_log(self) -> AirbyteMessage:
        """The run's points, waits and throttles as one JSON LOG message (next to the HTTP figures)."""
        message = json.dumps({COST_LOG_KEY: self.bucket.summary()})
        return AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=Level.INFO, message=message))
