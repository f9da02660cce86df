"""MNIST and Fashion-MNIST, returned exactly as ``keras.datasets`` returns them.

The complete **test** splits (10,000 images each) ship inside the package, so evaluation runs on the real test
set on every machine, online or not: :func:`load_mnist_test` and :func:`load_fashion_mnist_test` read them, and
check them against the SHA-256 recorded below. Only training needs the full datasets. Sources of the full data,
tried in this order by :func:`load_mnist` / :func:`load_fashion_mnist`:

1. a path given as argument, or the environment variable ``CAPSULE_LESSON_DATA``: a ``.npz`` file, or a
   folder holding ``mnist.npz`` / ``fashion_mnist.npz`` (keys ``x_train, y_train, x_test, y_test``);
2. for Fashion-MNIST, Debian's ``dataset-fashion-mnist`` package (IDX files in
   ``/usr/share/datasets/fashion-mnist/``);
3. ``keras.datasets`` (downloads once, then reads its cache); with ``download=False`` or
   ``CAPSULE_LESSON_OFFLINE=1`` only when its cache already holds the files.

When none of them has the data, the result is the bundled test split with a 2,000-image training subset and a
:class:`SubsetWarning` naming every source tried and how to get the full data; ``fallback=False`` raises
:class:`DatasetNotFoundError` with the same message instead (the training script does this). A path you name
that is missing, truncated or corrupt raises :class:`DataFileError`; it never falls back silently.
"""

import gzip
import hashlib
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
    "mnist": {"file": "mnist.npz", "title": "MNIST"},
    "fashion_mnist": {"file": "fashion_mnist.npz", "title": "Fashion-MNIST"},
}
#: SHA-256 of the bundled test arrays' bytes: the same arrays ``keras.datasets`` returns.
TEST_SET_SHA256 = {
    "mnist": {"x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
              "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"},
    "fashion_mnist": {"x_test": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
                      "y_test": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9"},
}
_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz",
}
KEYS = ("x_train", "y_train", "x_test", "y_test")


class DataFileError(OSError):
    """A dataset file is missing, truncated, corrupt or has the wrong content."""


class DatasetNotFoundError(DataFileError):
    """No source holds the full dataset (its message lists the sources tried and how to fix it)."""


class SubsetWarning(UserWarning):
    """The full training set could not be found: the bundled training subset is used instead."""


#: MNIST and Fashion-MNIST both have ten classes.
NUM_CLASSES = 10


def to_model_input(images):
    """uint8 images ``(n, h, w)`` -> float32 in [0, 1], shape ``(n, h, w, 1)``."""
    return (np.asarray(images, dtype=np.float32) / 255.0)[..., None]


def load_mnist(path=None, *, download=None, subset=False, fallback=True):
    """MNIST as ``(x_train, y_train), (x_test, y_test)``: uint8 images ``(n, 28, 28)``, labels ``(n,)``.

    Args:
        path: a ``.npz`` file or a folder holding ``mnist.npz`` (else ``$CAPSULE_LESSON_DATA``).
        download: allow ``keras.datasets`` to download (default: yes, unless ``$CAPSULE_LESSON_OFFLINE``).
        subset: return the bundled subset straight away: 2,000 training images and a class-balanced
            1,000 of the real test images (quick runs).
        fallback: when no source has the full data, return the bundled 2,000 training images with the
            complete bundled test split and a :class:`SubsetWarning` (True), or raise
            :class:`DatasetNotFoundError` (False).
    """
    return _load("mnist", path, download, subset, fallback)


def load_fashion_mnist(path=None, *, download=None, subset=False, fallback=True):
    """Fashion-MNIST, same form and arguments as :func:`load_mnist` (file ``fashion_mnist.npz``)."""
    return _load("fashion_mnist", path, download, subset, fallback)


def load_mnist_test():
    """The complete MNIST test split ``(x_test, y_test)``, ``(10000, 28, 28)`` and ``(10000,)`` uint8.

    Read from the copy bundled in the package, so it needs no download and no ``$CAPSULE_LESSON_DATA``,
    and is checked against :data:`TEST_SET_SHA256` (the arrays ``keras.datasets.mnist`` returns).
    """
    return _bundled_test_set("mnist")


def load_fashion_mnist_test():
    """The complete Fashion-MNIST test split, as :func:`load_mnist_test` returns MNIST's."""
    return _bundled_test_set("fashion_mnist")


