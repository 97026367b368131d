"""What this machine can hold: the memory budget that bounds size-like arguments before any work starts.

A command whose memory grows with an argument (`generate --scale`, `evaluate --fid-samples`, ...) refuses a
value whose estimated peak exceeds `memory_budget()` with one line naming the largest value that fits
(`vaelab.commands.args`). The budget is half of the memory available now (MemAvailable, or the container's
cgroup limit when lower); `$VAELAB_MEMORY_BUDGET` (bytes, e.g. 8e9) sets it instead. What an argument spills to
disk is bounded by the free space of the file system it goes to (`disk_room`).

    >>> most_that_fits(bytes_each=4 * 64 * 64 * 3)   # float32 64x64 RGB images in the budget
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

BUDGET_ENV = "VAELAB_MEMORY_BUDGET"
SHARE = 0.5  # of the available memory that one command may plan to use
FALLBACK = 4 * 2**30  # when nothing can be measured


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _cgroup_room() -> int | None:
    """memory.max - memory.current of this process's cgroup (v2), None when unlimited or unknown."""
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((root / "memory.current").read_text()))
    except (OSError, ValueError):
        return None


def available_memory() -> int:
    """Bytes this process could still allocate: the lower of MemAvailable and the cgroup's room."""
    known = [v for v in (_meminfo_available(), _cgroup_room()) if v is not None]
    return min(known) if known else FALLBACK


def memory_budget() -> int:
    """Bytes one command may plan to use: $VAELAB_MEMORY_BUDGET, else SHARE of `available_memory()`."""
    text = os.environ.get(BUDGET_ENV)
    if text:
        try:
            value = int(float(text))
        except ValueError:
            raise ValueError(f"${BUDGET_ENV}: expected a number of bytes (e.g. 8e9), received {text!r}") from None
        if value > 0:
            return value
        raise ValueError(f"${BUDGET_ENV}: expected a positive number of bytes, received {text!r}")
    return int(available_memory() * SHARE)


def most_that_fits(bytes_each: float, fixed: float = 0, budget: int | None = None) -> int:
    """The largest count n with fixed + n * bytes_each <= the budget (0 when even the fixed part does not fit)."""
    budget = memory_budget() if budget is None else budget
    return max(0, int((budget - fixed) // max(bytes_each, 1)))


def disk_room(path: str | Path) -> tuple[int, int]:
    """(device id, free bytes) of the file system that holds `path` (or would: its nearest existing folder)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path.stat().st_dev, shutil.disk_usage(path).free


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_seconds(s: float) -> str:
    """3725 -> '1.0 h'."""
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.0f} days"
