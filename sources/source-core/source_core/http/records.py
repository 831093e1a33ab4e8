"""JSON objects from an API as a `Records` batch: each object serialized once (orjson, `jsoncodec.dumps`), then
framed into RECORD lines by Arrow kernels in the launcher's encode pool (no message object per record)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from source_core.emit import RecordEncoder, string_array
from source_core.http.jsoncodec import dumps
from source_core.launch import Records

_TAIL, _NOTHING = string_array(["}}\n", ""])  # as Arrow scalars: pa.scalar of a str would import pandas


class JsonRecordEncoder(RecordEncoder):
    """Encodes a one-column batch of JSON object texts (`json_records`) as RECORD lines."""

    def __init__(self, stream: str, namespace: str | None = None):
        super().__init__(stream, namespace, [])

    def encode(self, batch: pa.RecordBatch, emitted_at: int) -> pa.Array:
        if len(batch) == 0:
            return string_array([])
        head = string_array([self._head + str(emitted_at) + ',"data":'])[0]
        return pc.binary_join_element_wise(head, batch.column(0), _TAIL, _NOTHING)

    def records(self, objects: Sequence[Any]) -> Records:
        """`objects` (parsed JSON values) as one batch of this stream."""
        texts = [dumps(o) for o in objects]
        offsets = np.cumsum([0, *map(len, texts)], dtype=np.int32)
        column = pa.StringArray.from_buffers(len(texts), pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(texts)))
        return Records(self, pa.RecordBatch.from_arrays([column], ["json"]))
