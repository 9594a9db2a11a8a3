"""Run a command and measure its wall time and the peak memory of its whole process tree.

Memory is sampled from /proc every 50 ms as the sum over the tree of each process's PSS
(proportional set size: pages shared between forked workers are split, not double counted),
falling back to RSS where smaps_rollup is unavailable.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _tree(pid: int) -> list[int]:
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _memory_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return 0


def run_measured(cmd: list[str], env: dict | None = None, cwd: str | None = None, log: Path | None = None) -> dict:
    """Run ``cmd``; return its exit code, stdout, wall seconds and peak tree memory in MB."""
    stderr = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=cwd, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, sum(_memory_kb(p) for p in _tree(proc.pid)))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if log:
        stderr.close()
    return {"returncode": proc.returncode, "stdout": stdout, "wall_s": wall, "peak_mb": peak / 1024}
