"""Write the data files bundled in ``capsule_lesson/data/`` from the full ``.npz`` datasets.

    python tools/make_bundled_data.py --source FOLDER   # FOLDER holds mnist.npz and fashion_mnist.npz

For each dataset it writes ``<name>_test.npz`` (the complete test split, 10,000 images, byte-identical to
``keras.datasets``) and ``<name>_subset.npz`` (a class-balanced 2,000-image training subset and the indices
of a class-balanced 1,000-image slice of the test split). It prints the SHA-256 of the test arrays, the values
``capsule_lesson/data.py`` checks and ``capsule_lesson/data/README.md`` lists.
"""

import argparse
import hashlib
import pathlib

import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[1] / "capsule_lesson" / "data"


def balanced_indices(labels, n, rng):
    per_class = n // 10
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                                   for c in range(10)]))


def write(source, name, n_train=2000, n_test=1000, seed=0):
    with np.load(source / f"{name}.npz") as archive:
        arrays = {k: archive[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    rng = np.random.default_rng(seed)   # the same draws the first bundled subsets used
    train_index = balanced_indices(arrays["y_train"], n_train, rng)
    test_index = balanced_indices(arrays["y_test"], n_test, rng)
    np.savez_compressed(OUT / f"{name}_test.npz", x_test=arrays["x_test"], y_test=arrays["y_test"])
    np.savez_compressed(OUT / f"{name}_subset.npz", x_train=arrays["x_train"][train_index],
                        y_train=arrays["y_train"][train_index], test_index=test_index.astype(np.int16))
    for key in ("x_test", "y_test"):
        print(f"{name} {key}: sha256 {hashlib.sha256(arrays[key].tobytes()).hexdigest()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=pathlib.Path, required=True,
                        help="folder holding mnist.npz and fashion_mnist.npz (keras.datasets' arrays)")
    args = parser.parse_args()
    for name in ("mnist", "fashion_mnist"):
        write(args.source, name)


if __name__ == "__main__":
    main()
