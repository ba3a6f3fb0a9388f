"""Goal 3 (GPU): ResNet-9 on CIFAR-10 with JAX, bfloat16, SGD + one-cycle, batch 512.

One command on a machine with a GPU (JAX with CUDA installed):

    KERAS_BACKEND=jax python -m benchmarks.gpu_cifar10 [--epochs 10] [--tarball PATH]

The data come from the JPEG tarball (``../shared/data/cifar-10-jpeg.tar.gz``:
``train/<class>/NNNN.jpg``, ``test/<class>/NNNN.jpg``), decoded with Pillow into uint8
arrays — the 184 MB binary layout need not exist on the GPU machine. The model is the
toolkit's ``resnet9`` with its in-model augmentation (horizontal flip + pad-4 crop through
:class:`toolkit.layers.RandomShiftCrop`), under the ``mixed_bfloat16`` policy, trained with
SGD (Nesterov momentum 0.9, weight decay 5e-4) on a one-cycle learning rate (linear up to
``--peak-lr`` over the first ``--warmup`` fraction of steps, linear down to 0).

Reported separately: decode seconds; **compile seconds** (the first train step, which
traces and compiles, plus the first evaluation step); per-epoch training seconds
(steady state, compile excluded); evaluation seconds; final test accuracy; images/s.
Each epoch drops the last partial batch (50,000 = 97 x 512 + 336), so the train step
compiles once. ``--allow-cpu`` with a small ``--limit`` smoke-tests the script on a CPU.
"""

import argparse
import io
import os
import tarfile
import time

import numpy as np

from benchmarks.common import REPO, emit_result, environment

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DEFAULT_TARBALL = os.path.join(os.path.dirname(REPO), "shared", "data", "cifar-10-jpeg.tar.gz")


def load_jpeg_tarball(path, per_class=None):
    """``(x_train, y_train, x_test, y_test)`` uint8 / int64 from the JPEG tarball; with
    ``per_class``, only images numbered below it in each class folder (a smoke test)."""
    from PIL import Image

    split = {"train": ([], []), "test": ([], [])}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 3 or parts[0] not in split or parts[1] not in CLASSES:
                continue
            if per_class is not None and int(os.path.splitext(parts[2])[0]) >= per_class:
                continue
            with Image.open(io.BytesIO(tar.extractfile(member).read())) as img:
                pixels = np.asarray(img.convert("RGB"), dtype=np.uint8)
            split[parts[0]][0].append(pixels)
            split[parts[0]][1].append(CLASSES.index(parts[1]))
    out = []
    for name in ("train", "test"):
        xs, ys = split[name]
        if not xs:
            raise RuntimeError(f"{path}: no {name}/<class>/*.jpg images found")
        out += [np.stack(xs), np.asarray(ys, np.int64)]
    return tuple(out)


def one_cycle(total_steps, peak_lr, warmup=0.3):
    import keras

    class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
        """Linear 0 -> peak over ``warmup`` of the steps, then linear peak -> 0."""

        def __call__(self, step):
            step = keras.ops.cast(step, "float32")
            up = float(max(1, int(total_steps * warmup)))
            rise = step / up
            fall = (float(total_steps) - step) / max(1.0, float(total_steps) - up)
            return peak_lr * keras.ops.maximum(0.0, keras.ops.minimum(rise, fall))

        def get_config(self):
            return {"total_steps": total_steps, "peak_lr": peak_lr, "warmup": warmup}

    return OneCycle()


