"""Where the shared public corpora are read from (training, evaluation, benchmarks); never copied in."""

from __future__ import annotations

import os
from pathlib import Path


def shared_data_dir() -> Path:
    """Return the shared corpora directory (``$SENSING_SHARED_DATA`` or ``<repo>/../shared/data``)."""
    env = os.environ.get("SENSING_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"
