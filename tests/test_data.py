import gzip
import hashlib
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import capsule_lesson.data as data
from capsule_lesson import (DataFileError, DatasetNotFoundError, SubsetWarning, load_fashion_mnist,
                            load_fashion_mnist_test, load_mnist, load_mnist_test)

TEST_LOADERS = {"mnist": load_mnist_test, "fashion_mnist": load_fashion_mnist_test}
FULL_DATA = pytest.mark.skipif(not os.environ.get(data.DATA_ENV), reason=f"${data.DATA_ENV} is not set")


def write_npz(path, n_train=20, n_test=10, **override):
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
                  y_train=rng.integers(0, 10, n_train).astype(np.uint8),
                  x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
                  y_test=rng.integers(0, 10, n_test).astype(np.uint8))
    arrays.update(override)
    np.savez(path, **arrays)
    return arrays


@pytest.fixture
def no_env(monkeypatch, tmp_path):
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    monkeypatch.delenv(data.OFFLINE_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))   # an empty keras.datasets cache


@pytest.mark.parametrize("loader", [load_mnist, load_fashion_mnist])
def test_bundled_subset_has_keras_form(loader):
    (x_train, y_train), (x_test, y_test) = loader(subset=True)
    assert x_train.shape == (2000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [200] * 10
    assert np.bincount(y_test).tolist() == [100] * 10


def test_explicit_file_and_folder(tmp_path, no_env):
    arrays = write_npz(tmp_path / "mnist.npz")
    (x_train, y_train), (x_test, y_test) = load_mnist(tmp_path)
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])
    (x_train2, _), _ = load_mnist(tmp_path / "mnist.npz")
    np.testing.assert_array_equal(x_train2, x_train)


def test_environment_variable_folder(tmp_path, monkeypatch):
    write_npz(tmp_path / "fashion_mnist.npz", n_train=7)
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    (x_train, _), _ = load_fashion_mnist()
    assert len(x_train) == 7


def test_missing_named_file_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    with pytest.raises(DataFileError, match="MNIST file not found.*path argument"):
        load_mnist(tmp_path / "nowhere.npz")
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    with pytest.raises(DataFileError, match=r"fashion_mnist\.npz.*CAPSULE_LESSON_DATA"):
        load_fashion_mnist()


