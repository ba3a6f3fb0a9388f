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

import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="run tests marked slow")


# Seconds the longest tests took in `make test` (idle machine, 7e9c005/933dd0b): they are sent to the
# xdist workers first (`--dist load`), so none starts last and runs alone while the other
# worker idles. Order only: a test missing here runs after them, in collection order.
LONGEST = {
    "test_quick_variant_runs_and_reports[zoo-cifar10]": 149,
    "test_quick_variant_runs_and_reports[augment-cifar10]": 117,
    "test_quick_variant_runs_and_reports[pretrain-mnist]": 108,
    "test_two_processes_killed_resumed_and_finished_match_one_process": 63,
    "test_quick_variant_runs_and_reports[activations-mnist]": 55,
    "test_quick_variant_runs_and_reports[ae-mnist]": 52,
    "test_quick_variant_runs_and_reports[deep-ae-mnist]": 47,
    "test_quick_variant_runs_and_reports[cnn-mnist]": 32,
    "test_quick_variant_runs_and_reports[sparse-ae-mnist]": 32,
    "test_full_disk_mid_run_fails_in_one_line_keeps_the_record_and_resumes_identically": 23,
    "test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run": 23,
    "test_devices_all_mirrors_over_two_logical_cpus_on_tensorflow": 18,
}


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: -LONGEST.get(item.name, 0))  # stable: the rest keep their order
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
