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

from service.api.schemas import MAX_MEASUREMENT_CM, V2InferRequest, V2InputTensor

MODEL_NAME = "iris"
INPUT_NAME = "features"
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
OUTPUT_NAMES = (LABEL_OUTPUT, PROBABILITIES_OUTPUT)
NUMPY_TYPES: dict[str, np.dtype[Any]] = {
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "INT64": np.dtype("<i8"),
}


class TensorError(ValueError):
    """The request's tensors are unusable; the message names the field."""


def decode_features(
    request: V2InferRequest, binary: bytes, n_features: int, max_rows: int
) -> np.ndarray:
    """The input tensor as float64 rows (shape (N, n_features)), checked like /predict's."""
    tensor = request.inputs[0]
    shape = tensor.shape
    if len(shape) != 2 or shape[1] != n_features:
        raise TensorError(f"inputs.0.shape must be [N, {n_features}], not {shape}")
    rows = shape[0]
    if not 1 <= rows <= max_rows:
        raise TensorError(f"inputs.0.shape: N must be between 1 and MAX_BATCH ({max_rows})")
    dtype = NUMPY_TYPES[tensor.datatype]
    if tensor.data is not None:
        values = np.asarray(tensor.data, dtype=dtype).reshape(-1)
    else:
        values = np.frombuffer(_binary_input(tensor, binary), dtype=dtype)
        if not ((values >= 0) & (values <= MAX_MEASUREMENT_CM)).all():
            raise TensorError(
                "inputs.0: every value must be a finite number from 0 to "
                f"{MAX_MEASUREMENT_CM:g} (centimetres)"
            )
    if values.size != rows * n_features:
        raise TensorError(
            f"inputs.0 has {values.size} values, but its shape {shape} needs {rows * n_features}"
        )
    return values.astype(np.float64).reshape(rows, n_features)


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


def encode_outputs(
    request: V2InferRequest,
    model_version: str,
    labels: np.ndarray,
    probabilities: np.ndarray,
) -> EncodedResponse:
    """The infer response with the requested outputs (all when none are named)."""
    float_type = request.inputs[0].datatype
    tensors = {
        LABEL_OUTPUT: ("INT64", labels.astype(NUMPY_TYPES["INT64"])),
        PROBABILITIES_OUTPUT: (float_type, probabilities.astype(NUMPY_TYPES[float_type])),
    }
    binary_default = bool((request.parameters or {}).get("binary_data_output", False))
    wanted = request.outputs or []
    requested = [(out.name, out.parameters or {}) for out in wanted] or [
        (name, {}) for name in OUTPUT_NAMES
    ]
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, parameters in requested:
        if name not in tensors:
            raise TensorError(f"outputs: unknown output {name!r}; this model has {OUTPUT_NAMES}")
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
