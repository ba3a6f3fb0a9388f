"""Shared test settings: markers, the real-data fixture, quiet TensorFlow.

- ``@pytest.mark.slow``: skipped unless ``--run-slow``.
- ``@pytest.mark.data``: use the ``data_dir`` fixture; skipped with a reason when the real
  datasets are absent (``TOOLKIT_DATA_DIR`` unset or empty).
- ``@pytest.mark.backends``: backend-sensitive tests; ``make test`` runs them again under
  ``KERAS_BACKEND=jax``.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")

# Under pytest-xdist each worker gets its share of the cores for TensorFlow's thread pools
# (and hands it to the processes it starts): with two workers on two cores, pools of two
# threads each spin against each other. Measured on the quick-run tests of five experiments,
# -n 2: 110 s wall / 182 CPU-s with one thread per worker against 126 s / 222 CPU-s.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
if _workers > 1:
    _share = str(max(1, (os.cpu_count() or 1) // _workers))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", _share)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", _share)

import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    return f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND')} TOOLKIT_DATA_DIR={os.environ.get('TOOLKIT_DATA_DIR')}"


@pytest.fixture(scope="session")
def data_dir():
    """The folder made by ../shared/data/prepare.py, or skip."""
    path = os.environ.get("TOOLKIT_DATA_DIR")
    if not path or not os.path.isdir(path):
        pytest.skip("real datasets absent: set TOOLKIT_DATA_DIR to a folder made by ../shared/data/prepare.py")
    return path


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from a clear Keras session and fixed seeds."""
    import keras

    keras.backend.clear_session(free_memory=False)  # skip the gc pass: ~0.7 s a test
    keras.utils.set_random_seed(0)
    yield