def benchmark(
    tarball=DEFAULT_TARBALL,
    epochs=10,
    batch_size=512,
    peak_lr=0.4,
    warmup=0.3,
    width=1.0,
    per_class=None,
    allow_cpu=False,
    precision="mixed_bfloat16",
    seed=0,
    log=print,
):
    import keras

    from toolkit.devices import accelerators, backend_name
    from toolkit.models import build_model

    if backend_name() != "jax":
        raise RuntimeError(f"run with KERAS_BACKEND=jax; the backend is {backend_name()}")
    gpus = accelerators()
    if not gpus and not allow_cpu:
        raise RuntimeError("no GPU visible to JAX; run on a GPU machine (or pass --allow-cpu for a smoke test)")
    start = time.perf_counter()
    x_train, y_train, x_test, y_test = load_jpeg_tarball(tarball, per_class)
    decode_seconds = time.perf_counter() - start
    log(f"decoded {len(x_train)} + {len(x_test)} images in {decode_seconds:.1f} s")

    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(seed)
    steps_per_epoch = len(x_train) // batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size {batch_size} exceeds the {len(x_train)} training images")
    model = build_model(
        "resnet9",
        input_shape=x_train.shape[1:],
        num_classes=10,
        width=width,
        augment={"flip": "horizontal", "crop_pad": 4},
    )
    optimizer = keras.optimizers.SGD(
        learning_rate=one_cycle(steps_per_epoch * epochs, peak_lr, warmup),
        momentum=0.9,
        nesterov=True,
        weight_decay=5e-4,
    )
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    eval_batch = 1000 if len(x_test) % 1000 == 0 else len(x_test)
    rng = np.random.default_rng(seed)

    # compile: one train step (trace + XLA compile + the step) and one evaluation batch
    t = time.perf_counter()
    model.fit(x_train[:batch_size], y_train[:batch_size], batch_size=batch_size, epochs=1, verbose=0)
    train_compile = time.perf_counter() - t
    t = time.perf_counter()
    model.evaluate(x_test[:eval_batch], y_test[:eval_batch], batch_size=eval_batch, verbose=0)
    eval_compile = time.perf_counter() - t
    log(f"compile: train step {train_compile:.1f} s, eval step {eval_compile:.1f} s")
    # that step counted towards the schedule; restart it so the epochs see the full cycle
    model.optimizer.iterations.assign(0)

    epoch_seconds, history = [], []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))[: steps_per_epoch * batch_size]
        t = time.perf_counter()
        h = model.fit(x_train[order], y_train[order], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        epoch_seconds.append(time.perf_counter() - t)
        history.append(
            {
                "epoch": epoch,
                "seconds": epoch_seconds[-1],
                "loss": float(h.history["loss"][-1]),
                "accuracy": float(h.history["accuracy"][-1]),
            }
        )
        log(f"epoch {epoch}: {epoch_seconds[-1]:.2f} s, train acc {history[-1]['accuracy']:.4f}")
    t = time.perf_counter()
    loss, acc = model.evaluate(x_test, y_test, batch_size=eval_batch, verbose=0)
    eval_seconds = time.perf_counter() - t
    train_seconds = sum(epoch_seconds)
    return {
        "setup": {
            "model": "resnet9",
            "width": width,
            "precision": precision,
            "batch_size": batch_size,
            "epochs": epochs,
            "steps_per_epoch": steps_per_epoch,
            "optimizer": "SGD nesterov 0.9, wd 5e-4",
            "schedule": f"one-cycle, peak {peak_lr} at {warmup:.0%}",
            "augment": "flip + RandomShiftCrop(4)",
            "train_images": int(len(x_train)),
            "test_images": int(len(x_test)),
            "tarball": tarball,
            "devices": gpus or ["cpu"],
        },
        "decode_seconds": decode_seconds,
        "compile_seconds": {"train_step": train_compile, "eval_step": eval_compile},
        "epoch_seconds": epoch_seconds,
        "train_seconds": train_seconds,
        "images_per_second": steps_per_epoch * batch_size * epochs / train_seconds,
        "eval_seconds": eval_seconds,
        "test_accuracy": float(acc),
        "test_loss": float(loss),
        "history": history,
    }


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu_cifar10",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--tarball", default=DEFAULT_TARBALL)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--peak-lr", type=float, default=0.4)
    p.add_argument("--warmup", type=float, default=0.3)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--limit-per-class", type=int, default=None, help="images per class folder (smoke test)")
    p.add_argument("--precision", default="mixed_bfloat16", help="mixed_bfloat16 (default) or float32")
    p.add_argument("--allow-cpu", action="store_true", help="run without a GPU (smoke test only)")
    p.add_argument("--out", default=None, help="also write the result JSON to this file")
    args = p.parse_args(argv)
    result = benchmark(
        args.tarball,
        args.epochs,
        args.batch_size,
        args.peak_lr,
        args.warmup,
        args.width,
        args.limit_per_class,
        args.allow_cpu,
        args.precision,
    )
    result["environment"] = environment()
    if args.out:
        import json

        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)
    emit_result(result)


if __name__ == "__main__":
    main()
