"""destination-s3: spec, check and write of CSV, JSONL or Parquet files to S3 or a local folder."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
from airbyte_cdk.models import AirbyteConnectionStatus, Status
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_core.launch import BatchDestination
from destination_core.streams import TargetStream
from destination_s3.files import VARYING, FileLoader, Target
from source_core.config import config_error
from source_file.storage import s3_filesystem

DEFAULT_TEMPLATE = "{namespace}/{stream}/{date}/{timestamp}_{part}"
PARQUET_CODECS = ("none", "snappy", "gzip", "zstd")


def target_of(config: Mapping[str, Any]) -> Target:
    url = str(config["destination_path"]).strip()
    if url.startswith("s3://"):
        fs = s3_filesystem(
            config.get("aws_access_key_id"), config.get("aws_secret_access_key"), config.get("region"),
            config.get("endpoint_url"),
        )  # fmt: skip
        return Target(fs, url[len("s3://") :].rstrip("/"), url)
    if "://" in url and not url.startswith("file://"):
        raise config_error(f"destination_path {url!r}: use s3://bucket/prefix or a local folder.")
    return Target(pafs.LocalFileSystem(), os.path.abspath(url.removeprefix("file://")), url)


def file_settings(config: Mapping[str, Any]) -> tuple[str, str, str]:
    fmt = config.get("format", "parquet")
    compression = config.get("compression") or ("snappy" if fmt == "parquet" else "none")
    if fmt != "parquet" and compression == "snappy":
        raise config_error("compression snappy is for Parquet only: use gzip, zstd or none for CSV and JSONL.")
    template = config.get("path_template") or DEFAULT_TEMPLATE
    if "{stream}/" not in template:
        raise config_error(f"path_template {template!r} must give each stream a folder of its own: '{{stream}}/'.")
    if "{part}" not in template or "{timestamp}" not in template:
        raise config_error(
            f"path_template {template!r} needs {{timestamp}} and {{part}}: every sync, and every commit in it, "
            "writes new files, and these keep their names apart."
        )
    head = template[: template.index("{stream}/")]
    if any(v in head for v in VARYING):
        raise config_error(f"path_template {template!r}: {{date}}, {{timestamp}}, {{part}} and {{generation}} "
                           "go after '{stream}/'.")  # fmt: skip
    return fmt, compression, template


def check_streams(streams: list[TargetStream]) -> None:
    """Refuse what files cannot do: dedup (a file is not updated), names that are no folder name."""
    for stream in streams:
        if stream.dedup:
            raise config_error(
                f"Stream '{stream.label}': files cannot be deduplicated; use append or overwrite "
                "(and deduplicate when reading, by the primary key and _airbyte_extracted_at)."
            )
        for part in (stream.schema, stream.name):
            if "/" in part or part in ("", ".", ".."):
                raise config_error(f"Stream '{stream.label}': {part!r} cannot be a folder name in a path.")


class DestinationS3(BatchDestination):
    default_schema = "default"
    exact_numbers = False

    @staticmethod
    def fold(name: str) -> str:
        return name  # object keys and (most) file names are case-sensitive

    def shadow_table(self, name: str) -> None:
        return None  # an overwrite's files wait under .airbyte_tmp/, where no stream's folder can be

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """Write a small file under destination_path, read it back and delete it."""
        try:
            file_settings(config)
            target = target_of(config)
            probe = f"{target.base}/_airbyte_check_{uuid.uuid4().hex[:12]}.txt"
            if target.local:  # (S3 has no folders)
                target.fs.create_dir(target.base, recursive=True)
            with target.fs.open_output_stream(probe) as out:
                out.write(b"airbyte check\n")
            with target.fs.open_input_stream(probe) as back:
                back.read()
            target.fs.delete_file(probe)
        except AirbyteTracedException as exc:
            return AirbyteConnectionStatus(status=Status.FAILED, message=exc.message)
        except (OSError, pa.ArrowException) as exc:
            return AirbyteConnectionStatus(
                status=Status.FAILED, message=f"Cannot write under {config['destination_path']}: {exc}"
            )
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    @contextmanager
    def loader(self, config: Mapping[str, Any], streams: list[TargetStream]) -> Iterator[FileLoader]:
        fmt, compression, template = file_settings(config)
        check_streams(streams)
        target = target_of(config)
        if target.local:
            os.makedirs(target.base, exist_ok=True)
        loader = FileLoader(target, streams, fmt, compression, template)
        try:
            yield loader
        except (OSError, pa.ArrowException) as exc:
            raise AirbyteTracedException(
                message=f"Writing under {target.url} failed: {exc}", internal_message=str(exc)
            ) from exc
        finally:
            loader.close()
