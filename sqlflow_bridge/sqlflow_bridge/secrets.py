"""`${NAME}` references in connector configs: resolved from the environment, and masked wherever text leaves.

The resolved values, and every value of a field the connector's spec marks `airbyte_secret`, go into a `Masker`;
whatever the bridge logs, stores or raises passes through it first.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from airbyte_cdk.utils.airbyte_secrets_utils import get_secrets

from sqlflow_bridge.errors import config_error

_REFERENCE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")
MASK = "****"


def resolve(config: Any, environ: Mapping[str, str] | None = None) -> tuple[Any, list[str]]:
    """`config` with every `${NAME}` replaced by the environment variable's value, and the values used.

    A missing variable is a config error that names it (never a value). `$${NAME}` stays literally `${NAME}`.
    """
    environ = os.environ if environ is None else environ
    used: list[str] = []

    def substitute(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            escaped, name = match.groups()
            if escaped:
                return match.group(0)[1:]
            if name not in environ:
                raise config_error(
                    f"The config references ${{{name}}}, but the environment variable {name} is not set."
                )
            used.append(environ[name])
            return environ[name]

        return _REFERENCE.sub(one, text)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return substitute(value)
        if isinstance(value, Mapping):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    return walk(config), used


class Masker:
    """Replaces known secret values in text (longest first, so that no part of a longer secret remains)."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self._secrets.update(s for s in secrets if isinstance(s, str) and s)

    def add_spec_secrets(self, spec: Mapping[str, Any], config: Mapping[str, Any]) -> None:
        """Also mask the config's values of fields marked `airbyte_secret` in the connector's spec."""
        self.add(get_secrets(spec, config))

    def __call__(self, text: str | None) -> str | None:
        if not text:
            return text
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text


class MaskingFilter(logging.Filter):
    """Masks the records of the logger it is added to."""

    def __init__(self, masker: Masker):
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):  # each value whole, before the message's format may cut it short
            record.args = tuple(self.masker(a) if isinstance(a, str) else a for a in record.args)
        message = record.getMessage()
        masked = self.masker(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


@contextmanager
def masked_logs(logger: logging.Logger, masker: Masker) -> Iterator[None]:
    """Mask what `logger` itself logs (not its children) meanwhile: code the bridge calls but does not own."""
    masking = MaskingFilter(masker)
    logger.addFilter(masking)
    try:
        yield
    finally:
        logger.removeFilter(masking)
