"""The Iris data: feature names, and loading a training set from scikit-learn or a CSV."""

from __future__ import annotations

FEATURE_NAMES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
