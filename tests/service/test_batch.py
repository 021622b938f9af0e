"""iris-batch: predictions, rejects, the ledger, shares, the demo and the failure modes."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from service.batch import main
from service.batch_files import owns
from service.csv_chunks import read_chunks
from service.data import FEATURE_NAMES
from service.model_store import LoadedModel, ModelStore
from service.settings import TrainSettings
from service.train import train
from tests.service.core_fixtures import (
    publish_model,
    random_features,
    restore_logging,  # noqa: F401 - a fixture
    write_features_csv,
)

pytestmark = pytest.mark.usefixtures("restore_logging")
HEADER = ",".join(FEATURE_NAMES)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    publish_model(folder)
    return folder


@pytest.fixture
def model(model_dir: Path) -> LoadedModel:
    return ModelStore(model_dir).load()


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "in").mkdir()
    return tmp_path / "in", tmp_path / "out"


def run_batch(model_dir: Path, dirs: tuple[Path, Path], *flags: str) -> int:
    inputs, outputs = dirs
    argv = ["--model-dir", str(model_dir), "--input-dir", str(inputs), "--output-dir", str(outputs)]
    return main([*argv, *flags])


def log_entries(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_scores_a_file_with_the_models_predictions(
    model_dir: Path, model: LoadedModel, dirs: tuple[Path, Path]
) -> None:
    features = random_features(1000)
    write_features_csv(dirs[0] / "flowers.csv", features)
    assert run_batch(model_dir, dirs, "--chunk-rows", "300") == 0

    rows = read_rows(dirs[1] / "flowers.csv.predictions.csv")
    assert list(rows[0]) == [
        *FEATURE_NAMES,
        "class_index",
        "class_name",
        "proba_setosa",
        "proba_versicolor",
        "proba_virginica",
        "model_version",
    ]
    assert len(rows) == 1000
    got = np.array([[float(row[name]) for name in FEATURE_NAMES] for row in rows])
    np.testing.assert_array_equal(got, features)
    expected = model.estimator.predict_proba(features)
    proba = np.array([[float(row[f"proba_{c}"]) for c in model.class_names] for row in rows])
    np.testing.assert_allclose(proba, expected, atol=1e-6)
    assert [int(row["class_index"]) for row in rows] == expected.argmax(axis=1).tolist()
    assert {row["class_name"] for row in rows} <= set(model.class_names)
    assert all(row["class_name"] == model.class_names[int(row["class_index"])] for row in rows)
    assert {row["model_version"] for row in rows} == {model.version}
    assert not (dirs[1] / "flowers.csv.rejects.csv").exists()


def test_bad_rows_are_rejected_with_line_and_reason(
    model_dir: Path, dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    good = "5.1,3.5,1.4,0.2"
    lines = [HEADER] + [good] * 40
    lines[5] = "abc,3.5,1.4,0.2"
    lines[9] = "5.1,3.5,1.4"
    lines[17] = "5.1,3.5,1.4,0.2,9"
    lines[20] = "5.1,nan,1.4,0.2"
    lines[23] = "5.1,3.5,-inf,0.2"
    lines[30] = "5.1,3.5,1.4,1e9"
    lines[31] = "-1,3.5,1.4,0.2"
    lines[35] = ""
    (dirs[0] / "mixed.csv").write_text("\n".join(lines) + "\n")
    assert run_batch(model_dir, dirs, "--chunk-rows", "7") == 0

    rejects = read_rows(dirs[1] / "mixed.csv.rejects.csv")
    assert [(int(r["line"]), r["reason"]) for r in rejects] == [
        (6, "sepal_length is not a number: 'abc'"),
        (10, "3 fields, expected 4"),
        (18, "5 fields, expected 4"),
        (21, "sepal_width is missing, and the model was trained without missing values"),
        (24, "petal_length is not finite: '-inf'"),
        (31, "petal_width=1e9 is outside 0..100"),
        (32, "sepal_length=-1 is outside 0..100"),
    ]
    assert rejects[0]["row"] == "abc,3.5,1.4,0.2"
    scored = read_rows(dirs[1] / "mixed.csv.predictions.csv")
    assert len(scored) == 40 - 7 - 1  # every line is scored, rejected, or blank
    summary = next(e for e in log_entries(capsys) if e["message"] == "scored file")
    assert (summary["rows"], summary["rejected"]) == (32, 7)


def test_fast_and_line_by_line_parsing_agree(model_dir: Path, tmp_path: Path) -> None:
    """A chunk with one bad row takes the slow path; its good rows must not change."""
    features = random_features(500, seed=3)
    clean, dirty = tmp_path / "clean.csv", tmp_path / "dirty.csv"
    write_features_csv(clean, features)
    lines = clean.read_text().splitlines()
    dirty.write_text("\n".join([*lines, "x,1,1,1"]) + "\n")
    iris = ModelStore(model_dir).load().signature
    fast = list(read_chunks(clean, 10_000, iris))
    slow = list(read_chunks(dirty, 10_000, iris))
    assert len(fast) == len(slow) == 1
    assert [r.line for r in slow[0].rejects] == [502]
    np.testing.assert_array_equal(fast[0].features, slow[0].features)
    for a, b in zip(fast[0].text, slow[0].text, strict=True):
        assert a.to_pylist() == b.to_pylist()


@pytest.fixture(scope="module")
def customers_model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    from service.example_data import write_customers

    folder = tmp_path_factory.mktemp("customers")
    data = write_customers(folder / "customers.csv")
    train(TrainSettings(model_dir=folder / "m", train_data=data, label_column="churned"))
    return ModelStore(folder / "m").load()


@pytest.mark.parametrize(
    "tenures",
    [
        [" 12", "7 ", "NaN", "nan", "", "NA", "n/a", "3", "1e1", "+4"],
        ["", "NA", "nan", "null"],  # a chunk with the column all missing
    ],
)
def test_the_block_path_reads_padding_and_missing_values_as_the_line_path(
    customers_model: LoadedModel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tenures: list[str],
) -> None:
    """Clean numbers cast in one pass; anything else must still mean what it means row by row."""
    from service.csv_chunks import _BlockParser

    signature = customers_model.signature
    assert {f.name for f in signature.features if f.nullable} >= {"tenure_months", "region"}
    header = "customer_id,tenure_months,monthly_charges,plan,region,support_calls"
    regions = ["north", " south", "", "NA", "west "]
    lines = [
        f"c-{i},{tenure},{20 + i}.5,basic,{regions[i % len(regions)]},{i % 4}"
        for i, tenure in enumerate(tenures * 5)
    ]
    clean, dirty = tmp_path / "clean.csv", tmp_path / "dirty.csv"
    clean.write_text("\n".join([header, *lines]) + "\n")
    dirty.write_text("\n".join([header, *lines, "c-x,1,20,gold,north,1"]) + "\n")

    line_path = _BlockParser._parse_lines
    with monkeypatch.context() as patch:

        def refuse(self: _BlockParser, block: bytes, first_line: int) -> None:
            raise AssertionError("the block path sent a clean block line by line")

        patch.setattr(_BlockParser, "_parse_lines", refuse)
        (fast,) = read_chunks(clean, 10_000, signature)
    (slow,) = read_chunks(dirty, 10_000, signature)
    assert _BlockParser._parse_lines is line_path
    assert [r.reason for r in slow.rejects] == ["plan='gold' is not a category the model knows"]
    np.testing.assert_array_equal(fast.features, slow.features)
    assert np.isnan(fast.features[:, 0]).sum() == sum(
        t.strip().lower() in {"", "na", "n/a", "nan", "null"} for t in tenures * 5
    )
    for a, b in zip(fast.text, slow.text, strict=True):
        assert a.to_pylist() == b.to_pylist()


def test_extra_columns_and_their_order_do_not_matter(
    model_dir: Path, dirs: tuple[Path, Path]
) -> None:
    (dirs[0] / "wide.csv").write_text(
        'id,petal_width,note,sepal_length,petal_length,sepal_width\n7,0.2,"a, b",5.1,1.4,3.5\n'
    )
    assert run_batch(model_dir, dirs) == 0
    (row,) = read_rows(dirs[1] / "wide.csv.predictions.csv")
    assert [row[name] for name in FEATURE_NAMES] == ["5.1", "3.5", "1.4", "0.2"]
    assert row["class_name"] == "setosa"


def test_class_names_that_need_quoting_are_quoted(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    features = random_features(60, seed=5)
    labels = ['Iris "setosa", wild' if row[2] < 4 else "other" for row in features]
    lines = [",".join([*FEATURE_NAMES, "species"])]
    for row, label in zip(features, labels, strict=True):
        quoted = '"' + label.replace('"', '""') + '"'
        lines.append(",".join([*(f"{v:g}" for v in row), quoted]))
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    settings = TrainSettings(
        model_dir=tmp_path / "m", train_data=tmp_path / "train.csv", min_accuracy=0.5
    )
    train(settings)
    write_features_csv(dirs[0] / "x.csv", features[:10])
    assert run_batch(tmp_path / "m", dirs) == 0
    rows = read_rows(dirs[1] / "x.csv.predictions.csv")
    assert {row["class_name"] for row in rows} <= {'Iris "setosa", wild', "other"}
    assert 'proba_Iris "setosa", wild' in rows[0]


def test_a_rerun_scores_nothing_twice_and_a_changed_file_again(
    model_dir: Path, dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    source = dirs[0] / "a.csv"
    write_features_csv(source, random_features(10))
    assert run_batch(model_dir, dirs) == 0
    output = dirs[1] / "a.csv.predictions.csv"
    first = output.stat().st_mtime_ns
    capsys.readouterr()

    assert run_batch(model_dir, dirs) == 0
    assert output.stat().st_mtime_ns == first
    assert not [e for e in log_entries(capsys) if e["message"] == "scored file"]

    write_features_csv(source, random_features(20, seed=1))
    os.utime(source, ns=(first + 10**9, first + 10**9))
    assert run_batch(model_dir, dirs) == 0
    assert len(read_rows(output)) == 20
    ledger = json.loads((dirs[1] / ".ledger" / "a.csv.json").read_text())
    assert ledger["rows"] == 20


def test_an_unreadable_file_fails_the_run_but_not_the_others(
    model_dir: Path, dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (dirs[0] / "broken.csv").write_text("sepal_length,width\n1,2\n")
    write_features_csv(dirs[0] / "fine.csv", random_features(5))
    assert run_batch(model_dir, dirs) == 1

    assert (dirs[0] / "broken.csv").exists()
    assert len(read_rows(dirs[1] / "fine.csv.predictions.csv")) == 5
    assert not (dirs[1] / "broken.csv.predictions.csv").exists()
    errors = [e for e in log_entries(capsys) if e["level"] == "error"]
    assert [e["message"] for e in errors] == [
        f"cannot score {dirs[0] / 'broken.csv'}: missing column(s) in the header: "
        "sepal_width, petal_length, petal_width"
    ]
    assert not list(dirs[1].glob(".tmp-*"))


def test_outputs_in_the_input_folder_are_not_inputs(model_dir: Path, tmp_path: Path) -> None:
    write_features_csv(tmp_path / "a.csv", random_features(4))
    assert run_batch(model_dir, (tmp_path, tmp_path)) == 0
    assert run_batch(model_dir, (tmp_path, tmp_path)) == 0
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == ["a.csv", "a.csv.predictions.csv"]


def test_an_unusable_output_dir_is_one_clear_line(
    model_dir: Path, dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = dirs[1].parent / "a-file"
    blocker.write_text("")
    assert run_batch(model_dir, (dirs[0], blocker / "out")) == 1
    (entry,) = log_entries(capsys)
    assert entry["message"] == f"cannot use {blocker / 'out'}: Not a directory"


def test_no_model_is_one_clear_line(
    tmp_path: Path, dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_batch(tmp_path / "empty-store", dirs) == 1
    (entry,) = log_entries(capsys)
    assert entry["message"] == (
        f"no model published in {tmp_path / 'empty-store'} yet; run the training Job first"
    )


def test_demo_rows_when_there_is_nothing_to_score(
    model_dir: Path, model: LoadedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dirs = (tmp_path / "missing-input", tmp_path / "out")
    assert run_batch(model_dir, dirs, "--demo-rows", "5") == 0
    entries = log_entries(capsys)
    assert "does not exist; nothing to score" in str(entries[0]["message"])
    demo = [e for e in entries if e["message"] == "demo prediction"]
    assert len(demo) == 5
    assert all(e["class_name"] in model.class_names for e in demo)
    assert all(set(e["features"]) == set(FEATURE_NAMES) for e in demo)  # type: ignore[arg-type]
    assert dirs[1].is_dir()


def test_missing_input_dir_without_demo_is_an_empty_run(model_dir: Path, tmp_path: Path) -> None:
    assert run_batch(model_dir, (tmp_path / "nothing", tmp_path / "out")) == 0
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_shares_are_disjoint_and_cover_every_file(count: int) -> None:
    names = [f"part-{i:04d}.csv" for i in range(300)]
    shares = [{n for n in names if owns(n, index, count)} for index in range(count)]
    assert set().union(*shares) == set(names)
    assert sum(len(share) for share in shares) == len(names)
    if count > 1:
        assert all(shares)  # every pod gets work


def test_indexed_job_pods_score_their_own_share(
    model_dir: Path, dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    names = [f"part-{i}.csv" for i in range(12)]
    for name in names:
        write_features_csv(dirs[0] / name, random_features(3))
    scored_by: dict[str, list[int]] = {}
    for index in range(3):
        flags = ("--job-completion-index", str(index), "--job-completion-count", "3")
        assert run_batch(model_dir, dirs, *flags) == 0
        for entry in log_entries(capsys):
            if entry["message"] == "scored file":
                scored_by.setdefault(Path(str(entry["input"])).name, []).append(index)
    assert sorted(scored_by) == sorted(names)
    assert all(len(pods) == 1 for pods in scored_by.values())
    assert len({pods[0] for pods in scored_by.values()}) == 3


def test_an_index_outside_the_job_is_a_config_error(
    model_dir: Path, dirs: tuple[Path, Path]
) -> None:
    flags = ("--job-completion-index", "3", "--job-completion-count", "3")
    assert run_batch(model_dir, dirs, *flags) == 2


def test_a_csv_model_reads_columns_by_name_and_copies_the_id_through(
    tmp_path: Path, dirs: tuple[Path, Path]
) -> None:
    from service.example_data import customer_rows, write_customers

    data = write_customers(tmp_path / "customers.csv")
    train(TrainSettings(model_dir=tmp_path / "m", train_data=data, label_column="churned"))
    rows = customer_rows(30, seed=11)
    # Columns in another order, the label left out, a note added; one unknown plan.
    lines = ["support_calls,note,plan,customer_id,region,monthly_charges,tenure_months"]
    for r in rows:
        lines.append(f'{r[5]},"x, y",{r[3]},{r[0]},{r[4]},{r[2]},{r[1]}')
    lines.append("1,,gold,c-99999,north,20.0,3")
    (dirs[0] / "new.csv").write_text("\n".join(lines) + "\n")
    assert run_batch(tmp_path / "m", dirs) == 0
    out = read_rows(dirs[1] / "new.csv.predictions.csv")
    assert list(out[0])[:7] == [
        "note",
        "customer_id",
        "tenure_months",
        "monthly_charges",
        "plan",
        "region",
        "support_calls",
    ]
    assert [row["customer_id"] for row in out] == [r[0] for r in rows]
    assert out[0]["note"] == "x, y"
    model = ModelStore(tmp_path / "m").load()
    plans, regions = ("basic", "premium", "standard"), ("east", "north", "south", "west")
    encoded = np.array(
        [
            [
                float(r[1]) if r[1] else np.nan,
                float(r[2]),
                plans.index(r[3]),
                regions.index(r[4]) if r[4] else np.nan,
                float(r[5]),
            ]
            for r in rows
        ]
    )
    expected = model.estimator.predict_proba(encoded)
    got = np.array([[float(row["proba_no"]), float(row["proba_yes"])] for row in out])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    (reject,) = read_rows(dirs[1] / "new.csv.rejects.csv")
    assert reject["reason"] == "plan='gold' is not a category the model knows"
