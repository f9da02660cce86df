import gzip
import warnings

import numpy as np
import pytest

import capsule_lesson.data as data
from capsule_lesson import DataFileError, SubsetWarning, load_fashion_mnist, load_mnist


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
def no_env(monkeypatch):
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    monkeypatch.delenv(data.OFFLINE_ENV, raising=False)


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


def test_offline_falls_back_to_subset_with_a_warning_that_names_it(no_env, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", data.BUNDLED_DIR / "absent")
    with pytest.warns(SubsetWarning, match=r"bundled MNIST SUBSET \(2,000 training and 1,000 test.*switched off"):
        (x_train, _), _ = load_mnist(download=False)
    assert len(x_train) == 2000
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    with pytest.warns(SubsetWarning, match="Fashion-MNIST SUBSET"):
        load_fashion_mnist()


def test_download_failure_is_reported_in_the_warning(no_env, monkeypatch):
    def offline(name):
        raise OSError("network is unreachable")

    monkeypatch.setattr(data, "_from_keras", offline)
    with pytest.warns(SubsetWarning, match="keras.datasets could not load it .*network is unreachable"):
        load_mnist()


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
def test_full_mnist_matches_its_documented_checks():
    try:
        (x_train, y_train), (x_test, y_test) = load_mnist(download=False)
    except DataFileError as error:
        pytest.skip(f"no full MNIST here: {error}")
    if len(x_train) != 60000:
        pytest.skip("full MNIST not available; set CAPSULE_LESSON_DATA")
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert abs(x_train.mean() / 255 - 0.1307) < 1e-3
