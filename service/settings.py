"""Settings of the three entry points, read from the environment, overridable by CLI flags.

Every setting is an environment variable (the names a ConfigMap uses) and a `--flag` of the
same name. A bad value ends the program with one readable line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class CommonSettings(BaseSettings):
    """What every entry point shares: where the model store lives and how loud to log."""

    # An empty variable is unset: the ConfigMap lists TRAIN_DATA, LABEL_COLUMN and MODEL
    # empty, which keeps their defaults (Iris) until a team fills them in.
    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="ignore",
        validate_default=True,
        protected_namespaces=(),
        env_ignore_empty=True,
    )

    model_dir: Path = Field(Path("/models"), description="root of the model store")
    log_level: LogLevel = Field("info", description="debug, info, warning, error or critical")


class TrainSettings(CommonSettings):
    """`iris-train`: data, hyperparameters and the quality gate."""

    train_data: Path | None = Field(
        None, description="CSV of feature columns and a label column (default: bundled Iris)"
    )
    label_column: str | None = Field(
        None, description="the CSV's label column (default: species, label, target or class)"
    )
    features: str | None = Field(
        None,
        description="comma-separated feature columns, each optionally name:numeric or "
        "name:categorical (default: every other column but id and *_id)",
    )
    model: str | None = Field(
        None,
        description="logistic_regression, hist_gradient_boosting, random_forest, ridge, or "
        "package.module:factory (default: logistic_regression, ridge for regression)",
    )
    task: Literal["classification", "regression"] | None = Field(
        None, description="classification or regression (default: as the label shows)"
    )
    max_categories: int = Field(
        100, ge=2, description="refuse a categorical column with more distinct values"
    )
    model_c: float = Field(1.0, gt=0, description="inverse regularisation strength C")
    model_max_iter: int = Field(200, ge=1, description="maximum solver iterations")
    random_seed: int = Field(42, ge=0, description="seed of the split and the solver")
    test_size: float = Field(0.2, gt=0, lt=1, description="fraction held out for testing")
    min_accuracy: float = Field(
        0.9, ge=0, le=1, description="refuse to publish below this test accuracy"
    )
    min_r2: float = Field(0.5, le=1, description="regression: refuse to publish below this R2")
    max_rmse: float | None = Field(
        None, gt=0, description="regression: refuse to publish above this test RMSE"
    )
    model_keep: int = Field(5, ge=1, description="how many published versions to keep")


class ServeSettings(CommonSettings):
    """`iris-serve`: the HTTP server and its limits."""

    # A container must listen on all interfaces; `make serve` and the sandbox pass HOST.
    host: str = Field("0.0.0.0", description="address to bind")
    port: int = Field(8000, ge=1, le=65535, description="port to listen on")
    api_key: SecretStr | None = Field(
        None, description="when set, prediction and model endpoints require it"
    )
    max_batch: int = Field(10_000, ge=1, description="most rows in one batch request")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="largest request body")
    reload_interval: float = Field(
        2.0, gt=0, description="seconds between checks for a newly published model"
    )
    shutdown_delay: float = Field(
        0.0, ge=0, description="seconds to stay up, unready, after SIGTERM before draining"
    )
    fast_path: bool = Field(
        True,
        description="answer valid predictions without FastAPI's per-request machinery "
        "(false: FastAPI answers everything, with its OpenTelemetry spans)",
    )


class BatchSettings(CommonSettings):
    """`iris-batch`: where inputs come from and predictions go."""

    input_dir: Path = Field(Path("/data/input"), description="folder of CSV files to score")
    output_dir: Path = Field(Path("/data/output"), description="folder for predictions")
    chunk_rows: int = Field(200_000, ge=1, description="rows read and scored at a time")
    demo_rows: int | None = Field(
        None, ge=1, description="with no inputs, score this many synthetic rows"
    )
    job_completion_index: int = Field(0, ge=0, description="this pod's index in an Indexed Job")
    job_completion_count: int = Field(1, ge=1, description="number of pods in an Indexed Job")


S = TypeVar("S", bound=CommonSettings)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def load_settings(cls: type[S], prog: str, description: str, argv: list[str] | None = None) -> S:
    """Parse `argv` into `cls`: flags override the environment, which overrides the defaults.

    Exits with status 2 and one line naming the setting when a value is invalid.
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog="Every flag can also be set by the environment variable of the same name in "
        "capitals, e.g. --model-dir is MODEL_DIR.",
    )
    for name, field in cls.model_fields.items():
        default = field.default
        shown = default.get_secret_value() if isinstance(default, SecretStr) else default
        parser.add_argument(
            _flag(name),
            dest=name,
            default=None,
            metavar=name.upper(),
            help=f"{field.description} (env {name.upper()}, default {shown})",
        )
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {k: v for k, v in vars(args).items() if v is not None}
    try:
        return cls(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        field_name = str(error["loc"][0]) if error["loc"] else "settings"
        given = error.get("input")
        shown = "***" if field_name == "api_key" else repr(given)
        print(
            f"{prog}: invalid {field_name.upper()}={shown}: {error['msg']}",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
