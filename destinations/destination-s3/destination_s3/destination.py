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

from destination_core.durable import make_folders
from destination_core.launch import BatchDestination
from destination_core.streams import TargetStream
from destination_s3.files import VARYING, FileLoader, Target
from source_core.config import config_error
from source_file.storage import s3_filesystem

DEFAULT_TEMPLATE = "{namespace}/{stream}/{date}/{timestamp}_{part}"
PARQUET_CODECS = ("none", "snappy", "gzip", "zstd")
# what S3 says when the config is at fault: no such bucket, or an access key that may not write there
REFUSALS = ("NO_SUCH_BUCKET", "NoSuchBucket", "ACCESS_DENIED", "AccessDenied", "SignatureDoesNotMatch",
            "InvalidAccessKeyId")  # fmt: skip


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


def write_error(target: Target, exc: Exception) -> AirbyteTracedException:
    """A failed write: a config_error where S3 says the bucket or the access key is wrong, else a system error."""
    if any(code in str(exc) for code in REFUSALS):
        return config_error(
            f"S3 refused writing under {target.url}: check that the bucket exists and that the access key "
            f"(aws_access_key_id) and its secret may write there ({exc})"
        )
    return AirbyteTracedException(message=f"Writing under {target.url} failed: {exc}", internal_message=str(exc))


def prepare(target: Target) -> None:
    """Make sure files can go under the target: the local folder made, the S3 bucket there (config_error if not)."""
    if target.local:
        try:
            make_folders(target.base)
        except OSError as exc:
            raise config_error(
                f"destination_path {target.url!r}: cannot make the folder {target.base} ({exc.strerror or exc}); "
                "give a folder, or a path where one can be made."
            ) from exc
        return
    bucket = target.base.split("/", 1)[0]
    try:
        found = target.fs.get_file_info(bucket).type != pafs.FileType.NotFound
    except (OSError, pa.ArrowException) as exc:
        raise write_error(target, exc) from exc
    if not found:
        raise config_error(
            f"destination_path {target.url!r}: S3 bucket {bucket!r} does not exist, or these credentials cannot see it."
        )


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
            prepare(target)
            probe = f"{target.base}/_airbyte_check_{uuid.uuid4().hex[:12]}.txt"
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

    def exact_numbers(self, config: Mapping[str, Any]) -> bool:
        """CSV writes numbers as their text, with every digit; JSONL and Parquet write doubles."""
        return config.get("format", "parquet") == "csv"

    @contextmanager
    def loader(self, config: Mapping[str, Any], streams: list[TargetStream]) -> Iterator[FileLoader]:
        fmt, compression, template = file_settings(config)
        check_streams(streams)
        target = target_of(config)
        prepare(target)
        loader = FileLoader(target, streams, fmt, compression, template)
        try:
            yield loader
        except (OSError, pa.ArrowException) as exc:
            raise write_error(target, exc) from exc
        finally:
            loader.close()
