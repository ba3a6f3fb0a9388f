"""What keeps a run's record safe: one process per run folder, and a full disk that cannot
take the record with it. :class:`~toolkit.runs.folder.RunFolder` delegates here; nothing
else calls these functions.

- **The lock.** A run holds an exclusive lock on its folder (``fcntl.flock`` on ``.lock``,
  released by the kernel when the process dies), so a second process cannot resume a live
  run (:func:`lock_folder`, :func:`unlock_folder`).
- **A full disk.** A live run keeps a small reserve file (``.reserve``) that the failure
  handler deletes to make room for ``status.json`` and the other small files
  (:func:`make_reserve`, :func:`release_reserve`), and ``status.json`` is written padded to
  :data:`STATUS_BYTES` (:func:`padded_status`), so even with no free block at all it can be
  rewritten in place (:func:`rewrite_status_in_place`).
- **Interrupted writes.** :func:`remove_partials` deletes what they left behind.
"""

import errno
import os

from toolkit import fileio
from toolkit.errors import RunError

#: ``status.json`` is padded to this size, so a full disk can still rewrite it in place
STATUS_BYTES = 2048
#: bytes a live run keeps in ``.reserve``: room for the failure record on a full disk
RESERVE_BYTES = 256 * 1024
RESERVE = ".reserve"
LOCK = ".lock"


def write_error(exc, path):
    """``exc`` as a one-line :class:`~toolkit.fileio.WriteError` when it is a disk or
    permission failure, else unchanged."""
    return fileio.describe_write_error(exc, path) if exc.errno in fileio.WRITE_ERRNOS else exc


# --- status.json on a full disk ---------------------------------------------------------
def padded_status(text):
    """``text`` padded with spaces (JSON allows trailing whitespace) to :data:`STATUS_BYTES`."""
    size = len(text.encode())
    return text if size >= STATUS_BYTES else text + " " * (STATUS_BYTES - size - 1) + "\n"


def rewrite_status_in_place(path, data):
    """Rewrite the (padded) status file ``path`` in place with ``data``, shortening its
    ``error`` to fit; return whether it was written."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return False
    error = data.get("error")
    while True:
        payload = fileio.json_text(data, indent=None).encode()
        if len(payload) < size:
            break
        if not error:
            return False
        error = error[: max(0, len(error) - (len(payload) - size) - 8)] + "…"
        data = {**data, "error": error if len(error) > 1 else None}
    try:
        fileio.rewrite_in_place(path, payload)
    except (OSError, ValueError):
        return False
    return True


# --- one process per run ----------------------------------------------------------------
def lock_folder(folder):
    """Take ``folder``'s exclusive lock and return its descriptor, or raise ``RunError``
    naming the live process.

    The lock is ``flock`` on ``.lock``, held as long as the descriptor is open (the
    kernel drops it when the process dies, even by SIGKILL). The file is removed by
    :func:`unlock_folder` while still locked, so a process that opened it just before must
    notice that it locked a file no longer there, and try again."""
    import fcntl

    path = os.path.join(folder, LOCK)
    for _ in range(100):
        try:
            os.makedirs(folder, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise write_error(exc, path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunError(
                f"{folder} is in use by a live run (pid {holder}); wait for it to end, "
                "or start a new run without --resume"
            ) from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except OSError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed it as we opened it: lock the new one
    else:
        raise RunError(f"{folder}: could not take the folder's lock (.lock keeps changing)")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
    except OSError:
        pass  # a full disk: the lock holds anyway, only the pid in the message is missing
    return fd


def unlock_folder(folder, fd):
    """Release the lock held by ``fd``; the ``.lock`` file goes while still locked."""
    try:
        os.remove(os.path.join(folder, LOCK))
    except OSError:
        pass
    os.close(fd)  # closing releases the flock


# --- the reserve ------------------------------------------------------------------------
def make_reserve(folder, size=RESERVE_BYTES):
    """Set ``size`` bytes aside in ``folder/.reserve`` (allocated, not a sparse file), to be
    given back by :func:`release_reserve` when the disk fills, so the failure can be
    recorded. Raises :class:`~toolkit.fileio.WriteError` when there is not even that."""
    path = os.path.join(folder, RESERVE)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    except OSError as exc:
        raise write_error(exc, path) from None
    try:
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
            block = b"\0" * 65536
            for start in range(0, size, len(block)):
                os.pwrite(fd, block[: size - start], start)
            os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        try:
            os.remove(path)
        except OSError:
            pass
        raise write_error(exc, path) from None
    os.close(fd)


def release_reserve(folder):
    """Delete ``folder/.reserve`` (no error if it is not there); return whether it was."""
    try:
        os.remove(os.path.join(folder, RESERVE))
        return True
    except OSError:
        return False


# --- interrupted writes -----------------------------------------------------------------
PARTIALS = (fileio.TEMP_PREFIX, "partial-")  # an atomic write's temporary file; a checkpoint's partial weights


def remove_partials(folder):
    """Delete what interrupted writes left under ``folder``: temporary files of atomic writes
    (``.partial-*``), a checkpoint's ``partial-*`` weights, and finished-fit weights whose
    record (``<label>.done.json``) was never written. Returns the paths removed."""
    removed = []
    for dirpath, _, files in os.walk(folder):
        for name in files:
            orphan = name.endswith(".done.weights.h5") and (name[: -len(".weights.h5")] + ".json" not in files)
            if name.startswith(PARTIALS) or orphan:
                path = os.path.join(dirpath, name)
                try:
                    os.remove(path)
                    removed.append(path)
                except OSError:
                    pass
    return removed
