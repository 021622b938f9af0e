"""`iris-batch`: score every new CSV in INPUT_DIR into OUTPUT_DIR, exactly once.

Runs as the CronJob `iris-batch-predict`. For each input `<name>` it writes
`<name>.predictions.csv` (the row's other columns, such as an id, then its features, then the
class index and name with one probability per class, or the predicted value of a regression,
and the model version) and, when rows were bad, `<name>.rejects.csv` (line, reason, row). Both are
written under temporary names and renamed into place; only then is the input recorded in the
ledger (OUTPUT_DIR/.ledger/<name>.json, keyed by size and modification time). A crash at any
point therefore leaves either nothing or complete files, and the next run scores what is not
recorded, replacing any partial work: no input is lost or scored twice.

As an Indexed Job, pod i of n takes the files whose name hashes to i mod n: stable, disjoint
shares that together cover every file. Exit status: 0 all good, 1 a file failed or no model is
published, 2 a bad setting.
"""

from __future__ import annotations

import csv
import io
import logging
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import cast

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
from threadpoolctl import threadpool_limits

from service.atomic_files import AtomicFile
from service.batch_files import (
    PREDICTIONS_SUFFIX,
    REJECTS_SUFFIX,
    FileResult,
    Ledger,
    list_inputs,
    owns,
    remove_leftovers,
)
from service.csv_chunks import Chunk, InputError, passthrough_columns, read_chunks, read_header
from service.logs import configure_logging
from service.model_store import LoadedModel, ModelStore, ModelStoreError, NoModelError
from service.predictor import Predictor, Regressor, make_predictor
from service.settings import BatchSettings, load_settings

log = logging.getLogger("iris.batch")

DEMO_SEED = 42
PREDICTION_COLUMN = "prediction"


class Scorer:
    """Turns chunks of features into record batches of predictions, and knows their CSV form."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.regression = model.signature.task == "regression"
        self._predictor = make_predictor(model)
        self._class_names = pa.array(model.class_names, pa.string())
        self._version = pa.array([model.version], pa.string())
        classes = list(model.class_names)
        if self.regression:
            self.outputs = [(PREDICTION_COLUMN, pa.float64())]
        else:
            self.outputs = [
                ("class_index", pa.int64()),
                ("class_name", pa.string()),
                *((f"proba_{name}", pa.float64()) for name in classes),
            ]
        self.outputs.append(("model_version", pa.dictionary(pa.int32(), pa.string())))
        # Unquoted output is plainer and faster: use it when no written text could need quotes.
        self._plain_outputs = not any(
            set(text) & set(',"\r\n') for text in [*classes, model.version]
        )

    def file_format(self, columns: list[str]) -> tuple[pa.Schema, bytes, pcsv.WriteOptions]:
        """The predictions file of an input with these columns: schema, header, write options."""
        kept = [*passthrough_columns(columns, self.model.signature), *self.model.feature_names]
        schema = pa.schema([(name, pa.string()) for name in kept] + self.outputs)
        # Copied-through and categorical text may hold anything; numbers never need quotes.
        plain = (
            self._plain_outputs
            and len(kept) == len(self.model.feature_names)
            and all(f.kind == "numeric" for f in self.model.signature.features)
        )
        options = pcsv.WriteOptions(
            include_header=False, quoting_style="none" if plain else "needed"
        )
        header = io.StringIO()
        csv.writer(header, lineterminator="\n").writerow(schema.names)
        return schema, header.getvalue().encode("utf-8"), options

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        return cast(Predictor, self._predictor).predict_proba(features)

    def values(self, features: np.ndarray) -> np.ndarray:
        return cast(Regressor, self._predictor).values(features)

    def score(self, chunk: Chunk, schema: pa.Schema) -> pa.RecordBatch:
        version = pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(chunk.rows, np.int32)), self._version
        )
        if self.regression:
            values = self.values(chunk.features)
            outputs = [pa.array(values, pa.float64())]
        else:
            proba = self.probabilities(chunk.features)
            best = proba.argmax(axis=1)
            # Six decimals keep the file small; formatting full doubles dominates the write time.
            rounded = np.round(proba, 6)
            outputs = [
                pa.array(best, pa.int64()),
                self._class_names.take(pa.array(best)),
                *(pa.array(rounded[:, i]) for i in range(rounded.shape[1])),
            ]
        return pa.RecordBatch.from_arrays([*chunk.text, *outputs, version], schema=schema)


def score_file(source: Path, output_dir: Path, scorer: Scorer, chunk_rows: int) -> FileResult:
    """Score `source` into its predictions (and rejects) file, both replaced atomically."""
    started = time.perf_counter()
    output = output_dir / (source.name + PREDICTIONS_SUFFIX)
    rejects_path = output_dir / (source.name + REJECTS_SUFFIX)
    rows = rejected = 0
    schema, header, write_options = scorer.file_format(read_header(source, scorer.model.signature))
    with (
        AtomicFile(output) as predictions,
        AtomicFile(rejects_path) as rejects,
        ThreadPoolExecutor(1, thread_name_prefix="csv-writer") as writer_thread,
        rejects.temp_path.open("w", newline="", encoding="utf-8") as rejects_file,
        pa.OSFile(str(predictions.temp_path), "wb") as sink,
    ):
        rejects_csv = csv.writer(rejects_file)
        rejects_csv.writerow(["line", "reason", "row"])
        sink.write(header)
        writer = pcsv.CSVWriter(sink, schema, write_options=write_options)
        # Writing (formatting floats) overlaps reading and scoring the next chunk.
        pending: Future[None] | None = None
        try:
            for chunk in read_chunks(source, chunk_rows, scorer.model.signature):
                for reject in chunk.rejects:
                    rejects_csv.writerow([reject.line, reject.reason, reject.text])
                rejected += len(chunk.rejects)
                if not chunk.rows:
                    continue
                batch = scorer.score(chunk, schema)
                if pending is not None:
                    pending.result()
                pending = writer_thread.submit(writer.write_batch, batch)
                rows += chunk.rows
            if pending is not None:
                pending.result()
        finally:
            if pending is not None:
                wait([pending])  # never close the writer under a write in progress
            writer.close()
        sink.close()
        rejects_file.flush()
        predictions.commit()
        if rejected:
            rejects.commit()
        else:
            rejects.discard()
            rejects_path.unlink(missing_ok=True)
    return FileResult(rows, rejected, time.perf_counter() - started, output)


def demo_rows(model: LoadedModel, rows: int) -> np.ndarray:
    """Synthetic encoded rows across the training ranges (and categories) of each feature."""
    rng = np.random.default_rng(DEMO_SEED)
    columns = []
    for feature in model.signature.features:
        if feature.kind == "categorical":
            columns.append(rng.integers(0, len(feature.categories), rows).astype(np.float64))
        else:
            low = feature.minimum if feature.minimum is not None else 0.0
            high = feature.maximum if feature.maximum is not None else 1.0
            columns.append(np.round(rng.uniform(low, high, rows), 1))
    return np.column_stack(columns).reshape(rows, len(columns))


def score_demo(scorer: Scorer, rows: int) -> None:
    """Score `rows` synthetic rows and log each prediction, like the course's CronJob."""
    model = scorer.model
    features = demo_rows(model, rows)
    shown = [
        {
            f.name: (f.categories[int(v)] if f.kind == "categorical" else v)
            for f, v in zip(model.signature.features, row.tolist(), strict=True)
        }
        for row in features
    ]
    if scorer.regression:
        values = scorer.values(features)
        for row_features, value in zip(shown, values.tolist(), strict=True):
            log.info(
                "demo prediction",
                extra={
                    "features": row_features,
                    "prediction": value,
                    "model_version": model.version,
                },
            )
        return
    proba = scorer.probabilities(features)
    for row_features, row in zip(shown, proba, strict=True):
        best = int(row.argmax())
        log.info(
            "demo prediction",
            extra={
                "features": row_features,
                "class_index": best,
                "class_name": model.class_names[best],
                "probability": round(float(row[best]), 4),
                "model_version": model.version,
            },
        )


