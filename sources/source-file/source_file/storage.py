"""Where files live: local paths and s3:// URLs behind one pyarrow filesystem interface, listed by glob."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
from wcmatch import glob as wglob

from source_core.config import config_error
from source_file.config import FileConfig

GLOB_CHARS = set("*?[{")
GLOB_FLAGS = wglob.GLOBSTAR | wglob.BRACE  # `**` across folders, `{a,b}` alternatives


def iso_of_us(modified_us: int) -> str:
    """A modification time in microseconds since the epoch as ISO 8601 text in UTC: 2024-03-01T10:00:00.123456Z."""
    stamp = dt.datetime.fromtimestamp(modified_us / 1e6, dt.UTC)
    return stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, order=True)
class FileRef:
    """One file: ordered by modification time, then URL (the order files are read in)."""

    modified_us: int  # microseconds since the epoch, UTC
    url: str
    path: str  # as the filesystem names it (bucket/key on S3)
    size: int

    @property
    def modified(self) -> str:
        return iso_of_us(self.modified_us)


def s3_filesystem(
    access_key: str | None, secret_key: str | None, region: str | None, endpoint_url: str | None
) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem: AWS, or an S3-compatible store at `endpoint_url`; anonymous without a key."""
    endpoint = urlparse(endpoint_url) if endpoint_url else None
    return pafs.S3FileSystem(
        access_key=access_key,
        secret_key=secret_key,
        region=region or "us-east-1",
        endpoint_override=endpoint.netloc if endpoint else None,
        scheme=endpoint.scheme if endpoint else "https",
        anonymous=not access_key,
        connect_timeout=10,
        request_timeout=60,
    )


class Storage:
    def __init__(self, config: FileConfig) -> None:
        self.config = config
        self._s3: pafs.S3FileSystem | None = None

    def filesystem(self, url: str) -> pafs.FileSystem:
        if url.startswith("s3://"):
            if self._s3 is None:
                c = self.config
                self._s3 = s3_filesystem(c.aws_access_key_id, c.aws_secret_access_key, c.region, c.endpoint_url)
            return self._s3
        if "://" in url and not url.startswith("file://"):
            raise config_error(f"Unsupported location {url}: use a local path, file:// or s3:// URL.")
        return pafs.LocalFileSystem()

    def list(self, pattern: str) -> list[FileRef]:
        """The files matching `pattern` (a path or URL with globs), oldest first."""
        fs = self.filesystem(pattern)
        is_s3 = pattern.startswith("s3://")
        path = pattern[len("s3://") :] if is_s3 else os.path.abspath(pattern.removeprefix("file://"))
        parts = path.split("/")
        fixed = []
        for part in parts:
            if GLOB_CHARS & set(part):
                break
            fixed.append(part)
        base = "/".join(fixed)
        try:
            if is_s3 and fs.get_file_info(parts[0]).type == pafs.FileType.NotFound:
                raise config_error(f"S3 bucket {parts[0]!r} does not exist, or these credentials cannot see it.")
            if len(fixed) == len(parts):  # no glob: one file
                infos = [fs.get_file_info(path)]
            else:
                infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        except (OSError, pa.ArrowException) as exc:
            if any(code in str(exc) for code in ("ACCESS_DENIED", "AccessDenied", "SignatureDoesNotMatch",
                                                 "InvalidAccessKeyId")):  # fmt: skip
                raise config_error(
                    f"S3 refused access to {pattern}: check the access key (aws_access_key_id) and its secret, "
                    f"and that they may list the bucket ({exc})"
                ) from exc
            raise config_error(f"Cannot list {pattern}: {exc}") from exc
        found = []
        for info in infos:
            if info.type != pafs.FileType.File or not wglob.globmatch(info.path, path, flags=GLOB_FLAGS):
                continue
            url = f"s3://{info.path}" if is_s3 else info.path
            modified = info.mtime_ns // 1000 if info.mtime_ns is not None else 0
            found.append(FileRef(modified, url, info.path, info.size or 0))
        return sorted(found)

    def open(self, file: FileRef) -> pa.NativeFile:
        return self.filesystem(file.url).open_input_file(file.path)
