"""MNIST loading, checksums and the data-folder resolution order."""
import gzip

import pytest
import torch

from nobptt.data import mnist, paths
from nobptt.data.download import DataError, download


def test_mnist_shapes_counts_and_statistics():
    images, labels = mnist.load_mnist("train")
    assert images.shape == (60000, 28, 28) and images.dtype == torch.uint8
    assert torch.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    pixels = images.float() / 255
    assert abs(pixels.mean().item() - mnist.MNIST_MEAN) < 1e-3
    assert abs(pixels.std().item() - mnist.MNIST_STD) < 1e-3
    test_images, test_labels = mnist.load_mnist("test")
    assert test_images.shape == (10000, 28, 28) and test_labels.shape == (10000,)


def test_bad_split_is_named():
    with pytest.raises(ValueError, match="'validation'"):
        mnist.load_mnist("validation")


def test_resolution_order(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.ENV_VAR, raising=False)
    assert paths.resolve_data_dir() in (paths.REPO_DATA, paths.CACHE_DATA)
    monkeypatch.setenv(paths.ENV_VAR, str(tmp_path / "env"))
    assert paths.resolve_data_dir() == tmp_path / "env"
    assert paths.resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert paths.find_dataset_dir("mnist", tmp_path) == tmp_path / "mnist"
    monkeypatch.delenv(paths.ENV_VAR)
    monkeypatch.setattr(paths, "REPO_DATA", tmp_path / "no-such-checkout" / "data")
    assert paths.resolve_data_dir() == paths.CACHE_DATA


def test_missing_file_without_download_names_the_path(tmp_path):
    with pytest.raises(DataError, match=r"mnist/train-images-idx3-ubyte.gz not found.*NOBPTT_DATA"):
        mnist.load_mnist("train", data_dir=tmp_path, download=False)


def test_corrupt_file_names_the_file(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in mnist.FILES["test"]:
        with gzip.open(folder / name, "wb") as handle:
            handle.write(b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: checksum mismatch"):
        mnist.load_mnist("test", data_dir=tmp_path, download=False)


def test_read_idx_rejects_bad_magic_and_truncation(tmp_path):
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DataError, match="bad.idx: not an idx file"):
        mnist.read_idx(bad)
    short = tmp_path / "short.idx"
    short.write_bytes(b"\x00\x00\x08\x01" + (10).to_bytes(4, "big") + b"abc")
    with pytest.raises(DataError, match="short.idx: truncated"):
        mnist.read_idx(short)
    garbled = tmp_path / "garbled.idx.gz"
    body = gzip.compress(bytes(range(256)) * 8)
    for cut in (body[:10] + b"\xff" * (len(body) - 10), body[:-20]):  # zlib.error, then EOFError
        garbled.write_bytes(cut)
        with pytest.raises(DataError, match="garbled.idx.gz: cannot read"):
            mnist.read_idx(garbled)
    good = tmp_path / "good.idx"
    good.write_bytes(b"\x00\x00\x08\x02" + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(range(6)))
    assert mnist.read_idx(good).tolist() == [[0, 1, 2], [3, 4, 5]]


def test_download_offline_gives_a_clear_error_and_leaves_nothing(tmp_path):
    dest = tmp_path / "x" / "file.gz"
    with pytest.raises(DataError, match=r"(?s)could not download file.gz.*127.0.0.1.*NOBPTT_DATA"):
        download(["http://127.0.0.1:9/file.gz"], dest, "0" * 64, timeout=2)
    assert not dest.exists() and not list(dest.parent.glob("*.part"))


def test_notmnist_sample_when_available():
    try:
        images, labels = mnist.load_notmnist_sample(download=False)
    except DataError as err:
        if "not found" not in str(err):
            raise
        pytest.skip("notMNIST sample not in the data folder (it is not shipped; CI's NOBPTT_DATA has it)")
    assert images.shape == (10000, 28, 28) and images.dtype == torch.uint8
    assert torch.bincount(labels).tolist() == [1000] * 10
