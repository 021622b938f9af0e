"""Crash-safe file writes: a reader sees the old file or the complete new one, never a part.

The recipe is the POSIX one: write a temporary file in the same directory, fsync it, rename it
over the target with os.replace, then fsync the directory so the rename itself is durable.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TEMP_PREFIX = ".tmp-"
# mkstemp creates 0600 files; published files are read by other pods (same or other UID).
FILE_MODE = 0o644


def fsync_dir(path: Path) -> None:
    """Make the entries of `path` (creations, renames) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicFile:
    """A file built under a temporary name; `commit` puts it at `target`, `discard` drops it.

    Writers open `temp_path` themselves (so Arrow or the csv module can write it natively).
    Leaving the `with` block without a commit discards the temporary file.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX + target.name + ".", dir=target.parent)
        os.fchmod(fd, FILE_MODE)
        os.close(fd)
        self.temp_path = Path(name)
        self._done = False

    def commit(self) -> None:
        with self.temp_path.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(self.temp_path, self.target)
        fsync_dir(self.target.parent)
        self._done = True

    def discard(self) -> None:
        self.temp_path.unlink(missing_ok=True)
        self._done = True

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._done:
            self.discard()


def write_text_atomic(target: Path, text: str) -> None:
    with AtomicFile(target) as file:
        file.temp_path.write_text(text, encoding="utf-8")
        file.commit()
