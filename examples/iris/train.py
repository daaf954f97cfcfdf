"""Trains a logistic regression on the iris data set and exports it to ONNX.

The data ships with scikit-learn (no download) and the fit is deterministic, so
the same model.onnx comes out every time.

    python train.py [--out PATH]      # default: model.onnx next to this file
"""
import argparse
import os

from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def train(out_path):
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500, random_state=0).fit(x, y)
    onx = convert_sklearn(
        model,
        name="iris",  # the default graph name is a random uuid
        initial_types=[("input", FloatTensorType([None, 4]))],
        # Without ZipMap, output 0 is a plain int64 label tensor and output 1 the
        # probabilities as a float tensor, instead of a list of dicts.
        options={id(model): {"zipmap": False}},
    )
    with open(out_path, "wb") as f:
        f.write(onx.SerializeToString())
    return out_path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=os.path.join(here, "model.onnx"))
    print("wrote", train(parser.parse_args().out))
