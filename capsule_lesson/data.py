"""MNIST and Fashion-MNIST, returned exactly as ``keras.datasets`` returns them.

Sources, tried in this order:

1. a path given as argument, or the environment variable ``CAPSULE_LESSON_DATA``: a ``.npz`` file, or a
   folder holding ``mnist.npz`` / ``fashion_mnist.npz`` (keys ``x_train, y_train, x_test, y_test``);
2. for Fashion-MNIST, Debian's ``dataset-fashion-mnist`` package (IDX files in
   ``/usr/share/datasets/fashion-mnist/``);
3. ``keras.datasets`` (downloads once, then reads its cache); skipped when ``download=False`` or when
   ``CAPSULE_LESSON_OFFLINE=1``;
4. a small subset bundled with this package (see ``capsule_lesson/data/README.md``), with a
   :class:`SubsetWarning` that says so and why.

A path you name that is missing, truncated or corrupt raises :class:`DataFileError`; it never falls back silently.
"""

import gzip
import os
import pathlib
import socket
import warnings
import zipfile
import zlib

import numpy as np

DATA_ENV = "CAPSULE_LESSON_DATA"
OFFLINE_ENV = "CAPSULE_LESSON_OFFLINE"
BUNDLED_DIR = pathlib.Path(__file__).parent / "data"
DEBIAN_FASHION_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")
DOWNLOAD_TIMEOUT_S = 60

_DATASETS = {
    "mnist": {"file": "mnist.npz", "subset": "mnist_subset.npz", "title": "MNIST"},
    "fashion_mnist": {"file": "fashion_mnist.npz", "subset": "fashion_mnist_subset.npz",
                      "title": "Fashion-MNIST"},
}
_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz",
}
KEYS = ("x_train", "y_train", "x_test", "y_test")


class DataFileError(OSError):
    """A dataset file is missing, truncated, corrupt or has the wrong content."""


class SubsetWarning(UserWarning):
    """Only the small bundled subset could be loaded, not the full dataset."""


def load_mnist(path=None, *, download=None, subset=False):
    """MNIST as ``(x_train, y_train), (x_test, y_test)``: uint8 images ``(n, 28, 28)``, labels ``(n,)``.

    Args:
        path: a ``.npz`` file or a folder holding ``mnist.npz`` (else ``$CAPSULE_LESSON_DATA``).
        download: allow ``keras.datasets`` to download (default: yes, unless ``$CAPSULE_LESSON_OFFLINE``).
        subset: return the bundled subset straight away (quick runs, offline classrooms).
    """
    return _load("mnist", path, download, subset)


def load_fashion_mnist(path=None, *, download=None, subset=False):
    """Fashion-MNIST, same form and arguments as :func:`load_mnist` (file ``fashion_mnist.npz``)."""
    return _load("fashion_mnist", path, download, subset)


def _load(name, path, download, subset):
    spec = _DATASETS[name]
    if subset:
        return _read_npz(BUNDLED_DIR / spec["subset"])
    origin = "the path argument"
    if path is None and os.environ.get(DATA_ENV):
        path, origin = os.environ[DATA_ENV], f"${DATA_ENV}"
    if path is not None:
        path = pathlib.Path(path)
        file = path / spec["file"] if path.is_dir() else path
        if not file.exists():
            raise DataFileError(
                f"{spec['title']} file not found: {file} (from {origin}); expected an .npz with keys "
                f"{', '.join(KEYS)}, or a folder holding {spec['file']}")
        return _read_npz(file)
    if name == "fashion_mnist" and all((DEBIAN_FASHION_DIR / f).exists() for f in _IDX_FILES.values()):
        return _read_idx_folder(DEBIAN_FASHION_DIR)
    if download is None:
        download = os.environ.get(OFFLINE_ENV, "") in ("", "0")
    if download:
        try:
            return _from_keras(name)
        except Exception as error:  # offline, blocked, or a broken cache: say so and fall back
            reason = f"keras.datasets could not load it ({type(error).__name__}: {error})"
    else:
        reason = "downloading is switched off"
    data = _read_npz(BUNDLED_DIR / spec["subset"])
    (x_train, _), (x_test, _) = data
    warnings.warn(
        f"capsule_lesson is using the bundled {spec['title']} SUBSET ({len(x_train):,} training and "
        f"{len(x_test):,} test images), not the full dataset, because {reason}. Set {DATA_ENV} to a "
        f"folder holding {spec['file']} or pass path= to use the full data.",
        SubsetWarning, stacklevel=3)
    return data


def _from_keras(name):
    import keras

    loader = getattr(keras.datasets, name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # an offline machine should fail, not hang
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    finally:
        socket.setdefaulttimeout(previous)
    return _checked("keras.datasets." + name, dict(x_train=x_train, y_train=y_train,
                                                  x_test=x_test, y_test=y_test))


def _read_npz(file):
    try:
        with np.load(file, allow_pickle=False) as archive:
            missing = [k for k in KEYS if k not in archive.files]
            if missing:
                raise DataFileError(
                    f"{file} lacks the arrays {', '.join(missing)}; a dataset .npz needs "
                    f"{', '.join(KEYS)} (has {', '.join(archive.files) or 'none'})")
            arrays = {k: archive[k] for k in KEYS}
    except DataFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, KeyError) as error:
        raise DataFileError(
            f"{file} is not a readable .npz dataset file (truncated or corrupt?): "
            f"{type(error).__name__}: {error}") from error
    return _checked(file, arrays)


def _read_idx(file, expected_magic):
    try:
        with gzip.open(file, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as error:
        raise DataFileError(f"{file} is not a readable gzip IDX file: {error}") from error
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise DataFileError(f"{file}: IDX magic number {magic}, expected {expected_magic}")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DataFileError(f"{file}: holds {body.size} bytes of data, header says {dims} (truncated?)")
    return body.reshape(dims)


def _read_idx_folder(folder):
    arrays = {k: _read_idx(folder / f, 2051 if k.startswith("x") else 2049)
              for k, f in _IDX_FILES.items()}
    return _checked(folder, arrays)


def _checked(source, arrays):
    for split in ("train", "test"):
        x, y = arrays["x_" + split], arrays["y_" + split]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y):
            raise DataFileError(
                f"{source}: expected x_{split} (n, 28, 28) and y_{split} (n,), "
                f"got {x.shape} and {y.shape}")
        if y.size and (y.min() < 0 or y.max() > 9):
            raise DataFileError(f"{source}: y_{split} has labels outside 0..9")
    return ((arrays["x_train"].astype(np.uint8), arrays["y_train"].astype(np.uint8)),
            (arrays["x_test"].astype(np.uint8), arrays["y_test"].astype(np.uint8)))


def make_subset(source_npz, out_npz, n_train=2000, n_test=1000, seed=0):
    """Write a class-balanced subset of a full dataset ``.npz`` (how the bundled subsets were made)."""
    (x_train, y_train), (x_test, y_test) = _read_npz(source_npz)
    rng = np.random.default_rng(seed)

    def pick(y, n):
        per_class = n // 10
        idx = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False)
                              for c in range(10)])
        return np.sort(idx)

    tr, te = pick(y_train, n_train), pick(y_test, n_test)
    np.savez_compressed(out_npz, x_train=x_train[tr], y_train=y_train[tr],
                        x_test=x_test[te], y_test=y_test[te])

