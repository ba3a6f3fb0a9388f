"""The last source of a dataset: a tensorflow-datasets download, when the machine is online.

tensorflow-datasets 4.9.10 retries for minutes when the network is absent and leaves temp
folders behind, so :func:`load_from_tfds` first checks in a few seconds that the download
host answers and fails at once with a one-line error otherwise.
"""

import socket

import numpy as np

from toolkit.errors import DataError

DOWNLOAD_HOST = ("storage.googleapis.com", 443)


def online(host=DOWNLOAD_HOST, timeout=3.0):
    """True when a TCP connection to the tensorflow-datasets host opens within ``timeout``."""
    try:
        with socket.create_connection(host, timeout=timeout):
            return True
    except OSError:
        return False


def load_from_tfds(info, data_dir=None, check_online=True):
    """(x_train, y_train), (x_test, y_test) as uint8/int64 arrays from tensorflow-datasets."""
    if check_online and not online():
        raise DataError(f"{info.name}: offline, so tensorflow-datasets cannot download it")
    import tensorflow_datasets as tfds

    out = []
    for split in ("train", "test"):
        # Batched iteration, not batch_size=-1: the latter aborts the process in
        # tensorflow-datasets 4.9.10's generator path (std::length_error).
        ds = tfds.load(info.tfds_name, split=split, as_supervised=True, data_dir=data_dir)
        images, labels = zip(*tfds.as_numpy(ds.batch(4096)))
        out.append((np.concatenate(images).astype(np.uint8), np.concatenate(labels).astype(np.int64)))
    return tuple(out)
