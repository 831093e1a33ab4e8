"""run_then_exit: a process ended by os._exit still does what the interpreter's own ending would."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROLOGUE = """
import sys, tempfile, threading, time
from concurrent.futures import ThreadPoolExecutor
from source_core.process_exit import run_then_exit
"""


def run_script(body: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "command.py"
    script.write_text(PROLOGUE + textwrap.dedent(body))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout block-buffered, as in a pipe
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env
    )


def test_output_threads_and_clean_up_are_all_finished(tmp_path: Path) -> None:
    done = run_script(
        """
        def command():
            global folder, pool
            folder = tempfile.TemporaryDirectory(dir=".")  # left for the interpreter's clean-up (atexit) to remove
            cycle = [tempfile.NamedTemporaryFile(dir=".")]  # removed only when collected
            cycle.append(cycle)
            print(folder.name, cycle[0].name, file=sys.stderr)
            pool = ThreadPoolExecutor(1)  # never shut down: the interpreter's ending wakes and joins its worker
            pool.submit(lambda: (time.sleep(0.5), print("from the pool")))
            def late():
                time.sleep(0.5)
                print("from a thread")
            threading.Thread(target=late).start()
            for n in range(200_000):  # far more than the stdout buffer: the tail is written at exit
                print(n)

        run_then_exit(command)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line for line in lines if not line.startswith("from")] == [str(n) for n in range(200_000)]
    assert {"from the pool", "from a thread"} <= set(lines)
    for name in done.stderr.split():
        assert not (tmp_path / name).exists()


@pytest.mark.parametrize(
    ("raise_", "status", "stderr"),
    [
        ("sys.exit(3)", 3, ""),
        ("sys.exit()", 0, ""),
        ("sys.exit('the config is wrong')", 1, "the config is wrong"),
        ("raise ValueError('boom')", 1, "hooked ValueError boom"),
        ("raise KeyboardInterrupt", 130, "hooked KeyboardInterrupt"),
    ],
)
def test_exit_status_is_the_one_python_gives(raise_: str, status: int, stderr: str, tmp_path: Path) -> None:
    done = run_script(
        f"""
        sys.excepthook = lambda kind, value, tb: print("hooked", kind.__name__, value, file=sys.stderr)
        def command():
            print("before")
            {raise_}

        run_then_exit(command)
        """,
        tmp_path,
    )
    assert (done.returncode, done.stdout, done.stderr.strip()) == (status, "before\n", stderr)


def test_a_failing_hook_still_reports_the_error(tmp_path: Path) -> None:
    done = run_script(
        """
        def hook(kind, value, tb):
            raise RuntimeError("the hook broke")
        sys.excepthook = hook
        def command():
            raise ValueError("the real error")

        run_then_exit(command)
        """,
        tmp_path,
    )
    assert done.returncode == 1
    assert "ValueError: the real error" in done.stderr
