"""Your own data: folders of images, .npz files, Debian's Fashion-MNIST, `--set dataset=PATH`."""

import os

import numpy as np
import pytest
from PIL import Image

from tests.test_data import write_idx_set
from toolkit.data import dataset_info, load_dataset
from toolkit.errors import DataError, ToolkitError


def _write_images(folder, classes, per_class, size=(6, 5), mode="L", seed=0):
    """``folder/<class>/<i>.png`` with known pixels; returns {path: array}."""
    rng = np.random.default_rng(seed)
    written = {}
    for c in classes:
        os.makedirs(folder / c, exist_ok=True)
        for i in range(per_class):
            shape = (size[0], size[1]) if mode == "L" else (size[0], size[1], 3)
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            path = folder / c / f"{i}.png"
            Image.fromarray(pixels, mode).save(path)
            written[str(path)] = pixels
    (folder / classes[0] / "notes.txt").write_text("not an image")  # ignored
    return written


def test_folder_with_train_and_test_splits(tmp_path):
    root = tmp_path / "pets"
    train = _write_images(root / "train", ["cat", "dog"], 3, mode="RGB")
    _write_images(root / "test", ["cat", "dog"], 2, mode="RGB", seed=1)
    ds = load_dataset(str(root))
    assert ds.name == "pets" and ds.class_names == ("cat", "dog") and ds.source == str(root)
    assert ds.x_train.shape == (6, 6, 5, 3) and ds.x_train.dtype == np.uint8 and ds.x_test.shape == (4, 6, 5, 3)
    assert ds.y_train.tolist() == [0, 0, 0, 1, 1, 1] and ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(ds.x_train[3], train[str(root / "train" / "dog" / "0.png")])
    info = dataset_info(str(root))
    assert (info.image_shape, info.class_names, info.train_size, info.test_size) == ((6, 5, 3), ("cat", "dog"), 6, 4)


def test_single_tree_is_split_by_a_seeded_stratified_fraction(tmp_path):
    root = tmp_path / "digits"
    _write_images(root, ["a", "b", "c"], 10)
    ds = load_dataset(str(root), test_fraction=0.3, seed=1)
    assert ds.x_train.shape == (21, 6, 5, 1) and ds.x_test.shape == (9, 6, 5, 1)
    assert np.bincount(ds.y_test).tolist() == [3, 3, 3]
    again = load_dataset(str(root), test_fraction=0.3, seed=1)
    np.testing.assert_array_equal(ds.x_test, again.x_test)
    info = dataset_info(str(root))  # default fraction 0.2
    assert (info.train_size, info.test_size, info.image_shape) == (24, 6, (6, 5, 1))


def test_mixed_sizes_need_image_size(tmp_path):
    root = tmp_path / "mixed"
    _write_images(root, ["a", "b"], 2)
    Image.fromarray(np.zeros((9, 9), np.uint8), "L").save(root / "b" / "big.png")
    with pytest.raises(DataError, match=r"big.png: 9x9 pixels, but the first images are 6x5; pass image_size"):
        load_dataset(str(root), test_fraction=0.5)
    ds = load_dataset(str(root), image_size=(4, 4), test_fraction=0.5)
    assert ds.x_train.shape[1:] == (4, 4, 1) and len(ds.x_train) + len(ds.x_test) == 5


@pytest.mark.parametrize(
    "make, text",
    [
        (lambda root: root.mkdir(), "no class folders"),
        (lambda root: (root / "a").mkdir(parents=True), "no images"),
        (lambda root: (root / "a").mkdir(parents=True) or (root / "a" / "x.png").write_bytes(b"junk"), "x.png: not a"),
        (
            lambda root: [_write_images(root / "train", ["a", "b"], 1), _write_images(root / "test", ["a"], 1)],
            "same class folders",
        ),
    ],
)
def test_bad_folders_are_one_line_data_errors(tmp_path, make, text):
    root = tmp_path / "bad"
    make(root)
    with pytest.raises(DataError) as info:
        load_dataset(str(root))
    assert text in str(info.value) and "\n" not in str(info.value)