def _bundled_test_set(name):
    file = BUNDLED_DIR / f"{name}_test.npz"
    arrays = _read_arrays(file, ("x_test", "y_test"))
    for key, expected in TEST_SET_SHA256[name].items():
        if hashlib.sha256(arrays[key].tobytes()).hexdigest() != expected:
            raise DataFileError(f"{file}: {key} does not match its recorded SHA-256 (modified or damaged); "
                                "reinstall capsule_lesson")
    return _checked_split(file, "test", arrays["x_test"], arrays["y_test"])


def _bundled_training_subset(name):
    """The bundled 2,000 training images and the positions of the subset's 1,000 test images."""
    file = BUNDLED_DIR / f"{name}_subset.npz"
    arrays = _read_arrays(file, ("x_train", "y_train", "test_index"))
    return _checked_split(file, "train", arrays["x_train"], arrays["y_train"]), arrays["test_index"]


def _bundled_subset(name):
    train, test_index = _bundled_training_subset(name)
    x_test, y_test = _bundled_test_set(name)
    return train, (x_test[test_index], y_test[test_index])


def _load(name, path, download, subset, fallback):
    spec = _DATASETS[name]
    if subset:
        return _bundled_subset(name)
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
    tried = [f"no path argument and ${DATA_ENV} unset"]
    if name == "fashion_mnist":
        if all((DEBIAN_FASHION_DIR / f).exists() for f in _IDX_FILES.values()):
            return _read_idx_folder(DEBIAN_FASHION_DIR)
        tried.append(f"no Debian dataset-fashion-mnist files in {DEBIAN_FASHION_DIR}")
    why_offline = "download=False"
    if download is None:
        download = os.environ.get(OFFLINE_ENV, "") in ("", "0")
        why_offline = f"${OFFLINE_ENV}={os.environ.get(OFFLINE_ENV)}"
    if download:
        try:
            return _from_keras(name)
        except Exception as error:  # offline, blocked, or a broken cache: say so below
            tried.append(f"keras.datasets.{name} could not load it ({type(error).__name__}: {error})")
    elif _in_keras_cache(name):      # offline, but downloaded before: keras.datasets reads its cache
        return _from_keras(name)
    else:
        tried.append(f"keras.datasets download switched off ({why_offline}) and nothing in its cache {_keras_cache()}")
    how = (f"Fix: run python -c \"import keras; keras.datasets.{name}.load_data()\" once while online "
           f"(it caches the files, which later offline runs read), or set {DATA_ENV} to a folder holding "
           f"{spec['file']} (keys {', '.join(KEYS)}), or pass path=")
    if not fallback:
        raise DatasetNotFoundError(
            f"the full {spec['title']} training set was not found. Tried: {'; '.join(tried)}. {how}.")
    (x_train, y_train), _ = _bundled_training_subset(name)
    warnings.warn(
        f"capsule_lesson is using the bundled {spec['title']} training SUBSET ({len(x_train):,} images) with "
        f"the complete bundled test split, because the full training set was not found. Tried: "
        f"{'; '.join(tried)}. {how} to train on all of it.",
        SubsetWarning, stacklevel=3)
    return (x_train, y_train), _bundled_test_set(name)


def _keras_cache():
    """The folder ``keras.datasets`` downloads into (``$KERAS_HOME/datasets``, default ``~/.keras/datasets``)."""
    return pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras")) / "datasets"


def _in_keras_cache(name):
    cache = _keras_cache()
    if name == "mnist":
        return (cache / "mnist.npz").exists()
    return all((cache / "fashion-mnist" / f).exists() for f in _IDX_FILES.values())


def _from_keras(name):
    import keras   # only on the download path: the data module is NumPy and needs no Keras otherwise

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
    return _checked(file, _read_arrays(file, KEYS))


def _read_arrays(file, keys):
    try:
        with np.load(file, allow_pickle=False) as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise DataFileError(
                    f"{file} lacks the arrays {', '.join(missing)}; a dataset .npz needs "
                    f"{', '.join(keys)} (has {', '.join(archive.files) or 'none'})")
            return {k: archive[k] for k in keys}
    except DataFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, KeyError) as error:
        raise DataFileError(
            f"{file} is not a readable .npz dataset file (truncated or corrupt?): "
            f"{type(error).__name__}: {error}") from error


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
    return tuple(_checked_split(source, split, arrays["x_" + split], arrays["y_" + split])
                 for split in ("train", "test"))


def _checked_split(source, split, x, y):
    if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y):
        raise DataFileError(
            f"{source}: expected x_{split} (n, 28, 28) and y_{split} (n,), got {x.shape} and {y.shape}")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DataFileError(f"{source}: y_{split} has labels outside 0..9")
    return x.astype(np.uint8), y.astype(np.uint8)

