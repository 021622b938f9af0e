"""Read a feature CSV in validated chunks, fast, with every bad row accounted for.

The file is cut into blocks of whole lines (about `chunk_rows` rows each), so memory stays flat
however large the file is. Each block is parsed by Arrow's multithreaded CSV reader; the four
feature columns are kept as the text the file holds (written back unchanged) and converted to
float64 for the model. A block in which anything is wrong (a wrong number of fields, text that
is not a number, NaN, infinity, a measurement outside 0..MAX_MEASUREMENT_CM) is parsed again
line by line, which finds each bad row with its line number and reason; bad rows are rare, so
only the blocks that hold them pay for the slow path.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from service.data import FEATURE_NAMES

# Iris measurements are centimetres; anything outside this range is a data error, not a flower.
MAX_MEASUREMENT_CM = 100.0
_SAMPLE_BYTES = 64 * 1024
_SHOWN_CHARS = 200


class InputError(Exception):
    """The file cannot be read at all; the message is one readable line (without the path)."""


@dataclass(frozen=True)
class Reject:
    line: int
    reason: str
    text: str


@dataclass
class Chunk:
    text: list[pa.Array]  # the feature columns as written in the input, in FEATURE_NAMES order
    features: np.ndarray  # the same values as float64, shape (rows, 4)
    rejects: list[Reject] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.features)


def read_chunks(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    """Yield the valid rows of `path` in chunks, each with the rows it rejected."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot open it: {exc.strerror or exc}") from None
    with handle:
        columns = _read_header(handle)
        sample = handle.read(_SAMPLE_BYTES)
        bytes_per_line = max(8, len(sample) // max(1, sample.count(b"\n")))
        block_bytes = max(_SAMPLE_BYTES, chunk_rows * bytes_per_line)
        parser = _BlockParser(columns)
        first_line = 2
        pending = sample
        while True:
            block, pending, at_end = _next_block(handle, pending, block_bytes)
            if block.strip():
                yield parser.parse(block, first_line)
            first_line += block.count(b"\n")
            if at_end:
                return


def _read_header(handle: BinaryIO) -> list[str]:
    raw = handle.readline()
    try:
        line = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("the header is not UTF-8 text") from None
    columns = [name.strip() for name in next(csv.reader([line]), [])]
    missing = [name for name in FEATURE_NAMES if name not in columns]
    if missing:
        raise InputError(f"missing column(s) in the header: {', '.join(missing)}")
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise InputError(f"duplicated column(s) in the header: {', '.join(duplicated)}")
    return columns


def _next_block(handle: BinaryIO, pending: bytes, size: int) -> tuple[bytes, bytes, bool]:
    """The next run of whole lines, what is left of a cut line, and whether the file ended."""
    data = pending + handle.read(max(0, size - len(pending)))
    while True:
        cut = data.rfind(b"\n") + 1
        if cut:
            return data[:cut], data[cut:], False
        more = handle.read(size)
        if not more:
            return data, b"", True
        data += more


class _BlockParser:
    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.positions = [columns.index(name) for name in FEATURE_NAMES]
        self._read_options = pcsv.ReadOptions(column_names=columns)
        self._convert_options = pcsv.ConvertOptions(
            column_types={name: pa.string() for name in columns},
            include_columns=list(FEATURE_NAMES),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )

    def parse(self, block: bytes, first_line: int) -> Chunk:
        try:
            table = pcsv.read_csv(
                pa.py_buffer(block),
                read_options=self._read_options,
                convert_options=self._convert_options,
            )
            text = [table.column(name).combine_chunks() for name in FEATURE_NAMES]
            features = np.column_stack(
                [pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False) for column in text]
            )
        except (pa.ArrowInvalid, ValueError):
            return self._parse_lines(block, first_line)
        plausible = np.isfinite(features) & (features >= 0) & (features <= MAX_MEASUREMENT_CM)
        if not plausible.all():
            return self._parse_lines(block, first_line)
        return Chunk(text, features)

    def _parse_lines(self, block: bytes, first_line: int) -> Chunk:
        """Line by line: keep the good rows, reject each bad one with its line and reason."""
        good_text: list[list[str]] = [[] for _ in FEATURE_NAMES]
        good_values: list[list[float]] = []
        rejects: list[Reject] = []
        lines = block.decode("utf-8", errors="replace").split("\n")
        for line_number, raw in enumerate(lines, start=first_line):
            line = raw.rstrip("\r")
            if not line.strip():
                continue
            fields = next(csv.reader([line]), [])
            problem, texts, values = self._check(fields)
            if problem:
                rejects.append(Reject(line_number, problem, line[:_SHOWN_CHARS]))
                continue
            for column, value in zip(good_text, texts, strict=True):
                column.append(value)
            good_values.append(values)
        text = [pa.array(column, pa.string()) for column in good_text]
        features = np.array(good_values, dtype=np.float64).reshape(-1, len(FEATURE_NAMES))
        return Chunk(text, features, rejects)

    def _check(self, fields: list[str]) -> tuple[str | None, list[str], list[float]]:
        if len(fields) != len(self.columns):
            return f"{len(fields)} fields, expected {len(self.columns)}", [], []
        texts = [fields[i].strip() for i in self.positions]
        values: list[float] = []
        for name, text in zip(FEATURE_NAMES, texts, strict=True):
            try:
                value = float(text)
            except ValueError:
                return f"{name} is not a number: {text!r}", [], []
            if not math.isfinite(value):
                return f"{name} is not finite: {text!r}", [], []
            if not 0 <= value <= MAX_MEASUREMENT_CM:
                return f"{name}={text} is outside 0..{MAX_MEASUREMENT_CM:g} cm", [], []
            values.append(value)
        return None, texts, values
