"""The command line: ``python -m toolkit {run,list,tour,report,index}``.

The backend is chosen before Keras is first imported (``--backend`` or ``KERAS_BACKEND``).
Bad input prints one line, ``error: ...``, and exits with status 2; no traceback.
"""

import argparse
import os
import sys

EPILOG = """examples:
  python -m toolkit list                         the experiments and the slides they cover
  python -m toolkit run ae-mnist --quick         one experiment, quick form (minutes on a CPU)
  python -m toolkit run cnn-mnist --epochs 3 --set batch_size=64 --data-dir ./data
  python -m toolkit run zoo-cifar10 --device gpu --backend jax --set mixed_precision=true
  python -m toolkit tour                         every experiment, quick form (the demo)
  python -m toolkit launch --processes 2 run cnn-mnist --quick   one run as 2 local processes
  python -m toolkit report reports/ae-mnist/20261128-101500   rebuild a report from its folder

Data: --data-dir (or TOOLKIT_DATA_DIR) is a folder laid out by ../shared/data/prepare.py
(mnist/, cifar-10-batches-bin/). Results: --out/<experiment>/<run-id>/report.html and
--out/index.html."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"error: {message} (see python -m toolkit --help)\n")


def build_parser():
    parser = _Parser(
        prog="python -m toolkit",
        description=(
            "Run the lecture's experiments (autoencoders, greedy pretraining, activations and "
            "vanishing gradients, filters, CNNs, augmentation, the model zoo) and write reports."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(
        dest="command", metavar="{run,launch,list,tour,report,index,results}", parser_class=_Parser
    )

    def common(p):
        p.add_argument("--device", default="cpu", help="cpu or gpu; gpu fails at once when no GPU is seen")
        p.add_argument("--devices", default=None, help="'all': data-parallel over every local device (JAX)")
        p.add_argument("--backend", default=None, help="tensorflow (default) or jax; else $KERAS_BACKEND")
        p.add_argument("--data-dir", default=None, help="folder made by prepare.py (else $TOOLKIT_DATA_DIR)")
        p.add_argument("--out", default="reports", help="reports root folder (default: reports)")

    run = sub.add_parser(
        "run", help="run one or more experiments", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    run.add_argument("experiments", nargs="+", metavar="EXPERIMENT", help="name(s) from `list`")
    run.add_argument("--quick", action="store_true", help="the quick variant (minutes on 2 CPU cores)")
    run.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field (repeatable), e.g. --set batch_size=64",
    )
    run.add_argument("--resume", action="store_true", help="continue the newest unfinished run of the same config")
    run.add_argument(
        "--tensorboard",
        action="store_true",
        help="TensorBoard logs of every fit in <run folder>/tensorboard/<label> (tensorboard --logdir REPORTS)",
    )
    common(run)
    run.add_argument("--seed", type=int, default=None, help="seed of everything in the run (default: the config's)")
    group = run.add_argument_group(
        "several processes (one machine or many; see README). Unset: $KERAS_DISTRIBUTION_JOB_ADDRESSES, "
        "$KERAS_DISTRIBUTION_NUM_PROCESSES, $KERAS_DISTRIBUTION_PROCESS_ID, or $TF_CONFIG"
    )
    group.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT[,...]",
        help="JAX: process 0's HOST:PORT; TensorFlow: every process's, comma-separated",
    )
    group.add_argument("--num-processes", type=int, default=None, metavar="N", help="how many processes run")
    group.add_argument("--process-id", type=int, default=None, metavar="I", help="this process, 0..N-1")
    group.add_argument(
        "--peer-timeout",
        type=int,
        default=None,
        metavar="S",
        help="seconds a process waits for a silent peer before it stops (default 120)",
    )
    launch = sub.add_parser(
        "launch",
        help="start one run as N local processes: launch --processes N run EXPERIMENT ...",
        description="Start `python -m toolkit run ...` as N local processes of one data-parallel run.",
    )
    launch.add_argument("--processes", type=int, required=True, metavar="N", help="how many processes")
    launch.add_argument("--backend", default=None, help="tensorflow (default) or jax; else $KERAS_BACKEND")
    launch.add_argument("command_args", nargs=argparse.REMAINDER, metavar="run EXPERIMENT ...")
    lst = sub.add_parser("list", help="list the experiments (--names: names only, for scripts and the Makefile)")
    lst.add_argument("--names", action="store_true", help="one name per line, nothing else")
    lst.add_argument("--dataset", default=None, help="only the experiments on this dataset (mnist, cifar10)")
    tour = sub.add_parser(
        "tour", help="every experiment in its quick form; real data when found, the embedded 'shapes' dataset otherwise"
    )
    tour.add_argument("--seed", type=int, default=None, help="seed of every run of the tour (default: the config's)")
    common(tour)
    rep = sub.add_parser("report", help="rebuild report.md/html of a run folder")
    rep.add_argument("run_dir")
    idx = sub.add_parser("index", help="rebuild index.html of a reports folder")
    idx.add_argument("out", nargs="?", default="reports")
    res = sub.add_parser("results", help="markdown table of the newest complete run of each experiment")
    res.add_argument("out", nargs="?", default="reports")
    return parser


def _set_backend(args):
    backend = getattr(args, "backend", None) or os.environ.get("KERAS_BACKEND") or "tensorflow"
    if backend not in ("tensorflow", "jax", "torch"):
        raise _UserError(f"unknown backend {backend!r}; valid: tensorflow, jax, torch")
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != backend:
        raise _UserError(f"keras is already imported with another backend; set KERAS_BACKEND={backend} instead")
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class _UserError(Exception):
    pass


def _import_keras_quietly():
    """Import Keras (and so TensorFlow) with the C++ start-up chatter that TensorFlow writes
    straight to file descriptor 2 held back; shown only if the import fails."""
    import tempfile

    if "keras" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import keras  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _resolve_data_dir(args, tour=False):
    data_dir = args.data_dir or os.environ.get("TOOLKIT_DATA_DIR") or None
    if data_dir and not os.path.isdir(data_dir):
        if tour:
            print(f"tour: data folder {data_dir} not found; using the embedded 'shapes' dataset", flush=True)
            return None
        raise _UserError(
            f"--data-dir {data_dir} does not exist; create it with "
            f"`python3 ../shared/data/prepare.py {data_dir}` or pass an existing folder"
        )
    return data_dir


def cmd_list(names_only=False, dataset=None):
    _import_keras_quietly()
    from toolkit.runs.experiment import get_experiment, list_experiments

    for name in list_experiments(dataset):
        exp = get_experiment(name)
        print(name if names_only else f"{name:18s} slides {exp.slides:9s} {exp.title}")
    return 0


def _run_many(
    names, args, use_quick, overrides=(), epochs=None, resume=False, fallback=False, data_dir=None, seed=None
):
    import matplotlib

    matplotlib.use("Agg")  # runs write figures to files; a library import never picks the backend
    _import_keras_quietly()
    from toolkit.runs.execute import run_experiment
    from toolkit.runs.experiment import get_experiment
    from toolkit.runs.spec import resolve_config

    experiments = [get_experiment(n) for n in names]  # every name checked before anything runs
    if seed is not None:
        overrides = [*overrides, f"seed={seed}"]
    configs = [resolve_config(exp, use_quick, overrides, epochs) for exp in experiments]
    done = []
    for i, (exp, config) in enumerate(zip(experiments, configs), 1):
        print(
            f"\n=== experiment {i}/{len(experiments)}: {exp.name} (slides {exp.slides})"
            f"{' [quick]' if use_quick else ''} ===",
            flush=True,
        )
        run_dir = run_experiment(
            exp,
            config,
            out_root=args.out,
            device=args.device,
            resume=resume,
            fallback_data=fallback,
            devices=args.devices,
            data_dir=data_dir,
            tensorboard=getattr(args, "tensorboard", False),
            coordinator=getattr(args, "coordinator", None),
            num_processes=getattr(args, "num_processes", None),
            process_id=getattr(args, "process_id", None),
            peer_timeout=getattr(args, "peer_timeout", None),
        )
        if run_dir is None:  # not process 0 of a multi-process run: process 0 writes
            print("done (process 0 writes the run folder)", flush=True)
            continue
        print(f"report: {os.path.join(run_dir, 'report.html')}", flush=True)
        done.append(run_dir)
    if done:
        print(f"\nindex: {os.path.join(os.path.abspath(args.out), 'index.html')}")
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        _set_backend(args)
        from toolkit.errors import ToolkitError

        try:
            if args.command == "list":
                return cmd_list(args.names, args.dataset)
            if args.command == "launch":
                from toolkit.launch import launch

                return launch(args.processes, args.command_args)
            if args.command == "report":
                from toolkit.reports import write_report

                if not os.path.isfile(os.path.join(args.run_dir, "report.json")):
                    raise _UserError(f"{args.run_dir} is not a finished or failed run folder (no report.json)")
                print(write_report(args.run_dir))
                return 0
            if args.command == "index":
                from toolkit.reports import write_index

                print(write_index(args.out))
                return 0
            if args.command == "results":
                from toolkit.reports import results_markdown

                print(results_markdown(args.out))
                return 0
            if args.command == "run":
                if args.epochs is not None and args.epochs < 1:
                    raise _UserError(f"--epochs must be >= 1; received {args.epochs}")
                return _run_many(
                    args.experiments,
                    args,
                    args.quick,
                    args.set,
                    args.epochs,
                    args.resume,
                    data_dir=_resolve_data_dir(args),
                    seed=args.seed,
                )
            if args.command == "tour":
                _import_keras_quietly()
                from toolkit.runs.experiment import list_experiments

                data_dir = _resolve_data_dir(args, tour=True)
                return _run_many(list_experiments(), args, True, fallback=True, data_dir=data_dir, seed=args.seed)
        except ToolkitError as exc:
            print(f"error: {exc}", file=sys.stderr)
            _leave_if_multi_process(2)
            return 2
    except _UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        if type(exc).__name__ == "_Terminated":  # SIGTERM during a run (toolkit.runs.execute)
            print("error: terminated (SIGTERM); rerun with --resume to continue", file=sys.stderr)
            _leave_if_multi_process(128 + 15)
            return 128 + 15
        print("interrupted; rerun with --resume to continue", file=sys.stderr)
        _leave_if_multi_process(130)
        return 130
    except OSError as exc:
        # a full disk or an unwritable folder reached by a path that did not say so itself:
        # one line, not a traceback (other OS errors are bugs, and keep theirs)
        message = _os_error_line(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0


def _leave_if_multi_process(code):
    """A failed process of a multi-process run leaves at once, its record written: a normal
    exit would wait in JAX's shutdown barrier for the peers (a dead one never comes; JAX then
    aborts with a stack dump after the heartbeat timeout)."""
    parallel = sys.modules.get("toolkit.parallel")
    if parallel is not None and parallel.current().multi_process:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _os_error_line(exc):
    from toolkit import fileio

    disk = fileio.write_oserror(exc)
    if disk is None:
        return None
    fileio.release_failed_writes(exc)
    return str(fileio.describe_write_error(disk))
