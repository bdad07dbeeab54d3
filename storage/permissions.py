"""Files and folders holding personal data are created readable by their owner only.

The SQLite database (and, through SQLite, its ``-wal`` and ``-shm`` files), the webhook spool and
the report folder hold citizens' messages: whatever the process umask, they are made ``0o600``
(files) and ``0o700`` (the folders this process creates). Existing folders are left as they are:
an operator may have shared one on purpose.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` and its missing parents, each ``0o700``; return it."""
    folder = Path(path)
    missing: list[Path] = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    folder.mkdir(parents=True, exist_ok=True)
    for created in missing:
        os.chmod(created, PRIVATE_DIR_MODE)
    return folder


def touch_private_file(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` empty as ``0o600`` when it does not exist (an existing file is untouched)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))
    return Path(path)


def open_private(path: str | os.PathLike[str], mode: str = "ab", **kwargs: Any) -> IO[Any]:
    """``open(path, mode)`` for appending or writing, creating the file as ``0o600``."""
    flags = os.O_WRONLY | os.O_CREAT
    if "a" in mode:
        flags |= os.O_APPEND
    elif "w" in mode:
        flags |= os.O_TRUNC
    if "+" in mode:
        flags = (flags & ~os.O_WRONLY) | os.O_RDWR
    return os.fdopen(os.open(path, flags, PRIVATE_FILE_MODE), mode, **kwargs)
