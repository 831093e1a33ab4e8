"""Run a batch source under the Airbyte CLI contract.

`spec`, `check` and `discover` go through airbyte-cdk's entrypoint unchanged. `read` does what the CDK's
entrypoint does (config validation against the spec, secret masking, catalog and state parsing,
`sourceStats.recordCount` on every STATE), except that a source may yield `Records` (an Arrow batch and its
encoder) besides ordinary messages: those are encoded in one vectorized pass and written as one block.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteStreamStatus,
    ConfiguredAirbyteCatalog,
    ConnectorSpecification,
    FailureType,
    StreamDescriptor,
)
from airbyte_cdk.sources import Source
from airbyte_cdk.sources.connector_state_manager import HashableStreamDescriptor
from airbyte_cdk.utils.stream_status_utils import as_airbyte_message as status_message
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_core.config import config_error, validate_config
from source_core.emit import RecordEncoder, as_bytes


@dataclass(frozen=True)
class Records:
    """Records of one stream as an Arrow batch; the launcher (or the SQLFlow bridge) consumes it whole."""

    encoder: RecordEncoder
    batch: pa.RecordBatch


class BatchSource(Source):
    """A CDK `Source` whose `read` yields `Records` as well as `AirbyteMessage`s."""

    def read(  # type: ignore[override]
        self, logger: Any, config: dict[str, Any], catalog: ConfiguredAirbyteCatalog, state: Any = None
    ) -> Iterator[AirbyteMessage | Records]:
        raise NotImplementedError


class EncodeError(AirbyteTracedException):
    """A batch of `stream` could not be encoded: its records were not written."""

    def __init__(self, stream: StreamDescriptor, cause: Exception):
        super().__init__(
            message=f"Could not encode records of {stream.namespace}.{stream.name}: {cause}",
            internal_message=str(cause),
            failure_type=FailureType.system_error,
            stream_descriptor=stream,
            exception=cause,
        )
        self.stream = stream


def _encode(records: Records, emitted_at: int) -> memoryview:
    try:
        return as_bytes(records.encoder.encode(records.batch, emitted_at))
    except Exception as exc:
        stream = StreamDescriptor(name=records.encoder.stream, namespace=records.encoder.namespace)
        raise EncodeError(stream, exc) from exc


class MessageSource(Source):
    """A batch source as a plain CDK `Source`: its `Records` become RECORD messages, one per row.

    For in-process tools that drive `Source.read` themselves, such as airbyte-cdk's standard tests. The messages
    are the CLI's own lines (same encoder) parsed back; the CLI itself keeps the vectorized path.
    """

    def __init__(self, source: BatchSource) -> None:
        self.source = source

    def spec(self, logger: Any) -> ConnectorSpecification:
        return self.source.spec(logger)

    def check(self, logger: Any, config: Any) -> AirbyteConnectionStatus:
        return self.source.check(logger, config)

    def discover(self, logger: Any, config: Any) -> AirbyteCatalog:
        return self.source.discover(logger, config)

    def read(
        self, logger: Any, config: Any, catalog: ConfiguredAirbyteCatalog, state: Any = None
    ) -> Iterator[AirbyteMessage]:
        for message in self.source.read(logger, config, catalog, state):
            if isinstance(message, Records):
                for line in bytes(_encode(message, int(time.time() * 1000))).splitlines():
                    yield AirbyteMessageSerializer.load(orjson.loads(line))
            else:
                yield message


def write_messages(messages: Iterable[AirbyteMessage | Records], out: BinaryIO, threads: int = 2) -> None:
    """Serialize a read to `out`, counting records per stream into each STATE's `sourceStats`.

    Batches are encoded on a small thread pool (pyarrow kernels release the GIL) while the source fetches
    the next ones; output is written strictly in the order the source produced it. A batch that fails to
    encode ends the read there: nothing produced after it goes out (its STATE would move the cursor past
    records never written), its stream is marked INCOMPLETE and the `EncodeError` is raised (a TRACE).
    """
    counts: defaultdict[HashableStreamDescriptor, float] = defaultdict(float)
    pending: deque[Future[memoryview] | bytes] = deque()

    def write() -> None:
        block = pending.popleft()
        try:
            data = block.result() if isinstance(block, Future) else block
        except EncodeError:
            pending.clear()
            raise
        sys.stdout.flush()  # log lines written through the text layer must come first
        out.write(data)

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="encode") as pool:
        try:
            try:
                for message in messages:
                    if isinstance(message, Records):
                        encoder = message.encoder
                        counts[HashableStreamDescriptor(name=encoder.stream, namespace=encoder.namespace)] += len(
                            message.batch
                        )
                        pending.append(pool.submit(_encode, message, int(time.time() * 1000)))
                    else:
                        message = AirbyteEntrypoint.handle_record_counts(message, counts)
                        pending.append((AirbyteEntrypoint.airbyte_message_to_string(message) + "\n").encode())
                    while pending and (
                        len(pending) > threads or not isinstance(pending[0], Future) or pending[0].done()
                    ):
                        write()
            finally:  # also when the source fails: what it produced before (records, states, its TRACE) goes out
                while pending:
                    write()
        except EncodeError as exc:
            if isinstance(messages, Generator):
                messages.close()  # the source stops reading and lets its connections go
            incomplete = status_message(exc.stream, AirbyteStreamStatus.INCOMPLETE)
            out.write((AirbyteEntrypoint.airbyte_message_to_string(incomplete) + "\n").encode())
            raise
        finally:
            out.flush()


class Entrypoint(AirbyteEntrypoint):
    """The CDK's entrypoint, with config errors that name the field at fault."""

    @staticmethod
    def validate_connection(source_spec: Any, config: Any) -> None:
        validate_config(source_spec, config)


def launch(source: BatchSource, args: list[str]) -> None:
    entrypoint = Entrypoint(source)
    parsed = entrypoint.parse_args(args)
    if parsed.command != "read":
        with PRINT_BUFFER:  # as airbyte_cdk.entrypoint.launch does
            for message in entrypoint.run(parsed):
                print(f"{message}\n", end="")
        return
    spec = source.spec(entrypoint.logger)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as temp_dir:
        config = source.configure(source.read_config(parsed.config), temp_dir)
        entrypoint.set_up_secret_filter(config, spec.connectionSpecification)
        if source.check_config_against_spec:
            entrypoint.validate_connection(spec, config)
        try:
            catalog = source.read_catalog(parsed.catalog)
        except Exception as exc:  # the CDK's parse errors, each a reason to fix the file
            raise config_error(f"--catalog {parsed.catalog} is not a configured catalog: {exc}") from exc
        try:
            state = source.read_state(parsed.state)
        except Exception as exc:
            raise config_error(
                f"--state {parsed.state} is not an Airbyte state (a JSON list of state objects): {exc}"
            ) from exc
        write_messages(source.read(entrypoint.logger, config, catalog, state), sys.stdout.buffer)
