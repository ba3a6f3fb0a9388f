"""Reader for the binary version of CIFAR-10, written with numpy.

Each record is one label byte then 1024 red, 1024 green and 1024 blue bytes (32x32,
row-major). Hand-written because Keras and tensorflow-datasets only download; and the
"python" version of CIFAR is a pickle, which this toolkit never loads (unpickling an
untrusted file runs its code). Reads loose ``*.bin`` files or the official
``cifar-10-binary.tar.gz`` without extracting it.

Memory is bounded by the format, never by the file: a batch's size is checked on disk (or
in its tar header) before it is read, and no more than that size plus one byte is read.
"""

import os
import tarfile
import zlib

import numpy as np

from toolkit.errors import DataError

RECORD = 1 + 32 * 32 * 3
#: The most bytes read from a batch whose record count the caller leaves open (about
#: 87,000 records; an official batch holds 10,000).
MAX_BATCH_BYTES = 256 * 1024 * 1024
#: Members a tarball may hold before it is refused (the official one has 8 files and a folder).
MAX_TAR_MEMBERS = 64


def parse_cifar_records(payload, path, num_classes=10, expected_records=None):
    """uint8 images (N, 32, 32, 3) and int64 labels from a CIFAR binary payload."""
    if len(payload) == 0 or len(payload) % RECORD:
        raise DataError(
            f"{path}: {len(payload)} bytes is not a whole number of {RECORD}-byte CIFAR records "
            "(truncated or not a CIFAR-10 binary file); re-download it"
        )
    count = len(payload) // RECORD
    if expected_records is not None and count != expected_records:
        raise DataError(f"{path}: {count} records, expected {expected_records}; re-download it")
    data = np.frombuffer(payload, dtype=np.uint8).reshape(count, RECORD)
    labels = data[:, 0].astype(np.int64)
    if labels.max() >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise DataError(f"{path}: record {bad} has label {int(labels[bad])}, outside 0..{num_classes - 1}")
    images = data[:, 1:].reshape(count, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _check_size(size, path, expected_records):
    """Refuse a batch of ``size`` bytes before reading it; the number of bytes to read."""
    if expected_records is None:
        if size > MAX_BATCH_BYTES:
            raise DataError(
                f"{path}: {size} bytes, over the {MAX_BATCH_BYTES}-byte limit for a CIFAR batch; "
                "is it a CIFAR-10 binary file?"
            )
        return size
    expected = expected_records * RECORD
    if size != expected:
        raise DataError(
            f"{path}: {size} bytes, expected {expected} ({expected_records} records of {RECORD} bytes); "
            f"{'truncated' if size < expected else 'too long'} or not a CIFAR-10 binary batch; re-download it"
        )
    return expected


def _read(path, expected_records=None):
    """The bytes of a batch file, its size checked on disk first."""
    try:
        with open(path, "rb") as fh:
            size = _check_size(os.fstat(fh.fileno()).st_size, path, expected_records)
            return fh.read(size + 1)  # one byte past the end: a file that grew is caught by the parser
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc}); check the path and permissions") from None


def load_cifar_folder(folder, names, records_per_file=10000):
    """Concatenate the named ``*.bin`` files of ``folder``."""
    parts = []
    for n in names:
        path = os.path.join(folder, n)
        parts.append(parse_cifar_records(_read(path, records_per_file), path, expected_records=records_per_file))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def load_cifar_tarball(path, train_names, test_names, records_per_file=10000):
    """Train and test arrays read straight from ``cifar-10-binary.tar.gz`` (no extraction)."""
    wanted = set(train_names) | set(test_names)
    found = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for count, member in enumerate(tar, 1):
                if count > MAX_TAR_MEMBERS:
                    raise DataError(
                        f"{path}: archive holds more than {MAX_TAR_MEMBERS} members (the CIFAR-10 "
                        "tarball has 9); is it the CIFAR-10 binary version?"
                    )
                base = os.path.basename(member.name)
                if member.isfile() and base in wanted:
                    # The member's size comes from its tar header: refused before any byte is read.
                    size = _check_size(member.size, f"{path}:{base}", records_per_file)
                    found[base] = tar.extractfile(member).read(size)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated tar.gz ({exc}); re-download it") from None
    missing = sorted(wanted - set(found))
    if missing:
        raise DataError(f"{path}: archive lacks {', '.join(missing)}; is it the CIFAR-10 *binary* version?")

    def take(names):
        parts = [parse_cifar_records(found[n], f"{path}:{n}", expected_records=records_per_file) for n in names]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    return take(train_names), take(test_names)
