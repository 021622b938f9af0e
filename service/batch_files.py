"""iris-batch's bookkeeping: each pod's share of the inputs, the ledger of scored ones, leftovers.

The ledger holds one small JSON file per scored input, written atomically after its outputs,
and keyed by the input's size and modification time, so a changed input is scored again.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

from service.atomic_files import TEMP_PREFIX, write_text_atomic

LEDGER_DIR = ".ledger"
PREDICTIONS_SUFFIX = ".predictions.csv"
REJECTS_SUFFIX = ".rejects.csv"


@dataclass(frozen=True)
class FileResult:
    rows: int
    rejected: int
    seconds: float
    output: Path


def owns(name: str, index: int, count: int) -> bool:
    """Whether pod `index` of `count` scores the file `name` (a stable, disjoint share)."""
    return zlib.crc32(name.encode("utf-8")) % count == index


def remove_leftovers(output_dir: Path, index: int, count: int) -> None:
    """Delete the temporary files a crashed run left behind for this pod's share of inputs."""
    # Only this share: the other pods of an Indexed Job may be writing theirs right now.
    for folder in (output_dir, output_dir / LEDGER_DIR):
        for entry in folder.glob(TEMP_PREFIX + "*"):
            target = entry.name.removeprefix(TEMP_PREFIX).rsplit(".", 1)[0]
            for suffix in (PREDICTIONS_SUFFIX, REJECTS_SUFFIX, ".json"):
                target = target.removesuffix(suffix)
            if owns(target, index, count):
                entry.unlink(missing_ok=True)


def list_inputs(input_dir: Path) -> list[Path]:
    """The CSV files in `input_dir`, less hidden ones (uploads in progress) and our outputs."""
    return sorted(
        entry
        for entry in input_dir.iterdir()
        if entry.is_file()
        and entry.suffix.lower() == ".csv"
        and not entry.name.startswith(".")
        and not entry.name.endswith((PREDICTIONS_SUFFIX, REJECTS_SUFFIX))
    )


class Ledger:
    """Which inputs are scored: one small JSON file per input, written atomically last."""

    def __init__(self, output_dir: Path) -> None:
        self.folder = output_dir / LEDGER_DIR

    def _entry(self, source: Path) -> Path:
        return self.folder / f"{source.name}.json"

    @staticmethod
    def identity(source: Path) -> dict[str, int]:
        """What the ledger keys an input by: its size and modification time.

        Taken before the file is read, so that a change made while it is scored makes the
        next run score it again.
        """
        stat = source.stat()
        return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}

    def is_done(self, source: Path) -> bool:
        try:
            recorded = json.loads(self._entry(source).read_text(encoding="utf-8"))
            identity = self.identity(source)
        except (OSError, ValueError):
            return False
        return all(recorded.get(key) == value for key, value in identity.items())

    def record(
        self, source: Path, identity: dict[str, int], result: FileResult, version: str
    ) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        entry = {
            **identity,
            "rows": result.rows,
            "rejected": result.rejected,
            "output": result.output.name,
            "model_version": version,
        }
        write_text_atomic(self._entry(source), json.dumps(entry) + "\n")
