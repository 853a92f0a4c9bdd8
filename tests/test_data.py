"""MNIST loading, checksums and the data-folder resolution order."""
import gzip

import pytest
import torch

from nobptt.data import mnist, notmnist, paths
from nobptt.data.download import DataError, download, sha256_of


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


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """A search path with no data anywhere: NOBPTT_DATA unset, repo data/ and the cache in tmp_path."""
    monkeypatch.delenv(paths.ENV_VAR, raising=False)
    monkeypatch.setattr(paths, "REPO_DATA", tmp_path / "repo" / "data")
    monkeypatch.setattr(paths, "CACHE_DATA", tmp_path / "cache" / "data")
    (tmp_path / "repo" / "data").mkdir(parents=True)
    return tmp_path


def test_resolution_order(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.ENV_VAR, raising=False)
    assert paths.data_roots()[-1] == paths.CACHE_DATA
    assert paths.resolve_data_dir() in (paths.REPO_DATA, paths.CACHE_DATA)
    monkeypatch.setenv(paths.ENV_VAR, str(tmp_path / "env"))
    assert paths.resolve_data_dir() == tmp_path / "env"
    assert paths.resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert paths.data_roots(tmp_path / "arg")[:2] == (tmp_path / "arg", tmp_path / "env")
    monkeypatch.delenv(paths.ENV_VAR)
    monkeypatch.setattr(paths, "REPO_DATA", tmp_path / "no-such-checkout" / "data")
    assert paths.data_roots() == (paths.CACHE_DATA,)


def test_first_folder_that_has_the_file_wins(no_data, monkeypatch):
    """Issue 38: "The data folder is not a search path": each file comes from the first folder of
    task.data_dir, NOBPTT_DATA, repo data/, ~/.cache that has it, not from the first folder only."""
    arg, env, repo, cache = no_data / "arg", no_data / "env", paths.REPO_DATA, paths.CACHE_DATA
    monkeypatch.setenv(paths.ENV_VAR, str(env))
    roots = paths.data_roots(arg)
    assert roots == (arg, env, repo, cache)
    assert paths.find_file("mnist/a.gz", roots) is None
    for i, root in enumerate(reversed(roots)):
        (root / "mnist").mkdir(parents=True, exist_ok=True)
        (root / "mnist" / "a.gz").write_bytes(b"x")
        assert paths.find_file("mnist/a.gz", roots) == root / "mnist" / "a.gz"


def test_env_folder_without_mnist_falls_back_to_the_shipped_copy(tmp_path, monkeypatch):
    """Issue 38: "with NOBPTT_DATA pointing at a folder without MNIST the tool never falls back to the
    MNIST the repository ships, and it leaves an empty mnist/ there"."""
    if not (paths.REPO_DATA / "mnist" / mnist.FILES["test"][0]).is_file():
        pytest.skip("not a source checkout (no shipped data/mnist)")
    env = tmp_path / "env"
    (env / "ptb_word").mkdir(parents=True)
    monkeypatch.setenv(paths.ENV_VAR, str(env))
    for download_allowed in (False, True):
        mnist._load.cache_clear()
        images, labels = mnist.load_mnist("test", download=download_allowed)
        assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
        assert not (env / "mnist").exists()
    # an explicit folder without the file falls back the same way
    images, _ = mnist.load_mnist("test", data_dir=tmp_path / "arg", download=False)
    assert images.shape == (10000, 28, 28) and not (tmp_path / "arg").exists()


def test_failed_download_goes_to_the_first_writable_folder_and_leaves_no_empty_folder(no_data, monkeypatch):
    """Issue 38: offline, a failed download must leave no empty mnist/ in a folder that did not have it;
    the error names the missing file and how to provide it."""
    blocker = no_data / "a-file"
    blocker.write_text("not a folder")
    env = no_data / "env"
    env.mkdir()
    monkeypatch.setenv(paths.ENV_VAR, str(env))
    roots = paths.data_roots(blocker / "sub")  # explicit folder under a file: cannot be written
    assert paths.download_root("mnist/x.gz", roots) == env
    monkeypatch.setattr(mnist, "MIRRORS", ("http://127.0.0.1:9/",))
    mnist._load.cache_clear()
    with pytest.raises(DataError, match=r"(?s)could not download t10k-images-idx3-ubyte.gz.*NOBPTT_DATA"):
        mnist.load_mnist("test", data_dir=blocker / "sub", download=True)
    assert sorted(p.name for p in env.iterdir()) == []
    assert not (paths.REPO_DATA / "mnist").exists() and not paths.CACHE_DATA.exists()


def test_missing_file_without_download_names_the_path(no_data):
    with pytest.raises(DataError, match=r"mnist/train-images-idx3-ubyte.gz not found.*NOBPTT_DATA"):
        mnist.load_mnist("train", data_dir=no_data / "arg", download=False)
    assert not (no_data / "arg").exists() and not (paths.REPO_DATA / "mnist").exists()


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


def test_notmnist_sample_is_shipped_and_checked():
    """The sample ships in data/notmnist like MNIST: 10,000 images, 1,000 per letter A-J."""
    images, labels = notmnist.load_notmnist(download=False)
    assert images.shape == (10000, 28, 28) and images.dtype == torch.uint8
    assert torch.bincount(labels).tolist() == [1000] * 10
    assert (paths.REPO_DATA / "notmnist" / "LICENSE").is_file()
    for name, digest in notmnist.SHA256.items():
        assert sha256_of(paths.REPO_DATA / "notmnist" / name) == digest


def test_notmnist_missing_offline_names_the_folder_and_a_bad_copy_is_refused(no_data):
    with pytest.raises(DataError, match=r"notmnist/notmnist-small-10k-t10k-images-idx3-ubyte.gz not found"):
        notmnist.load_notmnist(download=False)
    bad = paths.REPO_DATA / "notmnist"
    bad.mkdir(parents=True)
    for name in notmnist.SHA256:
        (bad / name).write_bytes(b"not the sample")
    with pytest.raises(DataError, match="checksum mismatch"):
        notmnist.load_notmnist(download=False)
    assert all(url.startswith("https://raw.githubusercontent.com/davidflanagan/notMNIST-to-MNIST/")
               for urls in notmnist.URLS.values() for url in urls)
