"""Atomic file writing: a temporary file in the same folder, then ``os.replace``.

A run killed at any moment leaves either the old file or the new one, never half a file.
Whatever goes wrong while writing (a full disk, a read-only file system, Ctrl-C), the
temporary file is removed. A disk or permission failure (``ENOSPC``, ``EDQUOT``, ``EFBIG``,
``EROFS``, ``EACCES``, ``EPERM``) becomes a one-line :class:`WriteError` naming the file,
the folder's file system and its free space; any other error passes through unchanged.
Files get the permissions the process's umask gives (``0644`` for the usual ``022``), not
``mkstemp``'s private ``0600``.
"""

import contextlib
import errno
import json
import os
import shutil
import tempfile
import threading

from toolkit.errors import RunError

#: errno values that mean "this file cannot be written here", not a bug
WRITE_ERRNOS = {
    errno.ENOSPC: "no space left",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for the file system",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class WriteError(RunError):
    """A file that could not be written for a reason outside the program: ``errno`` and
    ``path`` say which (one line, like every :class:`~toolkit.errors.ToolkitError`)."""

    def __init__(self, message, errno_=None, path=None):
        super().__init__(message)
        self.errno = errno_
        self.path = path

    @property
    def no_space(self):
        return self.errno in NO_SPACE


def write_oserror(exc):
    """The first ``OSError`` with a :data:`WRITE_ERRNOS` errno in ``exc``'s chain (itself,
    its cause, its context), or ``None``: libraries such as h5py wrap the original."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, WriteError):
            return exc
        if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _mount_point(path):
    path = os.path.abspath(path)
    while not os.path.ismount(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def _human(n):
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def free_bytes(path):
    """Free bytes on the file system holding ``path`` (its nearest existing parent), or ``None``."""
    path = os.path.abspath(os.fspath(path))
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def describe_write_error(exc, path=None):
    """A one-line :class:`WriteError` for ``exc`` (an ``OSError`` of :data:`WRITE_ERRNOS`)
    while writing ``path`` (default: the error's own file name)."""
    if isinstance(exc, WriteError):
        return exc
    path = os.fspath(path or exc.filename or _named_file(exc) or "a file")
    target = os.path.abspath(path)
    if exc.errno in NO_SPACE:
        free = free_bytes(target)
        where = _mount_point(os.path.dirname(target))
        left = f" ({_human(free)} free)" if free is not None else ""
        message = f"{WRITE_ERRNOS[exc.errno]} on {where}{left} while writing {path}; free space"
    elif exc.errno == errno.EROFS:
        message = f"cannot write {path}: {_mount_point(os.path.dirname(target))} is a read-only file system"
    else:
        message = f"cannot write {path}: {WRITE_ERRNOS.get(exc.errno, exc.strerror or exc)}"
    return WriteError(message, exc.errno, path)


def _named_file(exc):
    """The file named in the text of ``exc`` (HDF5 says ``filename = '...'``), or ``None``."""
    import re

    found = re.search(r"filename = '([^']+)'", str(exc))
    return found.group(1) if found else None


_UMASK_LOCK = threading.Lock()


def current_umask():
    """The process's umask, read without changing it where Linux allows (``/proc``); else
    by setting and restoring it under a lock (the only portable way)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode():
    """The mode a new file gets from ``open()``: ``0o666`` less the umask."""
    return 0o666 & ~current_umask()


TEMP_PREFIX = ".partial-"  # an atomic write's temporary file, beside its target, until the rename


def _temp_name(folder, name):
    """A fresh hidden name beside the target that ends like it (``.keras``,
    ``.weights.h5``: libraries that check the suffix accept it)."""
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=f"-{name}", dir=folder)
    os.close(fd)
    return tmp


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path`` (ending in ``path``'s own name); on success
    give it the umask's permissions and rename it onto ``path``. On any exception the
    temporary file is removed; disk and permission failures become :class:`WriteError`.

    Example:
        >>> import os, tempfile
        >>> target = os.path.join(tempfile.mkdtemp(), "x.txt")
        >>> with atomic_path(target) as tmp:
        ...     _ = open(tmp, "w").write("done")
        >>> open(target).read()
        'done'
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        tmp = _temp_name(folder, os.path.basename(path))
        yield tmp
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno in WRITE_ERRNOS:
            raise describe_write_error(exc, path) from exc
        raise
    finally:
        if tmp is not None:
            try:
                os.remove(tmp)
            except OSError:
                pass  # renamed (the usual case), or never made


def write_text(path, text):
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)


def write_bytes(path, data):
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


def _jsonable(value):
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def json_text(data, indent=2):
    """``data`` (numpy scalars and arrays allowed) as JSON text ending in a newline."""
    return json.dumps(_jsonable(data), indent=indent, sort_keys=True) + "\n"


def write_json(path, data):
    """Write ``data`` (numpy scalars and arrays allowed) as indented JSON, atomically."""
    write_text(path, json_text(data))


def rewrite_in_place(path, data):
    """Overwrite the start of the existing file ``path`` with ``data`` padded with spaces to
    the file's size, without allocating (no temporary file, no new blocks on a file system
    that rewrites in place): what a full disk still allows. ``ValueError`` when ``data`` is
    longer than the file."""
    size = os.path.getsize(path)
    if len(data) >= size:
        raise ValueError(f"{len(data)} bytes do not fit in {path} ({size} bytes)")
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data.ljust(size - 1, b" ") + b"\n", 0)
        os.fsync(fd)
    finally:
        os.close(fd)


def save_model(model, path):
    """Save a Keras model to ``path`` (``.keras``) atomically."""
    with atomic_path(path) as tmp:
        os.remove(tmp)  # Keras refuses to overwrite a path it did not write
        model.save(tmp if tmp.endswith(".keras") else tmp + ".keras")
        if not tmp.endswith(".keras"):
            os.replace(tmp + ".keras", tmp)


def weights_bytes(model):
    """The bytes of ``model``'s variables and its optimizer's (what ``save_weights`` writes,
    before the HDF5 file's own overhead)."""
    variables = list(model.weights)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "built", False):
        variables += list(optimizer.variables)
    total = 0
    for v in variables:
        n = 1
        for d in v.shape:
            n *= int(d)
        total += n * _itemsize(v.dtype)
    return total


def _itemsize(dtype):
    import numpy as np

    try:
        return np.dtype(str(dtype)).itemsize
    except TypeError:
        return 4


def save_weights(model, path, margin=64 * 1024):
    """Save ``model``'s weights (optimizer state included) to ``path`` (``.weights.h5``)
    atomically, refusing with :class:`WriteError` *before* HDF5 starts when the file system
    has less free space than the weights need: HDF5 reports a full disk from deep inside
    its C library and leaves its file object in a state that can crash the interpreter at
    exit. A failure that still happens (another process filled the disk meanwhile) removes
    the temporary file and closes HDF5's handle before the error is raised."""
    path = os.fspath(path)
    need = int(weights_bytes(model) * 1.05) + margin
    free = free_bytes(path)
    if free is not None and free < need:
        raise describe_write_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path), path)
    try:
        with atomic_path(path) as tmp:
            model.save_weights(tmp, overwrite=True)
    except BaseException as exc:
        release_failed_writes(exc)
        raise


def release_failed_writes(exc):
    """After ``exc`` broke off a write: drop the local variables of the frames it went
    through (HDF5 file objects and the like) and collect them now, with the errors their
    ``__del__`` raises on a full disk silenced, so nothing is left open to fail (or crash)
    at interpreter exit. Safe to call more than once."""
    import gc
    import sys
    import traceback

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if exc.__traceback__ is not None:
            traceback.clear_frames(exc.__traceback__)
        exc = exc.__cause__ or exc.__context__
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        gc.collect()
    finally:
        sys.unraisablehook = hook
