"""iris-train on a team's own CSV: inferred types, missing values, models, tasks, bad data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service.example_data import write_customers, write_wine
from service.linear_form import Imputer
from service.model_store import ModelStore
from service.predictor import LinearRegressor, PreparedPredictor, make_predictor
from service.train import main
from tests.service.core_fixtures import restore_logging  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("restore_logging")


def errors(stderr: str) -> list[str]:
    lines = [json.loads(line) for line in stderr.splitlines()]
    return [str(e["message"]) for e in lines if e["level"] == "error"]


def train(tmp_path: Path, data: Path, *flags: str) -> int:
    return main(["--model-dir", str(tmp_path / "m"), "--train-data", str(data), *flags])


def test_a_churn_table_gets_a_signature_and_a_pipeline(tmp_path: Path) -> None:
    data = write_customers(tmp_path / "customers.csv")
    assert train(tmp_path, data, "--label-column", "churned") == 0
    loaded = ModelStore(tmp_path / "m").load()
    signature = loaded.metadata["signature"]
    assert signature["task"] == "classification"
    assert signature["target"] == "churned"
    assert signature["class_names"] == ["no", "yes"]
    by_name = {f["name"]: f for f in signature["features"]}
    assert "customer_id" not in by_name  # an identifier predicts nothing
    assert list(by_name) == ["tenure_months", "monthly_charges", "plan", "region", "support_calls"]
    assert by_name["plan"] == {
        "name": "plan",
        "type": "categorical",
        "nullable": False,
        "categories": ["basic", "premium", "standard"],
    }
    assert by_name["region"]["nullable"] is True  # the CSV has empty regions
    assert by_name["tenure_months"]["type"] == "numeric"
    assert by_name["tenure_months"]["nullable"] is True
    assert 1 <= by_name["tenure_months"]["min"] < by_name["tenure_months"]["max"] <= 72
    assert loaded.metadata["estimator"] == "LogisticRegression"
    assert loaded.metadata["test_accuracy"] >= 0.9
    assert loaded.metadata["pickle_free"]["file"] == "linear.json"


def test_the_pickle_free_form_predicts_what_the_pipeline_does(tmp_path: Path) -> None:
    data = write_customers(tmp_path / "customers.csv", rows=400, seed=3)
    assert train(tmp_path, data, "--label-column", "churned") == 0
    loaded = ModelStore(tmp_path / "m").load()
    predictor = make_predictor(loaded)
    rng = np.random.default_rng(0)
    rows = np.column_stack(
        [
            rng.uniform(0, 80, 300),
            rng.uniform(10, 130, 300),
            rng.integers(0, 3, 300).astype(float),
            rng.integers(0, 4, 300).astype(float),
            rng.integers(0, 6, 300).astype(float),
        ]
    )
    rows[rng.random(rows.shape) < 0.1] = np.nan  # missing values are imputed alike
    rows[:, 2] = np.where(np.isnan(rows[:, 2]), 1.0, rows[:, 2])  # plan is never missing
    expected = loaded.estimator.predict_proba(rows)
    np.testing.assert_allclose(predictor.predict_proba(rows), expected, rtol=1e-9)
    for row, proba in zip(rows[:50], expected, strict=False):
        _, probabilities = predictor.predict_row(row.tolist())
        np.testing.assert_allclose(probabilities, proba, rtol=1e-9)


@pytest.mark.parametrize("label", ["target", "alcohol"])
def test_a_numeric_pipeline_folds_its_scaling_and_still_imputes(tmp_path: Path, label: str) -> None:
    # All-numeric features: the scaler is folded into the linear model, the imputer stays, so
    # the batch job's empty cells are still the training medians.
    assert train(tmp_path, write_wine(tmp_path / "wine.csv"), "--label-column", label) == 0
    loaded = ModelStore(tmp_path / "m").load()
    predictor = make_predictor(loaded)
    rng = np.random.default_rng(1)
    rows = rng.uniform(0, 200, (300, len(loaded.feature_names)))
    rows[rng.random(rows.shape) < 0.1] = np.nan
    rows[0] = np.nan  # nothing known: every feature is its median
    if label == "alcohol":
        assert isinstance(predictor, LinearRegressor)
        expected = loaded.estimator.predict(rows)
        np.testing.assert_allclose(predictor.values(rows), expected, rtol=1e-9)
        for row, value in zip(rows[:50], expected, strict=False):
            assert predictor.value_row(row.tolist()) == pytest.approx(value, rel=1e-9)
        return
    assert isinstance(predictor, PreparedPredictor)
    expected = loaded.estimator.predict_proba(rows)
    np.testing.assert_allclose(predictor.predict_proba(rows), expected, rtol=1e-9)
    for row, proba in zip(rows[:50], expected, strict=False):
        _, probabilities = predictor.predict_row(row.tolist())
        np.testing.assert_allclose(probabilities, proba, rtol=1e-9)


def test_the_imputer_replaces_missing_values_only() -> None:
    imputer = Imputer(3, np.array([1.0, 2.0, 3.0]))
    assert imputer.transform_row([np.nan, 5.0, np.nan]) == [1.0, 5.0, 3.0]
    # Infinities that cancel make the row's sum NaN, without a value to replace.
    assert imputer.transform_row([np.inf, -np.inf, 4.0]) == [np.inf, -np.inf, 4.0]
    np.testing.assert_array_equal(
        imputer.transform(np.array([[np.nan, 5.0, 6.0], [7.0, np.nan, 9.0]])),
        [[1.0, 5.0, 6.0], [7.0, 2.0, 9.0]],
    )
    assert Imputer(3, None).identity


@pytest.mark.parametrize("model", ["hist_gradient_boosting", "random_forest"])
def test_other_models_are_pickled_only(tmp_path: Path, model: str) -> None:
    data = write_wine(tmp_path / "wine.csv")
    assert train(tmp_path, data, "--model", model, "--min-accuracy", "0.8") == 0
    loaded = ModelStore(tmp_path / "m").load()
    assert "pickle_free" not in loaded.metadata
    assert len(loaded.metadata["signature"]["features"]) == 13
    assert loaded.class_names == ("0", "1", "2")


def test_a_numeric_label_with_many_values_is_a_regression(tmp_path: Path) -> None:
    data = write_wine(tmp_path / "wine.csv")
    assert train(tmp_path, data, "--label-column", "alcohol") == 0
    loaded = ModelStore(tmp_path / "m").load()
    assert loaded.metadata["task"] == "regression"
    assert loaded.metadata["estimator"] == "Ridge"
    assert loaded.metadata["signature"]["target"] == "alcohol"
    assert loaded.metadata["test_r2"] >= 0.5
    predictor = make_predictor(loaded)
    rows = np.random.default_rng(1).uniform(0, 100, (100, 13))
    np.testing.assert_allclose(predictor.values(rows), loaded.estimator.predict(rows), rtol=1e-9)


def test_the_regression_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_wine(tmp_path / "wine.csv")
    assert train(tmp_path, data, "--label-column", "alcohol", "--max-rmse", "0.01") == 1
    assert "above MAX_RMSE" in errors(capsys.readouterr().err)[0]
    assert ModelStore(tmp_path / "m").current_version() is None


def test_features_can_be_chosen_and_typed(tmp_path: Path) -> None:
    data = write_customers(tmp_path / "customers.csv")
    flags = ["--label-column", "churned", "--features", "tenure_months,support_calls:categorical"]
    flags += ["--min-accuracy", "0.5"]
    assert train(tmp_path, data, *flags) == 0
    features = ModelStore(tmp_path / "m").load().metadata["signature"]["features"]
    assert [(f["name"], f["type"]) for f in features] == [
        ("tenure_months", "numeric"),
        ("support_calls", "categorical"),
    ]


def test_a_teams_own_factory(tmp_path: Path) -> None:
    data = write_wine(tmp_path / "wine.csv")
    assert train(tmp_path, data, "--model", "sklearn.tree:DecisionTreeClassifier") == 0
    assert ModelStore(tmp_path / "m").load().metadata["estimator"] == "DecisionTreeClassifier"


def many_values(path: Path) -> Path:
    rows = [f"user{i},{i % 2}" for i in range(3000)]
    path.write_text("name,label\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(
    ("write", "flags", "reason"),
    [
        (lambda p: p.write_text("a,b\n1,x\n2,y\n"), ["--label-column", "churned"],
         "no label column 'churned' (LABEL_COLUMN); columns: a, b"),
        (lambda p: p.write_text(""), [], "is empty"),
        (lambda p: p.write_text("a,label\n"), [], "has a header but no rows"),
        (lambda p: p.write_text("a,label\n1,x\n2,x\n3,x\n"), [], "at least 2 classes, found 1"),
        (lambda p: p.write_text("a,label\n1,x\n2,y\nthree,x\n4,y\n"), [],
         "column a mixes numbers and text (line 2: '1', line 4: 'three')"),
        (many_values, [], "column name has 3000 distinct values, more than MAX_CATEGORIES (100)"),
        (lambda p: p.write_text("a,label\n,x\n,y\n"), [], "column a has no values"),
        (lambda p: p.write_text("a,label\n1,x\n2,y\n"), ["--model", "ridge"],
         "MODEL=ridge does not do classification"),
        (lambda p: p.write_text("a,label\n1,x\n2,y\n"), ["--model", "nope"],
         "MODEL=nope is not one of"),
        (lambda p: p.write_text("a,label\n1,x\n2,y\n"), ["--model", "no.such.module:make"],
         "MODEL=no.such.module:make: cannot make the estimator"),
        (lambda p: p.write_text("a,label\n1,x\n2,y\n"), ["--features", "b"],
         "missing column(s): b"),
    ],
)  # fmt: skip
def test_bad_data_is_one_line_exit_2_and_nothing_published(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write, flags, reason
) -> None:
    data = tmp_path / "bad.csv"
    write(data)
    assert train(tmp_path, data, *flags) == 2
    lines = errors(capsys.readouterr().err)
    assert len(lines) == 1
    assert reason in lines[0]
    assert ModelStore(tmp_path / "m").current_version() is None


@pytest.mark.parametrize(
    ("flags", "regularisation"),
    [
        (["--model-c", "0.5"], {"C": 0.5}),
        (["--model-c", "0.5", "--label-column", "alcohol"], {"alpha": 2.0}),
        (["--model-c", "0.5", "--model", "random_forest"], {}),
    ],
)
def test_the_training_line_names_only_the_regularisation_the_model_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], regularisation: dict
) -> None:
    assert train(tmp_path, write_wine(tmp_path / "wine.csv"), *flags) == 0
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    [trained] = [line for line in lines if line["message"] == "trained model"]
    assert {key: trained[key] for key in ("C", "alpha") if key in trained} == regularisation
