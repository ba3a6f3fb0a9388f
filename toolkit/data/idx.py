"""Reader for the IDX format of MNIST and Fashion-MNIST, written with numpy.

Hand-written because neither Keras nor tensorflow-datasets reads IDX files from a local
folder: both only download. Every check failure raises :class:`DataError` with one line
naming the file, what was expected and what was found.

Memory is bounded by what the header promises, never by the file: the header is read and
checked first (magic, dimensions, the item shape the caller expects, and at most
:data:`MAX_IDX_BYTES` of data), then exactly that many bytes are streamed in (gunzipped on
the fly) and one more is asked for, so a gzip bomb or a huge file stops at the first byte
past the promised end.
"""

import gzip
import hashlib
import math
import os
import struct
import zlib

import numpy as np

from toolkit.errors import DataError

_UBYTE = 0x08

#: The most data bytes an IDX header may promise: over 5x the largest MNIST file (47 MB).
MAX_IDX_BYTES = 256 * 1024 * 1024
_CHUNK = 1 << 20


def _header(head, path, ndim, trailing_shape=None, max_bytes=MAX_IDX_BYTES):
    """Check the first bytes of an IDX file; (header length, dims, expected total length).

    ``head`` holds the first ``4 + 4 * ndim`` bytes, or all of the file when it is shorter.
    """
    header = 4 + 4 * ndim
    if len(head) < 4:
        raise DataError(f"{path}: file of {len(head)} bytes is too short for an IDX header; re-download it")
    if head[0] != 0 or head[1] != 0 or head[2] != _UBYTE or head[3] != ndim:
        raise DataError(
            f"{path}: bad IDX magic {bytes(head[:4]).hex()}, expected 000008{ndim:02x} "
            f"(unsigned bytes, {ndim} dimensions); is this the right file?"
        )
    if len(head) < header:
        raise DataError(f"{path}: truncated IDX header ({len(head)} of {header} bytes); re-download it")
    dims = struct.unpack(f">{ndim}I", bytes(head[4:header]))
    if trailing_shape is not None and dims[1:] != tuple(trailing_shape):
        raise DataError(f"{path}: header says items of shape {dims[1:]}, expected {tuple(trailing_shape)}")
    size = math.prod(dims)
    if size > max_bytes:
        raise DataError(
            f"{path}: header {dims} promises {size} bytes of data, over the {max_bytes}-byte limit "
            "of this reader (MNIST's largest file holds 47,040,000); is this the right file?"
        )
    return header, dims, header + size


def _length_error(path, dims, expected, found):
    """``found`` is the length read, or None when the file goes on past ``expected``."""
    if found is None:
        has, why = "more", "trailing data"
    else:
        has, why = str(found), "truncated" if found < expected else "trailing data"
    return DataError(f"{path}: header {dims} needs {expected} bytes, file has {has} ({why}); re-download it")


def _open(path):
    """(binary file, gzipped) for ``path``; gzip is detected by magic, not by name."""
    try:
        fh = open(path, "rb")
        gzipped = fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc}); check the path and permissions") from None
    return fh, gzipped


class _Stream:
    """Reads from a raw or gzip file, turning every read failure into a one-line DataError."""

    def __init__(self, path):
        self.path = path
        self.raw, self.gzipped = _open(path)
        self.stream = gzip.GzipFile(fileobj=self.raw, mode="rb") if self.gzipped else self.raw

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.gzipped:
            self.stream.close()
        self.raw.close()

    def disk_size(self):
        return os.fstat(self.raw.fileno()).st_size

    def _failed(self, exc):
        if self.gzipped and isinstance(exc, (OSError, EOFError, zlib.error)):
            return DataError(f"{self.path}: corrupt or truncated gzip data ({exc}); re-download or re-create the file")
        return DataError(
            f"{self.path}: cannot read ({getattr(exc, 'strerror', None) or exc}); check the path and permissions"
        )

    def read(self, n):
        """Up to ``n`` bytes; fewer only at the end of the data."""
        parts, got = [], 0
        try:
            while got < n:
                part = self.stream.read(min(n - got, _CHUNK))
                if not part:
                    break
                parts.append(part)
                got += len(part)
        except (OSError, EOFError, zlib.error) as exc:
            raise self._failed(exc) from None
        return b"".join(parts)

    def readinto(self, buffer):
        """Fill ``buffer`` (a uint8 array) chunk by chunk; the number of bytes read."""
        view, got = memoryview(buffer), 0
        try:
            while got < len(view):
                n = self.stream.readinto(view[got : got + _CHUNK])
                if not n:
                    break
                got += n
        except (OSError, EOFError, zlib.error) as exc:
            raise self._failed(exc) from None
        return got


def read_bytes(path, max_bytes=MAX_IDX_BYTES + 64):
    """The file's payload, gunzipped when it is gzip-compressed (by magic, not by name).

    At most ``max_bytes`` are read: a longer payload (say a gzip bomb) is a DataError.
    """
    with _Stream(path) as stream:
        payload = stream.read(max_bytes + 1)
    if len(payload) > max_bytes:
        raise DataError(f"{path}: payload is over the {max_bytes}-byte limit of this reader; is this the right file?")
    return payload


def parse_idx(payload, path, ndim, trailing_shape=None, md5=None):
    """Parse an unsigned-byte IDX payload into a uint8 array of ``ndim`` dimensions.

    ``trailing_shape`` (e.g. ``(28, 28)``) is checked against the header; ``md5`` is the
    expected checksum of the decompressed payload, if known.
    """
    header, dims, expected = _header(payload[: 4 + 4 * ndim], path, ndim, trailing_shape)
    if len(payload) != expected:
        raise _length_error(path, dims, expected, len(payload))
    if md5 is not None:
        found = hashlib.md5(payload).hexdigest()
        if found != md5:
            raise DataError(f"{path}: MD5 of the decompressed payload is {found}, expected {md5}; re-download it")
    return np.frombuffer(payload, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path, ndim, trailing_shape=None, md5=None, max_bytes=MAX_IDX_BYTES):
    """Read an IDX file (raw or gzip) into a uint8 array; see :func:`parse_idx`.

    Streams: the header is checked before any data is read, a raw file's size is checked
    on disk, and no more than the header's length plus one byte is ever decompressed.
    """
    with _Stream(path) as stream:
        head = stream.read(4 + 4 * ndim)
        header, dims, expected = _header(head, path, ndim, trailing_shape, max_bytes)
        if not stream.gzipped and stream.disk_size() != expected:
            raise _length_error(path, dims, expected, stream.disk_size())
        payload = np.empty(expected, np.uint8)  # pages are only touched as data arrives
        payload[:header] = np.frombuffer(head, np.uint8)
        got = header + stream.readinto(payload[header:])
        if got < expected:
            raise _length_error(path, dims, expected, got)
        if stream.read(1):
            raise _length_error(path, dims, expected, None)
    if md5 is not None:
        found = hashlib.md5(payload).hexdigest()
        if found != md5:
            raise DataError(f"{path}: MD5 of the decompressed payload is {found}, expected {md5}; re-download it")
    return payload[header:].reshape(dims)


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