def run(settings: BatchSettings) -> int:
    """One batch run; returns the exit status."""
    index, count = settings.job_completion_index, settings.job_completion_count
    if index >= count:
        log.error(f"JOB_COMPLETION_INDEX {index} is not below JOB_COMPLETION_COUNT {count}")
        return 2
    try:
        model = ModelStore(settings.model_dir).load()
        scorer = Scorer(model)
    except NoModelError:
        log.error(f"no model published in {settings.model_dir} yet; run the training Job first")
        return 1
    except ModelStoreError as exc:
        log.error(str(exc))
        return 1
    try:
        settings.output_dir.mkdir(parents=True, exist_ok=True)
        if settings.input_dir.is_dir():
            inputs = list_inputs(settings.input_dir)
        else:
            log.info(f"input folder {settings.input_dir} does not exist; nothing to score")
            inputs = []
    except OSError as exc:
        log.error(f"cannot use {exc.filename}: {exc.strerror or exc}")
        return 1
    if not inputs and settings.demo_rows:
        score_demo(scorer, settings.demo_rows)
        return 0
    mine = [path for path in inputs if owns(path.name, index, count)]
    remove_leftovers(settings.output_dir, index, count)
    ledger = Ledger(settings.output_dir)
    pending = [path for path in mine if not ledger.is_done(path)]
    log.info(
        "batch run started",
        extra={
            "inputs": len(inputs),
            "share": len(mine),
            "new": len(pending),
            "job_index": index,
            "job_count": count,
        },
    )
    failed = sum(not score_and_record(source, settings, scorer, ledger) for source in pending)
    log.info("batch run finished", extra={"scored": len(pending) - failed, "failed": failed})
    return 1 if failed else 0


def score_and_record(source: Path, settings: BatchSettings, scorer: Scorer, ledger: Ledger) -> bool:
    """Score one input and record it in the ledger; False (and a log line) if it failed."""
    try:
        # Arrow's reader and the writer thread keep the cores busy; BLAS threads spinning on
        # a 4-column product would contend with them (measured: 3x slower overall).
        identity = ledger.identity(source)
        with threadpool_limits(limits=1, user_api="blas"):
            result = score_file(source, settings.output_dir, scorer, settings.chunk_rows)
        ledger.record(source, identity, result, scorer.model.version)
    except (InputError, OSError, pa.ArrowException) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        log.error(f"cannot score {source}: {reason}", extra={"input": str(source)})
        return False
    log.info(
        "scored file",
        extra={
            "input": str(source),
            "rows": result.rows,
            "rejected": result.rejected,
            "seconds": round(result.seconds, 3),
            "output": str(result.output),
            "model_version": scorer.model.version,
        },
    )
    return True


def main(argv: list[str] | None = None) -> int:
    settings = load_settings(
        BatchSettings,
        prog="iris-batch",
        description="Score every new CSV in INPUT_DIR with the current model into OUTPUT_DIR.",
        argv=argv,
    )
    configure_logging(settings.log_level)
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
