"""Reader for the IDX format of MNIST and Fashion-MNIST, written with numpy.

Hand-written because neither Keras nor tensorflow-datasets reads IDX files from a local
folder: both only download. Every check failure raises :class:`DataError` with one line
naming the file, what was expected and what was found.
"""
import gzip
import hashlib
import os
import zlib

import numpy as np

from toolkit.errors import DataError

_UBYTE = 0x08


def read_bytes(path):
    """The file's payload, gunzipped when it is gzip-compressed (by magic, not by name)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc}); check the path and permissions") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"{path}: corrupt or truncated gzip data ({exc}); re-download or re-create the file"
            ) from None
    return raw


def parse_idx(payload, path, ndim, trailing_shape=None, md5=None):
    """Parse an unsigned-byte IDX payload into a uint8 array of ``ndim`` dimensions.

    ``trailing_shape`` (e.g. ``(28, 28)``) is checked against the header; ``md5`` is the
    expected checksum of the decompressed payload, if known.
    """
    header = 4 + 4 * ndim
    if len(payload) < 4:
        raise DataError(f"{path}: file of {len(payload)} bytes is too short for an IDX header; re-download it")
    if payload[0] != 0 or payload[1] != 0 or payload[2] != _UBYTE or payload[3] != ndim:
        raise DataError(
            f"{path}: bad IDX magic {payload[:4].hex()}, expected 000008{ndim:02x} "
            f"(unsigned bytes, {ndim} dimensions); is this the right file?"
        )
    if len(payload) < header:
        raise DataError(f"{path}: truncated IDX header ({len(payload)} of {header} bytes); re-download it")
    dims = tuple(int(d) for d in np.frombuffer(payload, dtype=">u4", count=ndim, offset=4))
    if trailing_shape is not None and dims[1:] != tuple(trailing_shape):
        raise DataError(f"{path}: header says items of shape {dims[1:]}, expected {tuple(trailing_shape)}")
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(payload) != expected:
        raise DataError(
            f"{path}: header {dims} needs {expected} bytes, file has {len(payload)}"
            f" ({'truncated' if len(payload) < expected else 'trailing data'}); re-download it"
        )
    if md5 is not None:
        found = hashlib.md5(payload).hexdigest()
        if found != md5:
            raise DataError(f"{path}: MD5 of the decompressed payload is {found}, expected {md5}; re-download it")
    return np.frombuffer(payload, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path, ndim, trailing_shape=None, md5=None):
    """Read an IDX file (raw or gzip) into a uint8 array; see :func:`parse_idx`."""
    return parse_idx(read_bytes(path), path, ndim, trailing_shape, md5)


def find_idx_file(folder, stem):
    """``folder/stem`` or ``folder/stem.gz``, whichever exists, else None."""
    for candidate in (stem, stem + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def load_idx_split(images_path, labels_path, image_shape, num_classes, md5=None):
    """Images (N, H, W, 1) and labels (N,) from a pair of IDX files, cross-checked."""
    md5 = md5 or {}
    stem = lambda p: os.path.basename(p).removesuffix(".gz")  # noqa: E731
    images = read_idx(images_path, 3, image_shape[:2], md5.get(stem(images_path)))
    labels = read_idx(labels_path, 1, (), md5.get(stem(labels_path)))
    if len(images) != len(labels):
        raise DataError(
            f"{images_path}: {len(images)} images but {labels_path} has {len(labels)} labels; "
            "the two files must come from the same release"
        )
    if labels.size and int(labels.max()) >= num_classes:
        raise DataError(f"{labels_path}: label {int(labels.max())} outside 0..{num_classes - 1}")
    return images[..., None], labels.astype(np.int64)
