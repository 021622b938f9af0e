"""Read a CSV of the model's features in validated chunks, fast, with every bad row accounted for.

Columns are found by name, in any order; the other columns (an id) are carried through as
text so predictions can be joined back. The file is cut into blocks of whole lines (about
`chunk_rows` rows each), so memory stays flat however large the file is. Each block is parsed
by Arrow's multithreaded CSV reader; the feature columns are kept as the text the file holds
(written back unchanged) and encoded for the model (service.signature: numbers as float64, a
category as its index, a missing value as NaN where training saw it missing). A block in
which anything is wrong (a wrong number of fields, text that is not a number, NaN, infinity,
a value outside the feature's bounds, an unknown category, a missing value the model cannot
impute) is parsed again line by line, which finds each bad row with its line number and
reason; bad rows are rare, so only the blocks that hold them pay for the slow path.
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

from service.data import MISSING
from service.signature import Feature, Signature

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
    text: list[pa.Array]  # the copied-through then the feature columns, as written
    features: np.ndarray  # the features encoded, shape (rows, features), float64
    rejects: list[Reject] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.features)


def passthrough_columns(columns: list[str], signature: Signature) -> list[str]:
    """The input's columns that are not features, in the input's order."""
    return [name for name in columns if name not in signature.feature_names]


def read_header(path: Path, signature: Signature) -> list[str]:
    """The input's column names, checked to hold every feature."""
    try:
        with path.open("rb") as handle:
            return _read_header(handle, signature)
    except OSError as exc:
        raise InputError(f"cannot open it: {exc.strerror or exc}") from None


