"""Example training CSVs beside Iris: `python -m service.example_data OUTPUT_DIR`.

`make example-data` writes them into examples/data:

- `wine.csv`: scikit-learn's bundled wine data, 13 numeric features and the cultivar (`target`).
- `customers.csv`: a generated churn table with a `customer_id` (left out of training, copied
  through by iris-batch), numeric and categorical columns, missing values, and the label
  `churned` (yes/no).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

PLANS = ("basic", "standard", "premium")
REGIONS = ("north", "south", "east", "west")
CUSTOMER_COLUMNS = (
    "customer_id",
    "tenure_months",
    "monthly_charges",
    "plan",
    "region",
    "support_calls",
    "churned",
)


def write_wine(path: Path) -> Path:
    from sklearn.datasets import load_wine

    wine = load_wine()
    # The CSV header names the columns as the API will: "/" is awkward in a field name.
    names = [name.replace("/", "_") for name in wine.feature_names]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([*names, "target"])
        for values, target in zip(wine.data, wine.target, strict=True):
            writer.writerow([*(f"{v:g}" for v in values), int(target)])
    return path


def customer_rows(rows: int = 800, seed: int = 7) -> list[list[str]]:
    """Churn depends on tenure, charges, plan and support calls; a few cells are missing."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows)
    charges = np.round(rng.uniform(15, 120, rows), 2)
    plan = rng.integers(0, len(PLANS), rows)
    region = rng.integers(0, len(REGIONS), rows)
    calls = rng.poisson(1.5, rows)
    score = 2.0 - 0.09 * tenure + 0.03 * charges - 1.2 * plan + 0.9 * calls - 2.0
    churned = score + rng.normal(0, 0.3, rows) > 0
    out = []
    for i in range(rows):
        out.append(
            [
                f"c-{i + 1:05d}",
                "" if rng.random() < 0.05 else str(tenure[i]),
                f"{charges[i]:.2f}",
                PLANS[plan[i]],
                "" if rng.random() < 0.08 else REGIONS[region[i]],
                str(calls[i]),
                "yes" if churned[i] else "no",
            ]
        )
    return out


def write_customers(path: Path, rows: int = 800, seed: int = 7) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CUSTOMER_COLUMNS)
        writer.writerows(customer_rows(rows, seed))
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m service.example_data OUTPUT_DIR", file=sys.stderr)
        return 2
    folder = Path(args[0])
    folder.mkdir(parents=True, exist_ok=True)
    for written in (write_wine(folder / "wine.csv"), write_customers(folder / "customers.csv")):
        print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
