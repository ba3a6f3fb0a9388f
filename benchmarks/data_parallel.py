"""Goal 5: data-parallel training through ``keras.distribution.DataParallel`` (JAX).

:func:`workload` must run in a process started with ``KERAS_BACKEND=jax`` and, on a
machine with one CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (two
simulated CPU devices); :func:`benchmark` starts such a process. It trains the same
seeded model twice on the same data — once on one device, once after
``toolkit.devices.setup_data_parallel("all")`` — and reports:

- the final test accuracy of each (they must agree within noise);
- proof that both devices were used: every variable of the data-parallel model is
  replicated on both devices (``len(v.value.sharding.device_set) == 2``), and every batch
  Keras fed to the compiled train step was a global array split along the batch axis
  into one shard per device (recorded by wrapping Keras's
  ``distribute_data_input``), each device holding half the rows;
- seconds per epoch of each (two simulated devices share the same cores, so this is
  not a speed-up measurement; on real accelerators it would be).
"""

import os
import time

from benchmarks.common import emit_result, environment, median, run_module


def _record_batches():
    """Wrap Keras's JAX ``distribute_data_input`` to record each distributed batch."""
    import keras.src.backend.jax.distribution_lib as jdl

    seen = []
    original = jdl.distribute_data_input

    def recording(per_process_batch, layout, batch_dim_name):
        out = original(per_process_batch, layout, batch_dim_name)
        seen.append(
            {
                "shape": list(out.shape),
                "devices": sorted(str(d) for d in out.sharding.device_set),
                "shard_rows": [int(s.data.shape[0]) for s in out.addressable_shards],
                "shard_devices": [str(s.device) for s in out.addressable_shards],
            }
        )
        return out

    jdl.distribute_data_input = recording
    return seen


def _train(ds, epochs, batch_size, seed):
    import keras

    from toolkit.models import build_model

    keras.utils.set_random_seed(seed)
    model = build_model("simple_convnet", input_shape=ds.x_train.shape[1:], num_classes=len(ds.class_names))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit(ds.x_train, ds.y_train, batch_size=batch_size, epochs=1, verbose=0)
        times.append(time.perf_counter() - start)
    loss, acc = model.evaluate(ds.x_test, ds.y_test, batch_size=batch_size, verbose=0)
    devices = [len(v.value.sharding.device_set) for v in model.variables]
    return model, {
        "test_accuracy": float(acc),
        "test_loss": float(loss),
        "epoch_seconds": times,
        "median_epoch_seconds_after_first": median(times[1:]),
        "variables": len(devices),
        "variable_device_counts": sorted(set(devices)),
    }


def workload(dataset="shapes", limit=2048, test_limit=512, epochs=3, batch_size=64, seed=0, data_dir=None):
    """One-device and data-parallel training of the same model (see the module doc)."""
    import keras

    from toolkit.data import load_dataset
    from toolkit.devices import check_data_parallel_batches, setup_data_parallel

    if keras.backend.backend() != "jax":
        raise RuntimeError(f"run with KERAS_BACKEND=jax; the backend is {keras.backend.backend()}")
    ds = load_dataset(dataset, data_dir=data_dir, limit=limit, test_limit=test_limit, seed=seed, allow_download=False)
    seen = _record_batches()
    _, single = _train(ds, epochs, batch_size, seed)
    single["distributed_batches"] = len(seen)
    used = setup_data_parallel("all")
    if len(used) < 2:
        raise RuntimeError(
            f"setup_data_parallel('all') found {len(used)} device(s); set "
            "XLA_FLAGS=--xla_force_host_platform_device_count=2"
        )
    check_data_parallel_batches(len(ds.x_train), batch_size)
    check_data_parallel_batches(len(ds.x_test), batch_size)
    distribution = keras.distribution.distribution()
    seen.clear()
    _, parallel = _train(ds, epochs, batch_size, seed)
    parallel.update(
        {
            "distribution": type(distribution).__name__,
            "mesh": dict(zip(distribution.device_mesh.axis_names, distribution.device_mesh.shape)),
            "devices": [str(d) for d in used],
            "distributed_batches": len(seen),
            "batch_device_sets": sorted({tuple(b["devices"]) for b in seen}),
            "batch_shard_rows": sorted({tuple(b["shard_rows"]) for b in seen}),
            "example_batch": seen[0] if seen else None,
        }
    )
    used_all = (
        parallel["variable_device_counts"] == [len(used)]
        and len(seen) > 0
        and all(len(set(b["shard_devices"])) == len(used) for b in seen)
    )
    return {
        "setup": {
            "dataset": dataset,
            "train_images": int(len(ds.x_train)),
            "test_images": int(len(ds.x_test)),
            "epochs": epochs,
            "batch_size": batch_size,
            "seed": seed,
            "model": "simple_convnet",
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
        },
        "one_device": single,
        "data_parallel": parallel,
        "accuracy_difference": parallel["test_accuracy"] - single["test_accuracy"],
        "all_devices_used": bool(used_all),
    }


def benchmark(devices=2, **kwargs):
    """Run :func:`workload` in a JAX process with ``devices`` simulated CPU devices."""
    args = []
    for key, value in kwargs.items():
        args += [f"--{key.replace('_', '-')}", value]
    env = {
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        "JAX_PLATFORMS": "cpu",
    }
    return run_module("benchmarks.data_parallel", args, env=env)


def main(argv=None):
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="shapes")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--limit", type=int, default=2048)
    p.add_argument("--test-limit", type=int, default=512)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args(argv)
    result = workload(args.dataset, args.limit, args.test_limit, args.epochs, args.batch_size, data_dir=args.data_dir)
    result["environment"] = environment()
    emit_result(result)


if __name__ == "__main__":
    main()
