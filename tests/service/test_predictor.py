"""The fast predictors give scikit-learn's own predictions and probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from service.model_store import LoadedModel, ModelStoreError
from service.predictor import (
    EstimatorPredictor,
    LinearBinaryPredictor,
    LinearSoftmaxPredictor,
    make_predictor,
)
from service.signature import Signature, iris_measurement
from tests.service.api_fixtures import fitted_iris

CLASSES = ("setosa", "versicolor", "virginica")
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
measurement = st.floats(min_value=0, max_value=100, allow_nan=False, allow_infinity=False)


def loaded(
    estimator: object, classes: tuple[str, ...] = CLASSES, features: tuple[str, ...] = FEATURES
) -> LoadedModel:
    signature = Signature(
        tuple(map(iris_measurement, features)), "classification", "species", classes
    )
    return LoadedModel.in_memory("20260101T000000Z-abcd", estimator, signature, {})


def assert_same_as_sklearn(estimator: LogisticRegression, features: np.ndarray) -> None:
    predictor = make_predictor(loaded(estimator, tuple(map(str, estimator.classes_))))
    expected_proba = estimator.predict_proba(features)
    expected_class = estimator.predict(features)
    np.testing.assert_allclose(
        predictor.predict_proba(features), expected_proba, rtol=1e-9, atol=1e-300
    )
    np.testing.assert_array_equal(predictor.predict(features), expected_class)
    indices, probabilities = predictor.classify(features)
    np.testing.assert_array_equal(indices, expected_class)
    np.testing.assert_allclose(probabilities, expected_proba, rtol=1e-9, atol=1e-300)
    for row, proba, label in zip(features[:200], expected_proba, expected_class, strict=False):
        index, probabilities = predictor.predict_row(row.tolist())
        assert index == label
        np.testing.assert_allclose(probabilities, proba, rtol=1e-9, atol=1e-300)


@pytest.fixture(scope="module")
def iris_model() -> LogisticRegression:
    return fitted_iris()


def test_multinomial_logistic_regression_uses_the_softmax_fast_path(iris_model):
    assert isinstance(make_predictor(loaded(iris_model)), LinearSoftmaxPredictor)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_softmax_path_equals_sklearn_on_random_inputs(iris_model, seed):
    rng = np.random.default_rng(seed)
    # Realistic flowers, and the whole accepted range where probabilities get extreme.
    features = np.vstack(
        [rng.uniform([4, 2, 1, 0.1], [8, 4.5, 7, 2.5], (2000, 4)), rng.uniform(0, 100, (2000, 4))]
    )
    assert_same_as_sklearn(iris_model, features)


@settings(max_examples=300, deadline=None)
@given(st.lists(measurement, min_size=4, max_size=4))
def test_single_row_equals_sklearn(iris_model, row):
    predictor = make_predictor(loaded(iris_model))
    index, probabilities = predictor.predict_row(row)
    features = np.array([row])
    expected = iris_model.predict_proba(features)[0]
    np.testing.assert_allclose(probabilities, expected, rtol=1e-9, atol=1e-300)
    assert index == iris_model.predict(features)[0] == int(np.argmax(expected))
    assert int(np.argmax(probabilities)) == index


def test_integer_measurements_give_the_same_result_as_floats(iris_model):
    predictor = make_predictor(loaded(iris_model))
    assert predictor.predict_row([5, 3, 1, 0]) == predictor.predict_row([5.0, 3.0, 1.0, 0.0])


def test_binary_logistic_regression_equals_sklearn():
    iris = load_iris()
    mask = iris.target > 0  # versicolor vs virginica: the classes overlap, so p is not 0/1
    model = LogisticRegression(max_iter=500).fit(iris.data[mask], iris.target[mask] - 1)
    predictor = make_predictor(loaded(model, ("versicolor", "virginica")))
    assert isinstance(predictor, LinearBinaryPredictor)
    rng = np.random.default_rng(7)
    features = np.vstack([rng.uniform(0, 10, (3000, 4)), rng.uniform(0, 100, (1000, 4))])
    assert_same_as_sklearn(model, features)


def test_other_estimators_fall_back_to_their_own_methods():
    iris = load_iris()
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(iris.data, iris.target)
    predictor = make_predictor(loaded(tree))
    assert isinstance(predictor, EstimatorPredictor)
    features = np.random.default_rng(3).uniform(0, 10, (500, 4))
    np.testing.assert_array_equal(predictor.predict_proba(features), tree.predict_proba(features))
    np.testing.assert_array_equal(predictor.predict(features), tree.predict(features))
    index, probabilities = predictor.predict_row([5.1, 3.5, 1.4, 0.2])
    assert index == 0 and probabilities == pytest.approx([1.0, 0.0, 0.0])


def test_a_model_whose_classes_do_not_match_its_metadata_is_refused(iris_model):
    with pytest.raises(ModelStoreError, match="3 classes but its metadata names 2"):
        make_predictor(loaded(iris_model, ("a", "b")))


def test_a_model_whose_features_do_not_match_its_metadata_is_refused(iris_model):
    model = loaded(iris_model, CLASSES, FEATURES[:3])
    with pytest.raises(ModelStoreError, match="expects 4 features but its metadata names 3"):
        make_predictor(model)


@pytest.mark.parametrize("classes", [3, 7])
def test_softmax_predictor_breaks_ties_like_scikit_learn(classes):
    # Weights of small integers on integer features make equal scores common; scikit-learn
    # (np.argmax) then picks the first class, and so must the fast predictor.
    rng = np.random.default_rng(classes)
    coef = rng.integers(-1, 2, size=(classes, 4)).astype(np.float64)
    intercept = np.zeros(classes)
    features = rng.integers(0, 3, size=(500, 4)).astype(np.float64)
    scores = features @ coef.T
    assert (np.sort(scores, axis=1)[:, -1] == np.sort(scores, axis=1)[:, -2]).any()
    predictor = LinearSoftmaxPredictor(coef, intercept, tuple(map(str, range(classes))))
    indices, _ = predictor.classify(features)
    np.testing.assert_array_equal(indices, np.argmax(scores, axis=1))
    np.testing.assert_array_equal(predictor.predict(features), np.argmax(scores, axis=1))
