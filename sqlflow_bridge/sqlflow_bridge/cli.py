"""`sqlflow-airbyte`: SQLFlow's own CLI with the AIRBYTE connectors registered.

    sqlflow-airbyte pipeline run NAME [--profile dev]     (any `sqlflow` command works)

States read by AIRBYTE sources are committed only when the pipeline succeeds: one that fails after its LOAD
reads the same rows again on the next run, none are skipped. SQLFlow 0.1.7 exits 0 even when a pipeline fails;
its one report of the outcome is `ArtifactManager.finalize_execution`, which this command listens to (and then
exits 1 on failure).
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    from sqlflow.cli.main import cli
    from sqlflow.core.storage.artifact_manager import ArtifactManager

    from sqlflow_bridge import sqlflow_plugin

    sqlflow_plugin.deferred = []
    outcomes: list[bool] = []
    finalize = ArtifactManager.finalize_execution

    def record(self: ArtifactManager, pipeline_name: str, success: bool, *args: Any, **kwargs: Any) -> Any:
        outcomes.append(bool(success))
        return finalize(self, pipeline_name, success, *args, **kwargs)

    ArtifactManager.finalize_execution = record
    try:
        result = cli()
        code = result if isinstance(result, int) else 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        ArtifactManager.finalize_execution = finalize
    if code == 0 and False in outcomes:
        code = 1
    if code == 0:
        for store in sqlflow_plugin.deferred:
            store.flush()
    sys.exit(code)