def test_truncated_file(tmp_path, no_env):
    write_npz(tmp_path / "mnist.npz", n_train=500)
    raw = (tmp_path / "mnist.npz").read_bytes()
    (tmp_path / "mnist.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFileError, match="truncated or corrupt"):
        load_mnist(tmp_path)


def test_corrupt_bytes(tmp_path, no_env):
    write_npz(tmp_path / "mnist.npz", n_train=500)
    raw = bytearray((tmp_path / "mnist.npz").read_bytes())
    raw[1000:1200] = b"\x00" * 200
    (tmp_path / "mnist.npz").write_bytes(bytes(raw))
    with pytest.raises(DataFileError):
        load_mnist(tmp_path)


def test_not_an_npz(tmp_path, no_env):
    (tmp_path / "mnist.npz").write_text("hello")
    with pytest.raises(DataFileError, match="not a readable .npz"):
        load_mnist(tmp_path)


def test_missing_keys_and_wrong_shapes(tmp_path, no_env):
    np.savez(tmp_path / "a.npz", x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataFileError, match="lacks the arrays y_train, x_test, y_test"):
        load_mnist(tmp_path / "a.npz")
    write_npz(tmp_path / "b.npz", x_test=np.zeros((10, 32, 32), np.uint8))
    with pytest.raises(DataFileError, match=r"expected x_test \(n, 28, 28\)"):
        load_mnist(tmp_path / "b.npz")
    write_npz(tmp_path / "c.npz", y_train=np.full(20, 11, np.uint8))
    with pytest.raises(DataFileError, match="labels outside 0..9"):
        load_mnist(tmp_path / "c.npz")


def test_offline_falls_back_to_the_training_subset_and_the_complete_test_set(no_env, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", data.BUNDLED_DIR / "absent")
    with pytest.warns(SubsetWarning, match=r"bundled MNIST training SUBSET \(2,000 images\) with the complete "
                                           r"bundled test split.*download switched off \(download=False\)"):
        (x_train, _), (x_test, y_test) = load_mnist(download=False)
    assert len(x_train) == 2000
    np.testing.assert_array_equal(x_test, load_mnist_test()[0])
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    with pytest.warns(SubsetWarning, match=r"Fashion-MNIST training SUBSET.*Debian.*CAPSULE_LESSON_OFFLINE=1"):
        (_, _), (x_test, _) = load_fashion_mnist()
    assert len(x_test) == 10000


def test_without_fallback_the_error_names_every_source_tried_and_the_fix(no_env, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", data.BUNDLED_DIR / "absent")
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    with pytest.raises(DatasetNotFoundError) as error:
        load_fashion_mnist(fallback=False)
    message = str(error.value)
    for part in ("full Fashion-MNIST training set was not found", "CAPSULE_LESSON_DATA unset",
                 "dataset-fashion-mnist", "CAPSULE_LESSON_OFFLINE=1",
                 "keras.datasets.fashion_mnist.load_data()", "fashion_mnist.npz"):
        assert part in message, (part, message)


def test_training_without_the_full_training_set_stops_with_that_message(no_env, monkeypatch, tmp_path):
    from capsule_lesson.train import main as train_main

    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    with pytest.raises(DatasetNotFoundError, match=r"full MNIST training set was not found.*Fix:"):
        train_main(["--model", "cnn", "--epochs", "1", "--out", str(tmp_path / "run"), "--verbose", "0"])
    assert not (tmp_path / "run" / "record.json").exists()


def test_offline_reads_a_keras_datasets_cache_without_downloading(no_env, monkeypatch, tmp_path):
    fake = ((np.zeros((3, 28, 28), np.uint8), np.zeros(3, np.uint8)),
            (np.zeros((2, 28, 28), np.uint8), np.ones(2, np.uint8)))
    monkeypatch.setattr(data, "_from_keras", lambda name: fake)
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    with pytest.raises(DatasetNotFoundError, match=r"nothing in its cache .*keras-home.datasets"):
        load_mnist(fallback=False)
    cache = tmp_path / "keras-home" / "datasets"
    cache.mkdir(parents=True)
    (cache / "mnist.npz").write_bytes(b"downloaded earlier")
    assert load_mnist(fallback=False) is fake


def test_download_failure_is_reported_in_the_warning(no_env, monkeypatch):
    def offline(name):
        raise OSError("network is unreachable")

    monkeypatch.setattr(data, "_from_keras", offline)
    with pytest.warns(SubsetWarning, match="keras.datasets.mnist could not load it .*network is unreachable"):
        load_mnist()


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_bundled_test_sets_are_complete_and_match_their_checksums(name):
    x_test, y_test = TEST_LOADERS[name]()
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert x_test.dtype == np.uint8 and y_test.dtype == np.uint8
    assert np.bincount(y_test, minlength=10).min() >= 800
    for key, array in (("x_test", x_test), ("y_test", y_test)):
        assert hashlib.sha256(array.tobytes()).hexdigest() == data.TEST_SET_SHA256[name][key]
    if name == "mnist":   # the documented first labels of keras.datasets.mnist's test split
        assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


@pytest.mark.parametrize("name, loader", [("mnist", load_mnist), ("fashion_mnist", load_fashion_mnist)])
def test_the_subset_test_images_are_real_test_images(name, loader):
    (_, _), (x_sub, y_sub) = loader(subset=True)
    x_full, y_full = TEST_LOADERS[name]()
    index = np.load(data.BUNDLED_DIR / f"{name}_subset.npz")["test_index"]
    np.testing.assert_array_equal(x_sub, x_full[index])
    np.testing.assert_array_equal(y_sub, y_full[index])


def test_test_set_loaders_ignore_the_environment(tmp_path, monkeypatch):
    """The notebooks' test sets are the bundled ones, whatever $CAPSULE_LESSON_DATA points at."""
    write_npz(tmp_path / "mnist.npz")
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    x_test, _ = load_mnist_test()
    assert hashlib.sha256(x_test.tobytes()).hexdigest() == data.TEST_SET_SHA256["mnist"]["x_test"]


def test_a_modified_bundled_test_set_is_an_error(tmp_path, monkeypatch):
    x_test, y_test = load_mnist_test()
    x_test = x_test.copy()
    x_test[123, 14, 14] ^= 1
    np.savez_compressed(tmp_path / "mnist_test.npz", x_test=x_test, y_test=y_test)
    monkeypatch.setattr(data, "BUNDLED_DIR", tmp_path)
    with pytest.raises(DataFileError, match="x_test does not match its recorded SHA-256"):
        load_mnist_test()


def test_test_sets_load_with_no_network_and_no_data_folder(tmp_path):
    """In a fresh interpreter whose sockets all fail, with no dataset variables, both test sets load."""
    script = (
        "import socket\n"
        "def refuse(*args, **kwargs):\n"
        "    raise OSError('network disabled by the test')\n"
        "socket.socket.connect = socket.socket.connect_ex = refuse\n"
        "socket.create_connection = socket.getaddrinfo = refuse\n"
        "import hashlib, capsule_lesson as cl\n"
        "for load in (cl.load_mnist_test, cl.load_fashion_mnist_test):\n"
        "    x, y = load()\n"
        "    print(len(x), hashlib.sha256(x.tobytes()).hexdigest())\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPSULE_LESSON_")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert lines == ["10000", data.TEST_SET_SHA256["mnist"]["x_test"],
                     "10000", data.TEST_SET_SHA256["fashion_mnist"]["x_test"]]


def test_keras_path_is_used_when_it_works(no_env, monkeypatch):
    fake = ((np.zeros((3, 28, 28), np.uint8), np.zeros(3, np.uint8)),
            (np.zeros((2, 28, 28), np.uint8), np.ones(2, np.uint8)))
    monkeypatch.setattr(data, "_from_keras", lambda name: fake)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_mnist() is fake


def write_idx(path, array, magic):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_debian_idx_folder_for_fashion(tmp_path, no_env, monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (6, 28, 28))
    y = rng.integers(0, 10, 6)
    for key, name in data._IDX_FILES.items():
        write_idx(tmp_path / name, x if key.startswith("x") else y, 2051 if key.startswith("x") else 2049)
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path)
    (x_train, y_train), _ = load_fashion_mnist(download=False)
    np.testing.assert_array_equal(x_train, x)
    np.testing.assert_array_equal(y_train, y)
    write_idx(tmp_path / data._IDX_FILES["x_test"], x[:, :27], 2049)
    with pytest.raises(DataFileError, match="magic number"):
        load_fashion_mnist(download=False)


@pytest.mark.full_data
@FULL_DATA
def test_full_mnist_matches_its_documented_checks():
    (x_train, y_train), (x_test, y_test) = load_mnist(download=False, fallback=False)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert abs(x_train.mean() / 255 - 0.1307) < 1e-3


@pytest.mark.full_data
@FULL_DATA
@pytest.mark.parametrize("name, loader", [("mnist", load_mnist), ("fashion_mnist", load_fashion_mnist)])
def test_full_data_test_split_is_the_bundled_one(name, loader):
    """The bundled test sets are byte for byte the test splits of the full files (and so of keras.datasets)."""
    (_, _), (x_test, y_test) = loader(download=False, fallback=False)
    bundled = TEST_LOADERS[name]()
    np.testing.assert_array_equal(x_test, bundled[0])
    np.testing.assert_array_equal(y_test, bundled[1])
