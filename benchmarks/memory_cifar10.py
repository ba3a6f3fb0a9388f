"""Goal 4: peak resident memory of a CIFAR-10 experiment on a CPU (bound: 2.5 GB).

Run in a fresh process (:func:`benchmark` spawns ``python -m benchmarks.memory_cifar10``)
so the figure is this workload's alone: load CIFAR-10 from the prepared folder as uint8
(50,000 + 10,000 images, 184 MB), build a zoo model with the experiments' augmentation
(flip + pad-crop inside the model), ``Run.fit`` on the *whole* uint8 training set for
``steps`` steps (the data pipeline holds all of it), then evaluate on the test set
(``test_limit`` images). Peak RSS from ``getrusage(RUSAGE_SELF).ru_maxrss`` (the kernel's
high-water mark) and from psutil, sampled every 50 ms, with the RSS after each phase.
"""

import threading
import time

from benchmarks.common import data_dir, emit_result, environment, peak_rss_gb, run_module, toolkit_run

BOUND_GB = 2.5


class _Sampler:
    def __init__(self, interval=0.05):
        import psutil

        self.proc, self.interval, self.peak, self._stop = psutil.Process(), interval, 0, threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def rss_gb(self):
        return self.proc.memory_info().rss / 1e9

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()
        return False


def workload(folder, model="resnet20", steps=20, batch_size=128, test_limit=2000):
    """The measured workload (runs in the current process; see :func:`benchmark`)."""
    phases = {}
    with _Sampler() as sampler:
        phases["start"] = sampler.rss_gb()
        import keras

        from toolkit.data import load_dataset
        from toolkit.models import build_model

        phases["after_import"] = sampler.rss_gb()
        ds = load_dataset("cifar10", data_dir=folder, test_limit=test_limit, allow_download=False)
        phases["after_load"] = sampler.rss_gb()
        keras.utils.set_random_seed(0)
        net = build_model(
            model, input_shape=ds.x_train.shape[1:], num_classes=10, augment={"flip": "horizontal", "crop_pad": 4}
        )
        net.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        import tempfile

        run = toolkit_run(tempfile.mkdtemp(prefix="bench-memory-"), batch_size)
        start = time.perf_counter()
        # through Run.fit, as the experiments train: its per-epoch shuffled pipeline holds the set
        run.fit(net, ds.x_train, ds.y_train, label=model, epochs=1, steps_per_epoch=steps)
        fit_seconds = time.perf_counter() - start
        phases["after_fit"] = sampler.rss_gb()
        net.evaluate(ds.x_test, ds.y_test, batch_size=500, verbose=0)
        phases["after_evaluate"] = sampler.rss_gb()
    peak_getrusage = peak_rss_gb()
    return {
        "setup": {
            "model": model,
            "train_images": int(len(ds.x_train)),
            "train_dtype": str(ds.x_train.dtype),
            "train_bytes": int(ds.x_train.nbytes),
            "test_images": int(len(ds.x_test)),
            "steps": steps,
            "batch_size": batch_size,
            "augment": "flip horizontal + RandomShiftCrop pad 4 (in the model)",
        },
        "fit_seconds": fit_seconds,
        "rss_gb_by_phase": phases,
        "peak_rss_gb_getrusage": peak_getrusage,
        "peak_rss_gb_psutil": sampler.peak / 1e9,
        "bound_gb": BOUND_GB,
        "within_bound": peak_getrusage < BOUND_GB,
    }


def benchmark(folder=None, model="resnet20", steps=20, test_limit=2000, env=None):
    """Run :func:`workload` in a fresh process and return its figures."""
    return run_module(
        "benchmarks.memory_cifar10",
        ["--data-dir", data_dir(folder), "--model", model, "--steps", steps, "--test-limit", test_limit],
        env=env,
    )


def main(argv=None):
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--model", default="resnet20")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--test-limit", type=int, default=2000)
    args = p.parse_args(argv)
    result = workload(data_dir(args.data_dir), args.model, args.steps, test_limit=args.test_limit)
    result["environment"] = environment()
    emit_result(result)


if __name__ == "__main__":
    main()
