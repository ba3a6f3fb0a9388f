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


# Seconds the longest tests took (idle machine, 2026-12-01; the smoke forms run alone, serially):
# they are sent to the xdist workers first (`--dist load`), so none starts last and runs alone
# while the other worker idles. Order only: a test missing here runs after them, in collection order.
LONGEST = {
    "test_two_processes_killed_resumed_and_finished_match_one_process": 88,
    "test_smoke_form_runs_and_reports[zoo-cifar10]": 26,
    "test_smoke_form_runs_and_reports[activations-mnist]": 28,
    "test_devices_all_mirrors_over_two_logical_cpus_on_tensorflow": 26,
    "test_full_disk_mid_run_fails_in_one_line_keeps_the_record_and_resumes_identically": 24,
    "test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run": 23,
    "test_sigterm_records_a_failed_run_that_resume_completes": 20,
    "test_resume_of_a_live_run_is_refused_naming_its_pid_then_works_after_sigkill": 19,
    "test_every_kind_round_trips_in_process_and_in_a_fresh_process": 19,
    "test_callback_on_a_users_sequential_beats_random_init_with_few_labels": 16,
    "test_both_devices_train_and_match_one_device": 15,
    "test_smoke_form_runs_and_reports[augment-cifar10]": 15,
    "test_smoke_form_runs_and_reports[pretrain-mnist]": 15,
    "test_every_model_trains_a_step_and_round_trips[resnet9]": 15,
    "test_cli_devices_all_runs_data_parallel": 14,
    "test_smoke_form_runs_and_reports[ae-mnist]": 13,
    "test_smoke_form_runs_and_reports[cnn-mnist]": 12,
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
