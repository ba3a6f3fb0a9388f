"""Your own data: a folder of images in class sub-folders, or an ``.npz`` of arrays.

**A folder** (the layout of ``keras.utils.image_dataset_from_directory``), either

- ``root/train/<class>/*.png`` and ``root/test/<class>/*.png`` (the split is yours; both
  must have the same class folders), or
- ``root/<class>/*.png``: then a stratified, seeded ``test_fraction`` of each class
  (default 0.2) is the test split.

Class names are the sub-folder names in sorted order (label ``i`` is the ``i``-th name, as
in Keras). Images are read with Pillow (``.png .jpg .jpeg .bmp .gif .tif .tiff .webp``,
other files ignored); the first image's mode decides the channels: grayscale images give
``(H, W, 1)``, anything else ``(H, W, 3)`` (every image is converted to that mode). All
images must have the first one's size, unless ``image_size=(height, width)`` resizes each
(bilinear). Out: uint8 ``(N, H, W, C)``, int64 labels, as every dataset of the toolkit.

**An .npz** with ``x_train``, ``y_train``, ``x_test``, ``y_test`` (and optionally
``class_names``), read with ``allow_pickle=False``: ``x_*`` uint8 ``(N, H, W)`` or
``(N, H, W, C)`` of one image shape, ``y_*`` 1-D integer labels in ``0 … classes-1`` (the
number of ``class_names``, else the largest label + 1), one per image.

:func:`describe_path` reads only what it needs for shapes and sizes (the ``.npz``
headers; one image and a file count for a folder): what ``dataset_info`` and the run's
memory estimate use. Every failure is a one-line ``DataError`` naming the path.
"""

import os
import zipfile

import numpy as np

from toolkit.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
DEFAULT_TEST_FRACTION = 0.2


def is_dataset_path(name):
    """Whether ``name`` names a dataset on disk (an existing folder or ``.npz`` file) rather
    than one of the toolkit's dataset names."""
    if not isinstance(name, (str, os.PathLike)):
        return False
    path = os.path.expanduser(os.fspath(name))
    return os.path.isdir(path) or (path.lower().endswith(".npz") and os.path.isfile(path))


def looks_like_path(name):
    """Whether ``name`` is written as a path (has a separator or ends in ``.npz``)."""
    text = os.fspath(name) if isinstance(name, (str, os.PathLike)) else ""
    return os.sep in text or "/" in text or text.lower().endswith(".npz") or text.startswith("~")


def dataset_name(path):
    base = os.path.basename(os.path.normpath(os.path.expanduser(os.fspath(path))))
    return base[:-4] if base.lower().endswith(".npz") else base


# ---------------------------------------------------------------------------- folders
def _class_folders(folder):
    try:
        names = sorted(
            d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)) and not d.startswith(".")
        )
    except OSError as exc:
        raise DataError(f"{folder}: cannot list it ({exc.strerror})") from None
    return names


def _images(folder):
    return sorted(
        os.path.join(folder, f)
        for f in os.listdir(folder)
        if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, f))
    )


def _layout(root):
    """``(classes, {"train": [(path, label)], "test": [...]} or {"all": [...]})``."""
    if not os.path.isdir(root):
        raise DataError(f"{root}: not a folder of images (root/<class>/ or root/train|test/<class>/)")
    top = _class_folders(root)
    if "train" in top and "test" in top:
        splits = {}
        classes = _class_folders(os.path.join(root, "train"))
        test_classes = _class_folders(os.path.join(root, "test"))
        if classes != test_classes:
            raise DataError(
                f"{root}: train/ and test/ must have the same class folders; received {classes} and {test_classes}"
            )
        for split in ("train", "test"):
            splits[split] = [
                (path, label) for label, c in enumerate(classes) for path in _images(os.path.join(root, split, c))
            ]
    else:
        classes = top
        splits = {"all": [(path, label) for label, c in enumerate(classes) for path in _images(os.path.join(root, c))]}
    if not classes:
        raise DataError(f"{root}: no class folders; expected root/<class>/*.png or root/train|test/<class>/*.png")
    for split, items in splits.items():
        if not items:
            where = root if split == "all" else os.path.join(root, split)
            raise DataError(f"{where}: no images ({', '.join(IMAGE_EXTENSIONS)}) in its class folders {classes}")
    return tuple(classes), splits


