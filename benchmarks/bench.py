"""What every benchmark script prints around its figures: the load average, then one JSON line of the result."""

from __future__ import annotations

import json
import os


def load() -> str:
    """The 1, 5 and 15 minute load averages, as printed beside every figure."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def finish(result: dict) -> int:
    """Adds the load average after the run to `result`, prints it and `result` as one JSON line; exit code 0."""
    result["load_average_after"] = os.getloadavg()
    print(f"load average after: {load()}")
    print(json.dumps(result))
    return 0