def read_chunks(path: Path, chunk_rows: int, signature: Signature) -> Iterator[Chunk]:
    """Yield the valid rows of `path` in chunks, each with the rows it rejected."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot open it: {exc.strerror or exc}") from None
    with handle:
        columns = _read_header(handle, signature)
        sample = handle.read(_SAMPLE_BYTES)
        bytes_per_line = max(8, len(sample) // max(1, sample.count(b"\n")))
        block_bytes = max(_SAMPLE_BYTES, chunk_rows * bytes_per_line)
        parser = _BlockParser(columns, signature)
        first_line = 2
        pending = sample
        while True:
            block, pending, at_end = _next_block(handle, pending, block_bytes)
            if block.strip():
                yield parser.parse(block, first_line)
            first_line += block.count(b"\n")
            if at_end:
                return


def _read_header(handle: BinaryIO, signature: Signature) -> list[str]:
    raw = handle.readline()
    try:
        line = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("the header is not UTF-8 text") from None
    columns = [name.strip() for name in next(csv.reader([line]), [])]
    missing = [name for name in signature.feature_names if name not in columns]
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
    def __init__(self, columns: list[str], signature: Signature) -> None:
        self.columns = columns
        self.features = signature.features
        self.kept = [*passthrough_columns(columns, signature), *signature.feature_names]
        self.positions = [columns.index(name) for name in self.kept]
        self._n_passthrough = len(self.kept) - len(self.features)
        self._read_options = pcsv.ReadOptions(column_names=columns)
        self._convert_options = pcsv.ConvertOptions(
            column_types={name: pa.string() for name in columns},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        self._missing = pa.array(sorted(MISSING), pa.string())
        self._categories = [pa.array(f.categories, pa.string()) for f in self.features]
        self._low = np.array(
            [f.bounds[0] if f.bounds else -np.finfo(float).max for f in self.features]
        )
        self._high = np.array(
            [f.bounds[1] if f.bounds else np.finfo(float).max for f in self.features]
        )
        self._nullable = np.array([f.nullable for f in self.features])

    def parse(self, block: bytes, first_line: int) -> Chunk:
        try:
            table = pcsv.read_csv(
                pa.py_buffer(block),
                read_options=self._read_options,
                convert_options=self._convert_options,
            )
            text = [table.column(name).combine_chunks() for name in self.kept]
            encoded = [
                self._encode(feature, column, categories)
                for feature, column, categories in zip(
                    self.features, text[self._n_passthrough :], self._categories, strict=True
                )
            ]
        except (pa.ArrowInvalid, ValueError):
            return self._parse_lines(block, first_line)
        columns = [column for column in encoded if column is not None]
        if len(columns) != len(encoded) or not all(
            self._valid(index, values) for index, values in enumerate(columns)
        ):
            return self._parse_lines(block, first_line)
        # Feature-major then transposed: each column is one contiguous copy, where stacking
        # them row-major is a strided write per value, slower than the parsing.
        matrix = np.empty((len(columns), len(table)))
        for row, values in zip(matrix, columns, strict=True):
            row[:] = values
        return Chunk(text, matrix.T)

    def _valid(self, index: int, values: np.ndarray) -> bool:
        """Every value within the feature's bounds (inf never is), NaN only where it imputes."""
        if not len(values):
            return True
        lowest, highest = values.min(), values.max()
        if np.isnan(lowest):  # a value is missing
            if not self._nullable[index]:
                return False
            present = values[~np.isnan(values)]
            if not len(present):
                return True
            lowest, highest = present.min(), present.max()
        return bool(self._low[index] <= lowest and highest <= self._high[index])

    def _encode(
        self, feature: Feature, column: pa.Array, categories: pa.Array
    ) -> np.ndarray | None:
        """The column encoded, or None when a value is wrong (the slow path says which)."""
        if feature.kind == "numeric":
            # A clean column casts in one pass. The cast refuses blanks, whitespace and every
            # missing-value marker but "nan", which it reads as NaN, as the full path does.
            try:
                return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
            except pa.ArrowInvalid:
                pass
        trimmed = pc.utf8_trim_whitespace(column)
        missing = pc.is_in(pc.utf8_lower(trimmed), value_set=self._missing)
        if not feature.nullable and pc.any(missing).as_py():
            return None
        present = pc.if_else(missing, pa.scalar(None, pa.string()), trimmed)
        if feature.kind == "numeric":
            values = pc.cast(present, pa.float64()).to_numpy(zero_copy_only=False)
            # A literal "nan" is missing; "inf" parses, and the range check refuses it.
            return values
        codes = pc.index_in(present, value_set=categories)
        unknown = pc.and_(pc.is_null(codes), pc.invert(missing))
        if pc.any(unknown).as_py():
            return None
        return pc.fill_null(pc.cast(codes, pa.float64()), np.nan).to_numpy(zero_copy_only=False)

    def _parse_lines(self, block: bytes, first_line: int) -> Chunk:
        """Line by line: keep the good rows, reject each bad one with its line and reason."""
        good_text: list[list[str]] = [[] for _ in self.kept]
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
        features = np.array(good_values, dtype=np.float64).reshape(-1, len(self.features))
        return Chunk(text, features, rejects)

    def _check(self, fields: list[str]) -> tuple[str | None, list[str], list[float]]:
        if len(fields) != len(self.columns):
            return f"{len(fields)} fields, expected {len(self.columns)}", [], []
        texts = [fields[i] for i in self.positions]
        values: list[float] = []
        for feature, raw in zip(self.features, texts[self._n_passthrough :], strict=True):
            problem, value = _value(feature, raw.strip())
            if problem:
                return problem, [], []
            values.append(value)
        return None, texts, values


def _value(feature: Feature, text: str) -> tuple[str | None, float]:
    name = feature.name
    if text.lower() in MISSING:
        if feature.nullable:
            return None, math.nan
        return f"{name} is missing, and the model was trained without missing values", 0.0
    if feature.kind == "categorical":
        code = feature.code(text)
        if code is None:
            return f"{name}={text!r} is not a category the model knows", 0.0
        return None, float(code)
    try:
        value = float(text)
    except ValueError:
        return f"{name} is not a number: {text!r}", 0.0
    if not math.isfinite(value):
        return f"{name} is not finite: {text!r}", 0.0
    if feature.bounds and not feature.bounds[0] <= value <= feature.bounds[1]:
        low, high = feature.bounds
        return f"{name}={text} is outside {low:g}..{high:g}", 0.0
    return None, value