def _split_all(items, test_fraction, seed):
    """A stratified, seeded split of ``items`` (path, label): at least one test image per class
    with two or more images."""
    if not 0.0 < float(test_fraction) < 1.0:
        raise DataError(f"test_fraction must be in (0, 1); received {test_fraction!r}")
    rng = np.random.default_rng(seed)
    labels = np.array([label for _, label in items])
    test = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        rng.shuffle(members)
        k = int(round(len(members) * test_fraction))
        if len(members) > 1:
            k = min(max(k, 1), len(members) - 1)
        test.extend(members[:k].tolist())
    test = set(test)
    return [it for i, it in enumerate(items) if i not in test], [it for i, it in enumerate(items) if i in test]


def _open(path):
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path}: not a readable image ({type(exc).__name__})") from None


def _mode_of(image):
    return "L" if image.mode in ("1", "L", "LA", "I", "I;16", "F") else "RGB"


def _read_images(items, mode, size, resize, what):
    """uint8 (N, H, W, C) from (path, label) items; every image checked against ``size``."""
    from PIL import Image

    h, w = size
    channels = 1 if mode == "L" else 3
    x = np.empty((len(items), h, w, channels), np.uint8)
    y = np.empty(len(items), np.int64)
    for i, (path, label) in enumerate(items):
        with _open(path) as image:
            if image.size != (w, h):
                if not resize:
                    raise DataError(
                        f"{path}: {image.size[1]}x{image.size[0]} pixels, but the {what} images are {h}x{w}; "
                        "pass image_size=(height, width) to resize every image"
                    )
                image = image.resize((w, h), Image.BILINEAR)
            try:
                pixels = np.asarray(image.convert(mode), dtype=np.uint8)
            except OSError as exc:
                raise DataError(f"{path}: truncated or corrupt image ({exc})") from None
        x[i] = pixels.reshape(h, w, channels)
        y[i] = label
    return x, y


def _first_image(items):
    with _open(items[0][0]) as image:
        return _mode_of(image), (image.size[1], image.size[0])


def _check_image_size(image_size):
    if image_size is None:
        return None
    try:
        h, w = (int(v) for v in image_size)
    except (TypeError, ValueError):
        h = w = 0
    if h < 1 or w < 1 or tuple(image_size) != (h, w):
        raise DataError(f"image_size must be (height, width) positive ints; received {image_size!r}")
    return h, w


def _folder_items(root, image_size, test_fraction, seed):
    """``(size, classes, train_items, test_items, mode)`` of a folder: its layout resolved, the
    split made, the first image read for its mode and (unless ``image_size``) its size."""
    root = os.path.abspath(os.path.expanduser(os.fspath(root)))
    size = _check_image_size(image_size)
    classes, splits = _layout(root)
    if "all" in splits:
        train_items, test_items = _split_all(splits["all"], test_fraction, seed)
    else:
        train_items, test_items = splits["train"], splits["test"]
    mode, first_size = _first_image(train_items)
    return size or first_size, classes, train_items, test_items, mode


def load_image_folder(root, image_size=None, test_fraction=DEFAULT_TEST_FRACTION, seed=0):
    """``((x_train, y_train), (x_test, y_test), class_names)`` from a folder of images."""
    size, classes, train_items, test_items, mode = _folder_items(root, image_size, test_fraction, seed)
    resize = image_size is not None
    train = _read_images(train_items, mode, size, resize, "first")
    test = _read_images(test_items, mode, size, resize, "first") if test_items else _empty(size, mode)
    return train, test, classes


def _empty(size, mode):
    return np.empty((0, *size, 1 if mode == "L" else 3), np.uint8), np.empty(0, np.int64)


def describe_folder(root, image_size=None, test_fraction=DEFAULT_TEST_FRACTION, seed=0):
    """``(image_shape, class_names, train_size, test_size)`` from file counts and one image."""
    (h, w), classes, train_items, test_items, mode = _folder_items(root, image_size, test_fraction, seed)
    return (h, w, 1 if mode == "L" else 3), classes, len(train_items), len(test_items)


# ---------------------------------------------------------------------------- .npz
def _npz_headers(path):
    """``{key: (shape, dtype)}`` of an ``.npz`` from its members' headers (no pixels read)."""
    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                with archive.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                headers[member[:-4]] = (tuple(shape), np.dtype(dtype))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable .npz ({exc})") from None
    return headers


