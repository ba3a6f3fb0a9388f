"""Data parallelism on the distribution engines Keras already has: one process over its
local devices, or several processes (on one machine or many) over all of theirs.

- **JAX**: ``keras.distribution.DataParallel`` over every device of every process. The
  processes join through ``jax.distributed``; on CPU they talk through gloo (JAX's CPU
  collectives), so two processes on one machine take the same path as two machines.
- **TensorFlow**: ``tf.distribute.MirroredStrategy`` over the local devices of one process
  (``--devices all``), ``tf.distribute.MultiWorkerMirroredStrategy`` across processes.

A process learns its place from ``--coordinator/--num-processes/--process-id`` or from the
variables a cluster launcher sets: Keras's ``KERAS_DISTRIBUTION_JOB_ADDRESSES``,
``KERAS_DISTRIBUTION_NUM_PROCESSES`` and ``KERAS_DISTRIBUTION_PROCESS_ID`` (both backends),
or ``TF_CONFIG`` (TensorFlow). ``python -m toolkit launch --processes N run ...`` sets them
for N local processes (:mod:`toolkit.launch`).

Every process runs the same experiment on the same seed; the training feed gives each its
own part of every global batch (:mod:`toolkit.data.pipeline`), and only process 0 writes
the run folder (:mod:`toolkit.runs.execute`).

Keras 3.15 is wrong in three places here; each is worked around below, in one function,
applied only where it is needed, and tested by ``tests/test_multiprocess.py``:

- ``keras.distribution.initialize`` does not pass JAX's heartbeat timeout, so a dead peer
  stops the others only after JAX's default 100 s: :func:`_join_jax` calls
  ``jax.distributed.initialize`` itself with ``peer_timeout``.
- JAX, several processes: ``predict`` turns its global output array into NumPy, which JAX
  refuses for an array that spans other processes' devices ("non-addressable"). Each
  process's rows are its own shards: :func:`_patch_jax_predict`.
- TensorFlow, ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585): ``fit`` reduces its
  first data batch across workers only to learn its shapes (and fails on the ``PerReplica``
  value), and reduces every scalar log over axis 0: :func:`_patch_tf_multiworker`.
"""

import contextlib
import json
import os
from dataclasses import dataclass, field

from toolkit.errors import RunError, check_choice

# How long a process waits for a silent peer before it stops (seconds): JAX's heartbeat and
# start-up timeouts, TensorFlow's collective timeout. A local `launch` stops the others as
# soon as one process exits, whatever this is.
PEER_TIMEOUT = 120

ADDRESSES_VAR = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
PROCESSES_VAR = "KERAS_DISTRIBUTION_NUM_PROCESSES"
PROCESS_ID_VAR = "KERAS_DISTRIBUTION_PROCESS_ID"


@dataclass
class Parallel:
    """How the current process trains: ``processes`` (1 for a single process), its
    ``process_id``, the ``devices`` trained on (every process's; empty for one device) and,
    on TensorFlow, the ``strategy``."""

    processes: int = 1
    process_id: int = 0
    devices: list = field(default_factory=list)
    strategy: object = None
    peer_timeout: int = PEER_TIMEOUT

    @property
    def writer(self):
        """Whether this process writes the run folder, the reports and the models."""
        return self.process_id == 0

    @property
    def multi_process(self):
        return self.processes > 1

    @property
    def sharded_feed(self):
        """Whether ``fit`` needs :class:`toolkit.data.pipeline.ShardedEpochs` (every process
        its part of each batch; on TensorFlow also one strategy-made dataset)."""
        return self.multi_process or self.strategy is not None

    def scope(self):
        """The context the experiment runs in: the strategy's scope on TensorFlow (models
        and optimizers made inside it are mirrored), nothing otherwise."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def describe(self):
        """For ``env.json``."""
        return {
            "processes": self.processes,
            "process_id": self.process_id,
            "data_parallel_devices": [str(d) for d in self.devices],
            "strategy": _strategy_name(self.strategy),
        }


_CURRENT = Parallel()


def _strategy_name(strategy):
    if strategy is None:
        return None
    if getattr(strategy, "cluster_resolver", None) is not None:  # its class is CollectiveAllReduceStrategy
        return "MultiWorkerMirroredStrategy"
    return type(strategy).__name__


def current():
    """The :class:`Parallel` set by :func:`setup` (one process, one device before it)."""
    return _CURRENT


def _int(name, value, low=0):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise RunError(f"{name} must be an integer; received {value!r}") from None
    if number < low:
        raise RunError(f"{name} must be >= {low}; received {number}")
    return number


def _tf_config():
    """``(addresses, process_id)`` from ``TF_CONFIG``, or None when it is unset."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return None
    try:
        config = json.loads(text)
        workers = list(config["cluster"].get("chief", [])) + list(config["cluster"]["worker"])
        task = config["task"]
        index = int(task["index"]) + (len(config["cluster"].get("chief", [])) if task["type"] == "worker" else 0)
    except (ValueError, KeyError, TypeError):
        raise RunError(
            "TF_CONFIG must be JSON such as "
            '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}; '
            f"received {text[:200]!r}"
        ) from None
    return workers, index


