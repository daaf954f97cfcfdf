"""Writes rows.npy: synthetic iris-like measurements to score in bulk.

Seeded, so the same rows come out every time.

    python make_rows.py [--rows 100000] [--out PATH]   # default: rows.npy next to this file
"""
import argparse
import os

import numpy as np

# Per-feature mean and spread of the iris data (cm): sepal length/width, petal length/width.
MEAN = np.array([5.84, 3.06, 3.76, 1.20], dtype=np.float32)
SPREAD = np.array([0.83, 0.44, 1.77, 0.76], dtype=np.float32)


def make_rows(n, seed=7):
    rng = np.random.default_rng(seed)
    rows = rng.normal(MEAN, SPREAD, size=(n, 4)).astype(np.float32)
    return np.clip(rows, 0.1, None)


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--out", default=os.path.join(here, "rows.npy"))
    args = parser.parse_args()
    np.save(args.out, make_rows(args.rows))
    print("wrote", args.out, args.rows, "rows")