def _npz(path, **overrides):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (12, 8, 8), dtype=np.uint8),
        "y_train": np.arange(12) % 3,
        "x_test": rng.integers(0, 256, (6, 8, 8), dtype=np.uint8),
        "y_test": np.arange(6) % 3,
    }
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return arrays


def test_npz_dataset_and_its_info_from_headers(tmp_path):
    path = tmp_path / "mine.npz"
    arrays = _npz(path, class_names=np.array(["x", "y", "z"]))
    ds = load_dataset(str(path), limit=6)
    assert ds.name == "mine" and ds.class_names == ("x", "y", "z") and ds.x_train.shape == (6, 8, 8, 1)
    assert np.bincount(ds.y_train).tolist() == [2, 2, 2]
    np.testing.assert_array_equal(load_dataset(str(path)).x_test[..., 0], arrays["x_test"])
    info = dataset_info(str(path))
    assert (info.image_shape, info.train_size, info.test_size, info.num_classes) == ((8, 8, 1), 12, 6, 3)


@pytest.mark.parametrize(
    "overrides, text",
    [
        ({"y_test": None}, "missing y_test"),
        ({"x_train": np.zeros((12, 8, 8), np.float32)}, "x_train must be uint8"),
        ({"y_train": np.arange(11)}, "y_train must be 1-D integer labels, one per image (12)"),
        ({"y_train": np.full(12, 0.5)}, "y_train must be 1-D integer labels"),
        ({"x_test": np.zeros((6, 4, 4), np.uint8)}, "x_train images are (8, 8, 1) but x_test images (4, 4, 1)"),
        ({"y_test": -np.ones(6, int)}, "labels must be >= 0"),
        ({"class_names": np.array(["a", "b"])}, "labels must be in 0..1 (class_names); received 2"),
        ({"x_train": np.array([{"a": 1}] * 12, dtype=object)}, "x_train must be uint8"),
    ],
)
def test_bad_npz_files_are_one_line_data_errors(tmp_path, overrides, text):
    path = tmp_path / "bad.npz"
    if "x_train" in overrides and overrides["x_train"].dtype == object:  # a pickled member
        np.savez(
            path,
            x_train=overrides["x_train"],
            y_train=np.arange(12),
            x_test=np.zeros((6, 8, 8), np.uint8),
            y_test=np.arange(6),
        )
    else:
        _npz(path, **overrides)
    with pytest.raises(DataError) as info:
        load_dataset(str(path))
    assert text in str(info.value) and "\n" not in str(info.value)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="junk.npz: not a readable .npz"):
        dataset_info(str(tmp_path / "junk.npz"))


def test_missing_paths_and_names(tmp_path):
    with pytest.raises(DataError, match="no such folder or .npz file"):
        load_dataset(str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="no such folder or .npz file"):
        dataset_info(str(tmp_path / "nowhere.npz"))
    with pytest.raises(ToolkitError, match="unknown dataset 'mnsit'"):
        dataset_info("mnsit")


def test_debian_fashion_mnist_is_found_without_a_data_folder(tmp_path, monkeypatch):
    import toolkit.data as data

    write_idx_set(tmp_path / "debian")
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", str(tmp_path / "debian"))
    monkeypatch.delenv("TOOLKIT_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "DEFAULT_DATA_DIR", str(tmp_path / "does-not-exist"))
    ds = load_dataset("fashion_mnist", allow_download=False)
    assert ds.source == str(tmp_path / "debian") and ds.x_train.shape == (20, 28, 28, 1)


def test_run_spec_and_memory_estimate_take_a_path(tmp_path):
    from toolkit.resources import estimate_data_memory
    from toolkit.runs.spec import _dataset_check

    path = tmp_path / "mine.npz"
    _npz(path)
    _dataset_check("dataset", str(path))
    _write_images(tmp_path / "imgs", ["a", "b"], 5)
    _dataset_check("dataset", str(tmp_path / "imgs"))
    with pytest.raises(ToolkitError, match="no such folder or .npz file"):
        _dataset_check("dataset", str(tmp_path / "missing.npz"))
    assert estimate_data_memory({"dataset": str(path)}) == 18 * 64 * (1 + 4)
    assert estimate_data_memory({"dataset": str(tmp_path / "imgs"), "limit": 3}) == (3 + 2) * 30 * (1 + 4)
