"""Where vaelab keeps what it can recompute: `$VAELAB_CACHE_DIR`, else `~/.cache/vaelab`.

Users of the folder: data checksums (`verified.json`), the standard-FID reference features (`fid/`), the
measured precision verdicts (`precision.json`).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$VAELAB_CACHE_DIR, else ~/.cache/vaelab (not created here)."""
    return Path(os.environ.get("VAELAB_CACHE_DIR") or Path.home() / ".cache" / "vaelab")