def _check_npz_shapes(path, headers):
    missing = [k for k in NPZ_KEYS if k not in headers]
    if missing:
        raise DataError(f"{path}: missing {', '.join(missing)}; an .npz dataset holds {', '.join(NPZ_KEYS)}")
    shapes = {}
    for split in ("train", "test"):
        (xs, xd), (ys, yd) = headers[f"x_{split}"], headers[f"y_{split}"]
        if xd != np.uint8 or len(xs) not in (3, 4) or (len(xs) == 4 and xs[3] not in (1, 3, 4)):
            raise DataError(
                f"{path}: x_{split} must be uint8 (N, H, W) or (N, H, W, C) images (C 1, 3 or 4); received {xd} {xs}"
            )
        if len(ys) != 1 or ys[0] != xs[0] or yd.kind not in "iu":
            raise DataError(
                f"{path}: y_{split} must be 1-D integer labels, one per image ({xs[0]}); received {yd} {ys}"
            )
        shapes[split] = tuple(xs[1:]) + ((1,) if len(xs) == 3 else ())
    if shapes["train"] != shapes["test"]:
        raise DataError(f"{path}: x_train images are {shapes['train']} but x_test images {shapes['test']}")
    if "class_names" in headers:
        cs, cd = headers["class_names"]
        if len(cs) != 1 or cd.kind not in "U":
            raise DataError(f"{path}: class_names must be a 1-D array of strings; received {cd} {cs}")
    return shapes["train"], headers["x_train"][0][0], headers["x_test"][0][0]


def describe_npz(path):
    """``(image_shape, class_names or None, train_size, test_size)`` from the headers alone."""
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    shape, n_train, n_test = _check_npz_shapes(path, _npz_headers(path))
    classes = _npz_classes(path, lambda data: [data["y_train"], data["y_test"]])
    return shape, classes, int(n_train), int(n_test)


def _npz_classes(path, labels_of):
    """The class names of an ``.npz``: its ``class_names``, else ``0 … max label``; labels checked.
    Reads the labels and names only (a member of the archive is read on access)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            labels = np.concatenate([np.asarray(y).ravel() for y in labels_of(data)])
            names = data["class_names"] if "class_names" in data.files else None
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz ({exc})") from None
    if labels.size and labels.min() < 0:
        raise DataError(f"{path}: labels must be >= 0; received {int(labels.min())}")
    top = int(labels.max()) + 1 if labels.size else 0
    if names is None:
        return tuple(str(c) for c in range(top))
    classes = tuple(str(n) for n in names)
    if top > len(classes):
        raise DataError(f"{path}: labels must be in 0..{len(classes) - 1} (class_names); received {top - 1}")
    return classes


def load_npz(path):
    """``((x_train, y_train), (x_test, y_test), class_names)`` from an ``.npz``, checked."""
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    shape, _, _ = _check_npz_shapes(path, _npz_headers(path))
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in NPZ_KEYS}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz ({exc})") from None
    classes = _npz_classes(path, lambda data: [arrays["y_train"], arrays["y_test"]])
    out = []
    for split in ("train", "test"):
        x = arrays[f"x_{split}"].reshape((-1, *shape))
        out.append((x, arrays[f"y_{split}"].astype(np.int64)))
    return out[0], out[1], classes


def load_path(path, image_size=None, test_fraction=DEFAULT_TEST_FRACTION, seed=0):
    """A folder or ``.npz`` → ``((x_train, y_train), (x_test, y_test), class_names)``."""
    text = os.path.expanduser(os.fspath(path))
    if os.path.isdir(text):
        return load_image_folder(text, image_size=image_size, test_fraction=test_fraction, seed=seed)
    if text.lower().endswith(".npz") and os.path.isfile(text):
        if image_size is not None:
            raise DataError(f"{text}: image_size resizes a folder's images; an .npz is read as it is")
        return load_npz(text)
    raise DataError(f"{text}: no such folder or .npz file")


def describe_path(path, image_size=None, test_fraction=DEFAULT_TEST_FRACTION, seed=0):
    """``(image_shape, class_names or None, train_size, test_size)`` without loading the pixels."""
    text = os.path.expanduser(os.fspath(path))
    if os.path.isdir(text):
        return describe_folder(text, image_size=image_size, test_fraction=test_fraction, seed=seed)
    if text.lower().endswith(".npz") and os.path.isfile(text):
        return describe_npz(text)
    raise DataError(f"{text}: no such folder or .npz file")
