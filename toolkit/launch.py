"""``python -m toolkit launch --processes N run EXPERIMENT ...``: a multi-process run on this
machine, for trying the multi-process path and for the tests (:mod:`toolkit.parallel`).

It starts N copies of ``python -m toolkit run ...`` with the variables a cluster launcher
would set (``KERAS_DISTRIBUTION_JOB_ADDRESSES`` with free local ports, ``..._NUM_PROCESSES``,
``..._PROCESS_ID``), prints their output line by line prefixed with ``[i]``, and waits. When
one process exits with an error or is killed, the others are stopped (SIGTERM, then SIGKILL
after :data:`GRACE` seconds) and ``launch`` exits non-zero with one line saying which process
failed: a dead process never leaves the others waiting for it.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

from toolkit.errors import RunError
from toolkit.parallel import ADDRESSES_VAR, PROCESS_ID_VAR, PROCESSES_VAR

GRACE = 10  # seconds between SIGTERM and SIGKILL when the others are stopped
POLL = 0.2


def free_ports(count, host="127.0.0.1"):
    """``count`` ports free on ``host`` now (the OS picks them)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _relay(index, stream):
    for line in stream:
        sys.stdout.write(f"[{index}] {line}")
        sys.stdout.flush()
    stream.close()


def _stop(procs, grace=GRACE):
    """SIGTERM every live process (a run records itself as failed, resumable), then SIGKILL
    those still alive after ``grace`` seconds (stuck in a collective waiting for a dead peer)."""
    live = [p for p in procs if p.poll() is None]
    for p in live:
        with _quiet():
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(p.poll() is None for p in live):
        time.sleep(POLL)
    for p in live:
        if p.poll() is None:
            with _quiet():
                os.killpg(p.pid, signal.SIGKILL)
    for p in live:
        p.wait()


class _quiet:
    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        return kind is not None and issubclass(kind, ProcessLookupError)


def _describe(code):
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def launch(processes, command, host="127.0.0.1", grace=GRACE):
    """Run ``python -m toolkit <command>`` as ``processes`` local processes of one run; return
    the exit status (0 when every process succeeded)."""
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise RunError(f"--processes must be an integer >= 1; received {processes!r}")
    command = list(command)
    if command[:1] == ["--"]:
        command = command[1:]
    if command[:1] != ["run"] or len(command) < 2:
        raise RunError(
            f"launch starts a run: python -m toolkit launch --processes N run EXPERIMENT [options]; "
            f"received {' '.join(command) or 'nothing'}"
        )
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    ports = free_ports(processes if backend == "tensorflow" else 1, host)
    addresses = ",".join(f"{host}:{port}" for port in ports)
    procs, relays = [], []
    for index in range(processes):
        env = dict(os.environ)
        env.pop("TF_CONFIG", None)
        env.update({ADDRESSES_VAR: addresses, PROCESSES_VAR: str(processes), PROCESS_ID_VAR: str(index)})
        proc = subprocess.Popen(
            [sys.executable, "-m", "toolkit", *command],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # its own process group: stopped with whatever it started
        )
        print(f"launch: process {index} of {processes} is pid {proc.pid} ({backend}, {addresses})", flush=True)
        procs.append(proc)
        relay = threading.Thread(target=_relay, args=(index, proc.stdout), daemon=True)
        relay.start()
        relays.append(relay)
    try:
        while True:
            failed = [(i, p.returncode) for i, p in enumerate(procs) if p.poll() not in (None, 0)]
            if failed:
                # seen together: a killed process is the cause, the others' errors its effect
                index, code = min(failed, key=lambda f: (f[1] >= 0, f[0]))
                _stop(procs, grace)
                for relay in relays:
                    relay.join(timeout=5)
                print(
                    f"error: launch: process {index} {_describe(code)}; the run stopped (all {len(procs)} processes). "
                    "Rerun with --resume to continue from the last checkpoint",
                    file=sys.stderr,
                    flush=True,
                )
                return 1 if code < 0 else code
            if all(p.poll() == 0 for p in procs):
                for relay in relays:
                    relay.join(timeout=5)
                return 0
            time.sleep(POLL)
    except KeyboardInterrupt:
        _stop(procs, grace)
        print("interrupted; rerun with --resume to continue", file=sys.stderr)
        return 130


__all__ = ["launch", "free_ports", "GRACE"]
