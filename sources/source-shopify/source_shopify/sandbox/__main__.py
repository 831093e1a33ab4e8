"""`source-shopify-sandbox` / `python -m source_shopify.sandbox`: serve the sandbox until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import signal
import time
from typing import Any

from source_shopify.sandbox.server import Options, Sandbox, SandboxServer


def main(argv: list[str] | None = None) -> None:
    defaults = Options()
    parser = argparse.ArgumentParser(description="A local Shopify GraphQL Admin API for tests and benchmarks.")
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port)
    parser.add_argument("--shop", default=defaults.shop)
    parser.add_argument("--orders", type=int, default=defaults.orders)
    parser.add_argument("--customers", type=int, default=defaults.customers)
    parser.add_argument("--products", type=int, default=defaults.products)
    parser.add_argument("--locations", type=int, default=defaults.locations)
    parser.add_argument("--restore-rate", type=float, default=defaults.restore_rate)
    parser.add_argument("--bucket", type=float, default=defaults.bucket)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    options = Options(**vars(parser.parse_args(argv)))
    started = time.monotonic()
    server = SandboxServer(Sandbox(options))
    print(
        f"Shopify sandbox on http://{options.host}:{server.server_address[1]}/{options.shop} with {options.orders} "
        f"orders (seeded in {time.monotonic() - started:.1f} s)",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _stop)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    finally:
        server.sandbox.bulk.close()  # the bulk files in the temporary folder


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
