"""Open Inference Protocol (V2) tensors: decoding the input, encoding the outputs.

Supports JSON tensor data and the binary tensor data extension used by Triton's clients: the
body is a JSON header of `Inference-Header-Content-Length` bytes followed by raw little-endian
tensors, each sized by its `binary_data_size` parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from service.api.row_checks import RowChecker
from service.api.schemas import V2InferRequest, V2InputTensor

MODEL_NAME = "iris"
INPUT_NAME = "features"
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
VALUE_OUTPUT = "value"
NUMPY_TYPES: dict[str, np.dtype[Any]] = {
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "INT64": np.dtype("<i8"),
}


class TensorError(ValueError):
    """The request's tensors are unusable; the message names the field."""


def decode_features(
    request: V2InferRequest, binary: bytes, checker: RowChecker, max_rows: int
) -> np.ndarray:
    """The input tensors as encoded float64 rows (shape (N, features)), checked like /predict's.

    An all-numeric model takes one [N, features] tensor named `features` (JSON or binary);
    any model takes one [N] tensor per feature, named as the feature, with JSON data.
    """
    if checker.all_numeric and [t.name for t in request.inputs] == [INPUT_NAME]:
        return _feature_matrix(request.inputs[0], binary, checker, max_rows)
    by_name = {tensor.name: tensor for tensor in request.inputs}
    unknown = [name for name in by_name if name not in checker.names]
    missing = [name for name in checker.names if name not in by_name]
    if unknown or missing or len(by_name) != len(request.inputs):
        raise TensorError(
            f"inputs must be one [N] tensor per feature ({', '.join(checker.names)})"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    columns = []
    rows = None
    for name in checker.names:
        tensor = by_name[name]
        where = f"inputs.{request.inputs.index(tensor)}"
        if len(tensor.shape) != 1 or tensor.data is None:
            raise TensorError(f"{where} ({name}) must be an [N] tensor with JSON data")
        if rows is None:
            rows = tensor.shape[0]
            if not 1 <= rows <= max_rows:
                raise TensorError(f"{where}.shape: N must be between 1 and MAX_BATCH ({max_rows})")
        if tensor.shape[0] != rows or len(tensor.data) != rows:
            raise TensorError(f"{where} ({name}) must hold N={rows} values like the first input")
        columns.append(tensor.data)
    encoded = []
    for values in zip(*columns, strict=True):
        row = checker.positional(list(values))
        if row is None:
            raise TensorError(f"a row is not valid for the model's features: {list(values)!r}")
        encoded.append(row)
    return np.array(encoded, dtype=np.float64).reshape(len(encoded), checker.n_features)


def _feature_matrix(
    tensor: V2InputTensor, binary: bytes, checker: RowChecker, max_rows: int
) -> np.ndarray:
    n_features = checker.n_features
    shape = tensor.shape
    if len(shape) != 2 or shape[1] != n_features:
        raise TensorError(f"inputs.0.shape must be [N, {n_features}], not {shape}")
    rows = shape[0]
    if not 1 <= rows <= max_rows:
        raise TensorError(f"inputs.0.shape: N must be between 1 and MAX_BATCH ({max_rows})")
    if tensor.datatype == "BYTES":
        raise TensorError("inputs.0.datatype must be FP32 or FP64 for the features tensor")
    dtype = NUMPY_TYPES[tensor.datatype]
    if tensor.data is not None:
        flat = [v for item in tensor.data for v in (item if isinstance(item, list) else [item])]
        if not all(type(v) in (float, int) for v in flat):
            raise TensorError("inputs.0: every value must be a number")
        values = np.asarray(flat, dtype=dtype).reshape(-1)
    else:
        values = np.frombuffer(_binary_input(tensor, binary), dtype=dtype)
    if values.size != rows * n_features:
        raise TensorError(
            f"inputs.0 has {values.size} values, but its shape {shape} needs {rows * n_features}"
        )
    matrix = values.astype(np.float64).reshape(rows, n_features)
    if not ((matrix >= checker.low) & (matrix <= checker.high)).all():
        low, high = float(checker.low.min()), float(checker.high.max())
        bounded = f" from {low:g} to {high:g}" if high < 1e308 else ""
        raise TensorError(f"inputs.0: every value must be a finite number{bounded}")
    return matrix


def _binary_input(tensor: V2InputTensor, binary: bytes) -> bytes:
    size = (tensor.parameters or {}).get("binary_data_size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise TensorError("inputs.0 has neither data nor a binary_data_size parameter")
    if size != len(binary):
        raise TensorError(
            f"inputs.0.parameters.binary_data_size is {size}, but {len(binary)} binary bytes "
            "follow the JSON header"
        )
    return binary


@dataclass(frozen=True)
class EncodedResponse:
    body: bytes
    json_length: int | None  # set when binary tensors follow the JSON header


def output_tensors(
    request: V2InferRequest, predictions: tuple[np.ndarray, np.ndarray] | np.ndarray
) -> dict[str, tuple[str, np.ndarray]]:
    """A classifier's label and probabilities (in the input's float type), or a regressor's
    value, by output name."""
    float_type = request.inputs[0].datatype
    float_type = float_type if float_type != "BYTES" else "FP64"
    if isinstance(predictions, np.ndarray):
        return {VALUE_OUTPUT: ("FP64", predictions.astype(NUMPY_TYPES["FP64"]))}
    labels, probabilities = predictions
    return {
        LABEL_OUTPUT: ("INT64", labels.astype(NUMPY_TYPES["INT64"])),
        PROBABILITIES_OUTPUT: (float_type, probabilities.astype(NUMPY_TYPES[float_type])),
    }


def encode_outputs(
    request: V2InferRequest, model_version: str, tensors: dict[str, tuple[str, np.ndarray]]
) -> EncodedResponse:
    """The infer response with the requested outputs (all when none are named)."""
    names = tuple(tensors)
    binary_default = bool((request.parameters or {}).get("binary_data_output", False))
    wanted = request.outputs or []
    requested = [(out.name, out.parameters or {}) for out in wanted] or [
        (name, {}) for name in names
    ]
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, parameters in requested:
        if name not in tensors:
            raise TensorError(f"outputs: unknown output {name!r}; this model has {names}")
        datatype, array = tensors[name]
        output: dict[str, Any] = {"name": name, "shape": list(array.shape), "datatype": datatype}
        if parameters.get("binary_data", binary_default):
            blob = array.tobytes()
            output["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            output["data"] = array.reshape(-1).tolist()
        outputs.append(output)
    response: dict[str, Any] = {"model_name": MODEL_NAME, "model_version": model_version}
    if request.id is not None:
        response["id"] = request.id
    response["outputs"] = outputs
    header = orjson.dumps(response)
    if not blobs:
        return EncodedResponse(header, None)
    return EncodedResponse(header + b"".join(blobs), len(header))