def cluster(coordinator=None, num_processes=None, process_id=None):
    """``(addresses, num_processes, process_id)`` of a multi-process run, or None for one
    process: from the arguments, else Keras's ``KERAS_DISTRIBUTION_*`` variables, else
    ``TF_CONFIG``. ``coordinator`` is ``host:port`` (JAX: the coordinator) or every
    process's ``host:port``, comma-separated (TensorFlow needs them all)."""
    coordinator = coordinator or os.environ.get(ADDRESSES_VAR)
    num_processes = num_processes if num_processes is not None else os.environ.get(PROCESSES_VAR)
    process_id = process_id if process_id is not None else os.environ.get(PROCESS_ID_VAR)
    if coordinator is None and num_processes is None and process_id is None:
        tf_config = _tf_config()
        if tf_config is None:
            return None
        addresses, index = tf_config
        return (addresses, len(addresses), index) if len(addresses) > 1 else None
    if coordinator is None or num_processes is None or process_id is None:
        raise RunError(
            "a multi-process run needs all three of --coordinator HOST:PORT, --num-processes N and "
            f"--process-id I (or {ADDRESSES_VAR}, {PROCESSES_VAR}, {PROCESS_ID_VAR}); received "
            f"coordinator={coordinator!r}, num_processes={num_processes!r}, process_id={process_id!r}"
        )
    n = _int("--num-processes", num_processes, low=1)
    index = _int("--process-id", process_id)
    if index >= n:
        raise RunError(f"--process-id must be below --num-processes ({n}); received {index}")
    addresses = [a.strip() for a in str(coordinator).split(",") if a.strip()]
    for address in addresses:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise RunError(f"--coordinator takes HOST:PORT[,HOST:PORT...]; received {coordinator!r}")
    if len(addresses) not in (1, n):
        raise RunError(f"--coordinator lists {len(addresses)} addresses for {n} processes; give 1 (JAX) or {n}")
    return (addresses, n, index) if n > 1 else None


def setup(devices=None, coordinator=None, num_processes=None, process_id=None, peer_timeout=PEER_TIMEOUT):
    """Set up this process's data parallelism before anything else touches the backend;
    return the :class:`Parallel` (also :func:`current`).

    One process: ``devices="all"`` trains over every local device (JAX: ``DataParallel``;
    TensorFlow: ``MirroredStrategy`` over the GPUs, else the logical CPUs); fewer than two
    devices is a plain run. Several processes: every device of every process, always.
    """
    global _CURRENT
    from toolkit.devices import backend_name

    if devices:
        check_choice("devices", devices, ("all",))
    peer_timeout = _int("--peer-timeout", peer_timeout, low=1)
    found = cluster(coordinator, num_processes, process_id)
    backend = backend_name()
    if found is None:
        _CURRENT = _local(backend, devices)
        return _CURRENT
    addresses, n, index = found
    if backend == "jax":
        _CURRENT = _join_jax(addresses, n, index, peer_timeout)
    elif backend == "tensorflow":
        _CURRENT = _join_tf(addresses, n, index, peer_timeout)
    else:
        raise RunError(f"multi-process runs need BACKEND=jax or tensorflow; the backend is {backend}")
    return _CURRENT


def _local(backend, devices):
    if not devices:
        return Parallel()
    import keras

    if backend == "jax":
        found = keras.distribution.list_devices()
        if len(found) < 2:
            return Parallel()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=found))
        return Parallel(devices=list(found))
    if backend == "tensorflow":
        import tensorflow as tf

        found = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        if len(found) < 2:
            return Parallel()
        names = [d.name for d in found]
        return Parallel(devices=names, strategy=tf.distribute.MirroredStrategy(devices=names))
    raise RunError(f"--devices all needs BACKEND=jax or tensorflow; the backend is {backend}")


def _join_jax(addresses, n, index, peer_timeout):
    """Join the JAX processes (gloo on CPU) and train ``DataParallel`` over all their devices.
    ``jax.distributed.initialize`` is called here rather than through
    ``keras.distribution.initialize``, which has no way to pass the heartbeat timeout."""
    import jax
    import keras

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator_address=addresses[0],
            num_processes=n,
            process_id=index,
            initialization_timeout=peer_timeout,
            heartbeat_timeout_seconds=peer_timeout,
        )
    except RuntimeError as exc:
        raise RunError(
            f"process {index} of {n} could not join the run at {addresses[0]} within {peer_timeout} s "
            f"({str(exc).splitlines()[0][:200]}); start every process with the same --coordinator"
        ) from None
    found = keras.distribution.list_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=found, auto_shard_dataset=False))
    _patch_jax_predict()
    return Parallel(processes=n, process_id=index, devices=list(found), peer_timeout=peer_timeout)


def _join_tf(addresses, n, index, peer_timeout):
    """Join the TensorFlow workers (``TF_CONFIG``, written from the addresses when they came
    from the command line) under ``MultiWorkerMirroredStrategy``."""
    if len(addresses) != n:
        raise RunError(
            f"TensorFlow needs every process's HOST:PORT: --coordinator with {n} comma-separated "
            f"addresses (or TF_CONFIG); received {','.join(addresses)}"
        )
    import tensorflow as tf

    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=peer_timeout)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    _patch_tf_multiworker()
    devices = [f"worker{w}:CPU:0" for w in range(n)] if not tf.config.list_logical_devices("GPU") else []
    devices = devices or [f"worker{w}:{d.name}" for w in range(n) for d in tf.config.list_logical_devices("GPU")]
    return Parallel(
        processes=n,
        process_id=index,
        devices=devices,
        strategy=strategy,
        peer_timeout=peer_timeout,
    )


def replicas_per_process():
    """How many replicas each process feeds (its local devices under a strategy)."""
    par = current()
    if par.strategy is None:
        return 1
    return max(1, int(par.strategy.num_replicas_in_sync) // par.processes)


def distribute_feed(dataset):
    """A TensorFlow dataset of this process's per-replica batches, made the strategy's input
    (each process feeds its own; no automatic sharding). Unchanged without a strategy."""
    par = current()
    if par.strategy is None:
        return dataset
    return par.strategy.distribute_datasets_from_function(lambda context: dataset)


def check_batches(num_samples, batch_size):
    """Every global batch, the last (partial) one too, is split evenly over the processes and
    their devices; JAX fails deep inside ``fit`` otherwise. Raise ``RunError`` saying what to
    change; no-op for one device."""
    parts = len(current().devices)
    if parts < 2:
        return
    last = int(num_samples) % int(batch_size)
    if int(batch_size) % parts or last % parts:
        raise RunError(
            f"data-parallel training splits every batch over {parts} devices: batch_size ({batch_size}) and the "
            f"last batch ({last} of {num_samples} samples) must be multiples of {parts}; "
            f"pick a batch_size and limit divisible by {parts}"
        )


def _patch_jax_predict():
    """Keras 3.15, JAX, several processes: ``predict`` converts its global output to NumPy,
    which spans other processes' devices. Every process fed its own copy of the inputs, so
    its own shards (in order) are the predictions of its inputs."""
    import jax
    import numpy as np
    from keras.src import tree
    from keras.src.backend.jax import trainer

    if getattr(trainer.JAXTrainer, "_toolkit_local_predict", False):
        return
    original = trainer.JAXTrainer.make_predict_function

    def local(value):
        if isinstance(value, jax.Array) and not value.is_fully_addressable:
            shards = sorted(value.addressable_shards, key=lambda s: s.index[0].start or 0)
            return np.concatenate([np.asarray(s.data) for s in shards])
        return value

    def make_predict_function(self, force=False):
        if self.predict_function is not None and not force:
            return self.predict_function
        original(self, force)
        step = self.predict_function

        def predict_function(state, iterator):
            outputs, state = step(state, iterator)
            return tree.map_structure(local, outputs), state

        self.predict_function = predict_function
        return predict_function

    trainer.JAXTrainer.make_predict_function = make_predict_function
    trainer.JAXTrainer._toolkit_local_predict = True


def _patch_tf_multiworker():
    """Keras 3.15, TensorFlow, ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585):
    (1) ``_maybe_symbolic_build`` all-reduces the first data batch to learn its shapes and
    fails on its ``PerReplica`` value: take this worker's own batch instead (same shapes);
    (2) ``reduce_per_replica`` reduces every log over axis 0, which a scalar has not: reduce
    scalars whole."""
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer, "_toolkit_multiworker", False):
        return

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        strategy = self.distribute_strategy

        def local(value):
            if isinstance(value, tf.distribute.DistributedValues):
                return strategy.experimental_local_results(value)[0]
            return value

        if iterator is not None:
            for _, _, it in iterator:
                data_batch = tree.map_structure(local, next(it))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    original_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=0 if len(getattr(v, "shape", ()) or ()) else None), values
            )
        return original_reduce(values, strategy, reduction)

    trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    trainer.reduce_per_replica = reduce_per_replica
    trainer._toolkit_multiworker = True


__all__ = [
    "Parallel",
    "PEER_TIMEOUT",
    "current",
    "cluster",
    "setup",
    "check_batches",
    "distribute_feed",
    "replicas_per_process",
]
