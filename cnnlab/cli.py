"""The ``cnnlab`` command: argparse subcommands over the floors below.

``cnnlab`` with no subcommand opens the desktop lab (``gui``). Every subcommand turns a user error
(missing data, a bad spec, a bad checkpoint, a file that cannot be written) into one readable line on
stderr and a non-zero exit code; a traceback is shown only with ``--debug``. Numbers that cannot work
(NaN, infinities, negative counts) are refused while the arguments are parsed.
"""

from __future__ import annotations

import argparse
import math
import sys

from cnnlab import __version__

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 70  # a bug in cnnlab: said in one line too, the traceback only with --debug


class UserError(Exception):
    """A problem the user can fix; printed as one line, never as a traceback."""


def whole_arg(minimum: int):
    """An argparse ``type``: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def real_arg(*, minimum: float | None = None, above: float | None = None, below: float | None = None):
    """An argparse ``type``: a finite number within the bounds given (NaN and infinities refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g}, got {value:g}")
        if above is not None and value <= above:
            raise argparse.ArgumentTypeError(f"must be above {above:g}, got {value:g}")
        if below is not None and value >= below:
            raise argparse.ArgumentTypeError(f"must be below {below:g}, got {value:g}")
        return value

    return parse


class _Parser(argparse.ArgumentParser):
    """argparse, whose refusals are one line like every other error (the usage is one --help away)."""

    def error(self, message: str):
        self.exit(EXIT_USER_ERROR, f"cnnlab: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cnnlab",
        description="A desktop lab for watching a from-scratch NumPy CNN learn.",
    )
    parser.add_argument("--version", action="version", version=f"cnnlab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument(
        "--blas-threads",
        type=whole_arg(1),
        default=1,
        metavar="N",
        help="threads for NumPy's BLAS (default 1; see 'cnnlab bench' before raising it)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the desktop lab (the default)")
    gui.add_argument("--self-test", action="store_true", help="open, train, classify, exit 0 if all worked")
    add_data_dir_argument(gui)
    gui.set_defaults(func=_run_gui)

    bench = sub.add_parser(
        "bench",
        help="measure training and inference speed of the engine",
        description="Measures cnnlab, a careful plain-NumPy seed net and (--torch) PyTorch eager in one "
        "process, in turns, and prints medians and ranges over the rounds.",
    )
    bench.add_argument("--json", action="store_true", help="print one JSON object per measurement")
    bench.add_argument(
        "--nets", nargs="+", default=["seed", "mnist99"], help="presets to measure (default seed mnist99)"
    )
    bench.add_argument(
        "--batches", nargs="+", type=whole_arg(1), default=[64], help="batch sizes to train at (default 64)"
    )
    bench.add_argument(
        "--infer-batches",
        nargs="+",
        type=whole_arg(1),
        default=[1, 1000],
        help="batch sizes to infer at (default 1 1000)",
    )
    bench.add_argument(
        "--seconds", type=real_arg(above=0.0), default=2.0, help="time each engine gets per measurement"
    )
    bench.add_argument(
        "--torch", action="store_true", help="also measure PyTorch eager, if installed (not a dependency)"
    )
    bench.add_argument(
        "--torch-threads",
        nargs="+",
        type=whole_arg(1),
        default=None,
        metavar="N",
        help="PyTorch's thread counts (default 1 and every core)",
    )
    bench.set_defaults(func=_run_bench)

    _add_data_parser(sub)
    _add_training_parsers(sub)
    return parser


def _run_gui(args: argparse.Namespace) -> int:
    # The app floor is imported only here, so headless commands never load Qt.
    try:
        from cnnlab.app.main import run_app
    except ImportError as exc:  # pragma: no cover - Qt missing or broken in this installation
        raise UserError(f"the desktop app cannot start ({exc}); 'cnnlab train' works without it") from exc
    return run_app(self_test=getattr(args, "self_test", False), data_dir=getattr(args, "data_dir", None))


def _run_bench(args: argparse.Namespace) -> int:
    from cnnlab.training.bench import run_bench

    return run_bench(
        nets=args.nets,
        batches=args.batches,
        seconds=args.seconds,
        as_json=args.json,
        torch=args.torch,
        infer_batches=args.infer_batches,
        torch_threads=args.torch_threads,
    )


def add_data_dir_argument(parser: argparse.ArgumentParser, help_text: str | None = None) -> None:
    """``--data-dir DIR``: the folder holding ``mnist/``, ``fashion-mnist/`` (for data, train, eval)."""
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help=help_text
        or "folder holding mnist/ and fashion-mnist/ (searched before $CNNLAB_DATA_DIR and the cache)",
    )


def _add_data_parser(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="show where the datasets are, or download one")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    status = data_sub.add_parser(
        "status",
        help="list each dataset, where it was found, and its checksums",
        description="Exit status 1 when a dataset is damaged or unreadable, or when a dataset named here "
        "is not found; a dataset that was simply never downloaded is not an error unless named.",
    )
    status.add_argument("names", nargs="*", metavar="NAME", help="only these datasets (default: all)")
    add_data_dir_argument(status)
    status.add_argument("--no-verify", action="store_true", help="skip the SHA-256 checks (faster)")
    status.set_defaults(func=_run_data_status)
    fetch = data_sub.add_parser("fetch", help="download a dataset from its mirrors (Ctrl+C cancels)")
    fetch.add_argument("name", metavar="NAME", help="the dataset: mnist or fashion-mnist")
    add_data_dir_argument(fetch, help_text="download into DIR/NAME/ instead of the user cache")
    fetch.set_defaults(func=_run_data_fetch)
    bench = data_sub.add_parser("bench", help="time the data floor: IDX reading, preprocessing, augmentation")
    add_data_dir_argument(bench)
    bench.set_defaults(func=_run_data_bench)


def _run_data_status(args: argparse.Namespace) -> int:
    from cnnlab.data import datasets, status

    registry = {name: datasets.get_info(name) for name in args.names} if args.names else None
    rows = status(args.data_dir, verify=not args.no_verify, datasets=registry)
    unusable = False
    for row in rows:
        print(f"{row.info.name}: {row.info.title}")
        res = row.resolution
        if row.info.is_synthetic:
            print("  generated in memory, always available")
            continue
        if not res.found:
            unusable |= bool(args.names) or not row.absent
            print("  not found; looked in:")
            for place in res.looked:
                print(f"    {place.describe()}")
            print(f"  get it with: cnnlab data fetch {row.info.name}")
            continue
        print(f"  found in {res.describe()}")
        if row.checksums == "ok":
            print(f"  checksums: ok ({len(row.files)} files, SHA-256 verified)")
        elif row.checksums == "unchecked":
            print(f"  checksums: not checked ({len(row.files)} files present, sizes ok)")
        else:
            unusable = True
            print("  checksums: BAD")
            for f in row.files:
                if f.state not in ("ok", "unchecked"):
                    print(f"    {f.filename}: {f.detail}")
            print(f"  delete the bad files and run: cnnlab data fetch {row.info.name}")
    return 1 if unusable else 0


def _run_data_bench(args: argparse.Namespace) -> int:
    from cnnlab.data.bench import run_data_bench

    return run_data_bench(args.data_dir)


def _run_data_fetch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cnnlab.data import DownloadCancelled, DownloadProgress, fetch, resolve

    bars: dict[str, tqdm] = {}

    def show(report: DownloadProgress) -> None:
        if report.note:
            tqdm.write(f"cnnlab: {report.note}", file=sys.stderr)
        bar = bars.get(report.file)
        if bar is None:
            desc = f"{report.file} ({report.file_index + 1}/{report.file_count})"
            bar = bars[report.file] = tqdm(
                total=report.bytes_total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc
            )
        bar.n = report.bytes_done  # a retry on the next mirror starts again from 0
        bar.refresh()

    try:
        folder = fetch(args.name, args.data_dir, progress=show)
    except KeyboardInterrupt:
        raise DownloadCancelled(f"download of {args.name} cancelled; nothing partial was kept") from None
    finally:
        for bar in bars.values():
            bar.close()
    print(f"{args.name} is ready in {folder}")
    if args.data_dir is not None and resolve(args.name).folder != folder:
        print(f"to use it, pass --data-dir {args.data_dir} or set CNNLAB_DATA_DIR={args.data_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a refused argument (already said in one line)
        return exc.code if isinstance(exc.code, int) else EXIT_USER_ERROR
    if args.command is None:
        args.func, args.self_test = _run_gui, False
    from cnnlab.training.blas import limit_blas_threads

    limit_blas_threads(args.blas_threads)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("cnnlab: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as exc:
        if args.debug:
            raise
        print(f"cnnlab: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as exc:  # a bug: still one line for the user, the traceback with --debug
        if args.debug:
            raise
        print(
            f"cnnlab: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(run again with --debug to see where, and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


def _one_line(exc: BaseException, limit: int = 500) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _user_errors() -> tuple[type[BaseException], ...]:
    """Every floor's "you can fix this" error, reported as one line."""
    from cnnlab.data import DataError
    from cnnlab.engine import CheckpointError, SpecError
    from cnnlab.training import ConfigError, RunError, WriteError

    return (UserError, SpecError, CheckpointError, DataError, ConfigError, RunError, WriteError)


# -- train, eval, predict: the work is in cnnlab.training.headless; printing stays here -------------------


def _add_training_parsers(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser(
        "train",
        help="train a network headless: a progress bar per epoch, a table, the test figures",
        description="Train a network on a dataset. Without --lr and friends, each preset gets the settings "
        "recommended for it. Ctrl+C stops after the current step and still saves.",
    )
    net = train.add_mutually_exclusive_group()
    net.add_argument("--preset", metavar="NAME", help="seed (default), fc-baseline, lenet5 or mnist99")
    net.add_argument("--spec", metavar="FILE", help="a network spec JSON file instead of a preset")
    train.add_argument("--dataset", metavar="NAME", help="mnist (default), fashion-mnist or synthetic")
    train.add_argument(
        "--epochs", type=whole_arg(1), metavar="N", help="epochs to train (resuming: the new total)"
    )
    train.add_argument("--optimizer", metavar="NAME", help="sgd, adam or adamw")
    train.add_argument("--lr", type=real_arg(above=0.0), metavar="RATE", help="base learning rate")
    train.add_argument("--momentum", type=real_arg(minimum=0.0, below=1.0), help="SGD momentum (Adam: beta1)")
    train.add_argument("--weight-decay", type=real_arg(minimum=0.0), metavar="DECAY", help="L2 weight decay")
    train.add_argument("--batch-size", type=whole_arg(1), metavar="N", help="images per step")
    train.add_argument("--schedule", metavar="NAME", help="constant, cosine or step")
    train.add_argument("--seed", type=whole_arg(0), help="random seed: the same seed gives the same run")
    train.add_argument(
        "--augment", action=argparse.BooleanOptionalAction, default=None, help="random shifts and rotations"
    )
    add_data_dir_argument(train)
    train.add_argument("--out", metavar="DIR", help="write checkpoint.npz and metrics.json into DIR")
    train.add_argument("--resume", metavar="CHECKPOINT", help="continue a run from its checkpoint")
    train.add_argument(
        "--limit", type=whole_arg(1), metavar="N", help="train on the first N images only (quick runs)"
    )
    train.add_argument("--name", help="the run's name in the runs history")
    train.add_argument("--no-record", action="store_true", help="do not keep this run in the runs history")
    _add_budget_arguments(train)
    train.set_defaults(func=_run_train)

    ev = sub.add_parser("eval", help="test a checkpoint: accuracy, per-class accuracy, confusion matrix")
    ev.add_argument("checkpoint", metavar="CHECKPOINT")
    ev.add_argument("--dataset", metavar="NAME", help="default: the dataset it was trained on")
    add_data_dir_argument(ev)
    ev.add_argument("--limit", type=whole_arg(1), metavar="N", help="use the first N test images only")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    _add_budget_arguments(ev)
    ev.set_defaults(func=_run_eval)

    pr = sub.add_parser("predict", help="classify image files (PNG, JPEG) with a checkpoint")
    pr.add_argument("checkpoint", metavar="CHECKPOINT")
    pr.add_argument("images", metavar="IMAGE", nargs="+")
    pr.add_argument(
        "--top", type=whole_arg(1), default=3, metavar="K", help="how many classes to show (default 3)"
    )
    pr.add_argument("--json", action="store_true", help="print one JSON list")
    _add_budget_arguments(pr)
    pr.set_defaults(func=_run_predict)


def _add_budget_arguments(parser: argparse.ArgumentParser) -> None:
    """How large a network read from a file may be; a larger one is refused before anything is built."""
    parser.add_argument(
        "--max-params",
        type=_positive_int,
        metavar="N",
        help="allow networks of up to N parameters (default 50M)",
    )
    parser.add_argument(
        "--max-activation-mib",
        type=_positive_int,
        metavar="MIB",
        help="allow one training step (at batch 64, or --batch-size) to hold up to MIB MiB of activations "
        "(default 1024)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _budget(args: argparse.Namespace):
    from cnnlab.engine import Budget

    mib = args.max_activation_mib
    return Budget(
        args.max_params or Budget.max_params,
        (mib << 20) if mib else Budget.max_activation_bytes,
        getattr(args, "batch_size", None) or Budget.batch_size,
    )


def _run_train(args: argparse.Namespace) -> int:
    import signal
    import threading

    from tqdm import tqdm

    from cnnlab.engine import load_checkpoint
    from cnnlab.training import RunRecorder, RunStore, TrainingSession, headless
    from cnnlab.training.files import WriteError, write_json

    budget = _budget(args)
    resume = load_checkpoint(args.resume, budget) if args.resume else None
    spec = headless.load_spec(args.preset, args.spec, budget) if (args.preset or args.spec) else None
    config = headless.make_config(
        spec,
        args.dataset,
        resume=resume,
        epochs=args.epochs,
        optimizer=args.optimizer,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
        schedule=args.schedule,
        seed=args.seed,
        augment=args.augment,
        data_dir=args.data_dir,
        train_limit=args.limit,
    )
    dataset = headless.load_data(config.dataset, config.data_dir)
    out = headless.prepare_out(args.out) if args.out else None
    session = TrainingSession(
        config,
        dataset,
        checkpoint=resume,
        checkpoint_path=out / "checkpoint.npz" if out else None,
        budget=budget,
    )
    recorder = None if args.no_record else RunRecorder(RunStore(), name=args.name, session=session)

    n_train = min(len(dataset.train_images), config.train_limit or len(dataset.train_images))
    print(
        f"Training {config.spec.name or 'a custom net'} ({config.spec.num_params():,} parameters) on "
        f"{dataset.name}: {n_train:,} training and {len(dataset.test_images):,} test images from "
        f"{dataset.source}"
    )
    print(f"Settings: {_describe_settings(config)}")
    if resume is not None:
        where = f"step {session.step_count}, epoch {session.epoch + 1}"
        print(f"Resuming from {args.resume} at {where if session.step_count else 'its weights'}")
        if session.epoch >= config.epochs:
            print(f"That run had already done its {config.epochs} epochs: pass --epochs N to train on")

    interrupted = []

    def on_interrupt(signum, frame) -> None:
        if interrupted:  # a second Ctrl+C: stop waiting for the step to end
            raise KeyboardInterrupt
        interrupted.append(True)
        session.stop()
        tqdm.write("Stopping after this step (Ctrl+C again to quit at once)...", file=sys.stderr)

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_interrupt) if in_main else None
    printer = _TrainPrinter(tqdm)
    last = None
    try:
        for snap in session.run():
            last = snap
            if recorder is not None:
                recorder.observe(snap)
            printer.show(snap)
    finally:
        printer.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

    # The last snapshot holds the full test figures only when the run ended at an epoch's end.
    tested = last.confusion is not None and int(last.confusion.sum()) == len(dataset.test_images)
    if last.event == "finished" and last.test_accuracy is not None and tested:
        evaluation = headless.Evaluation(
            accuracy=last.test_accuracy,
            loss=float(last.history.test_loss[-1]) if len(last.history.epoch_steps) else float("nan"),
            per_class_accuracy=last.per_class_accuracy,
            confusion=last.confusion,
            class_names=last.class_names,
            count=len(dataset.test_images),
        )
    else:  # stopped or diverged in the middle of an epoch: test the network as it is now
        evaluation = headless.evaluate(session.network, dataset)
    print(last.message)
    _print_evaluation(evaluation)

    code = 0
    if last.event == "diverged":
        code = 1
    elif interrupted:
        code = 130
    if "checkpoint_error" in last.extra:
        print(f"cnnlab: error: {last.extra['checkpoint_error']}", file=sys.stderr)
        code = code or 1
    record = None
    if recorder is not None:
        recorder.annotate(
            test_accuracy=evaluation.accuracy,
            per_class_accuracy=evaluation.per_class_accuracy,
            confusion=evaluation.confusion,
        )
        if recorder.error:
            print(f"cnnlab: warning: {recorder.error}", file=sys.stderr)
        elif recorder.path is not None:
            record = str(recorder.path)
    if out is not None:
        report = headless.metrics_report(last, evaluation, run_record=record)
        try:
            write_json(out / "metrics.json", report, one_line_values=True)
        except WriteError as exc:  # the run's figures were printed above: nothing else is lost
            print(f"cnnlab: error: {exc}", file=sys.stderr)
            code = code or 1
        else:
            saved = "checkpoint.npz and metrics.json" if "checkpoint" in last.extra else "metrics.json"
            print(f"Saved {saved} in {out}")
    if record is not None:
        print(f"Run recorded in {record}")
    return code


class _TrainPrinter:
    """A tqdm bar for the epoch under way (on a terminal only) and a table row at each epoch end."""

    def __init__(self, tqdm) -> None:
        self.tqdm = tqdm
        self.bar = None
        self.header_done = False

    def show(self, snap) -> None:
        if snap.running and snap.event != "epoch_end" and snap.epoch < snap.epochs:
            self._update_bar(snap)
        if snap.event == "epoch_end" or not snap.running:
            self.close()
        if snap.event == "epoch_end":
            self._print_row(snap)

    def _update_bar(self, snap) -> None:
        if self.bar is None:
            self.bar = self.tqdm(
                total=snap.steps_per_epoch,
                desc=f"epoch {snap.epoch + 1}/{snap.epochs}",
                unit="step",
                leave=False,
                disable=None,
                file=sys.stderr,
                dynamic_ncols=True,
            )
        self.bar.total = snap.steps_per_epoch
        self.bar.n = snap.step_in_epoch
        postfix = {}
        if snap.loss_smooth is not None:
            postfix["loss"] = f"{snap.loss_smooth:.4f}"
        if snap.train_accuracy is not None:
            postfix["acc"] = f"{snap.train_accuracy:.2%}"
        postfix["img/s"] = f"{snap.images_per_s:,.0f}"
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.refresh()

    def _print_row(self, snap) -> None:
        if not self.header_done:
            titles = ("epoch", "train loss", "train acc", "test acc", "time", "img/s")
            print("  ".join(f"{t:>{w}}" for t, w in zip(titles, _TABLE_WIDTHS, strict=True)))
            self.header_done = True
        h = snap.history
        cells = (
            f"{snap.epoch}",
            f"{h.epoch_train_loss[-1]:.4f}",
            f"{h.epoch_train_accuracy[-1]:.2%}",
            f"{h.test_accuracy[-1]:.2%}",
            f"{h.epoch_seconds[-1]:.1f}s",
            f"{snap.images_per_s:,.0f}",
        )
        print("  ".join(f"{c:>{w}}" for c, w in zip(cells, _TABLE_WIDTHS, strict=True)), flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


_TABLE_WIDTHS = (5, 10, 9, 8, 8, 8)


def _describe_settings(config) -> str:
    parts = [f"{config.optimizer.upper() if config.optimizer == 'sgd' else config.optimizer}"]
    parts.append(f"lr {config.lr:g} ({config.schedule})")
    if config.optimizer == "sgd":
        parts.append(f"momentum {config.momentum:g}")
    if config.weight_decay:
        parts.append(f"weight decay {config.weight_decay:g}")
    parts.append(f"batch {config.batch_size}")
    parts.append(f"{config.epochs} epoch{'s' if config.epochs != 1 else ''}")
    if config.augment:
        parts.append("augmentation on")
    parts.append(f"seed {config.seed}")
    return ", ".join(parts)


def _print_evaluation(evaluation) -> None:
    import math

    names = evaluation.class_names
    print(f"Test accuracy: {evaluation.accuracy:.2%} on {evaluation.count:,} images")
    print("Per-class accuracy:")
    named = any(name != str(i) for i, name in enumerate(names))
    width = max(len(name) for name in names) if named else 0
    for i, (name, acc) in enumerate(zip(names, evaluation.per_class_accuracy, strict=True)):
        shown = "    n/a" if not math.isfinite(acc) else f"{acc:7.2%}"
        label = f" {name:<{width}}" if named else ""
        print(f"  {i:>2}{label} {shown}")
    print("Confusion matrix (rows: true class, columns: predicted):")
    cells = max(4, len(str(int(evaluation.confusion.max()))) + 1)
    print("    " + "".join(f"{i:>{cells}}" for i in range(len(names))))
    for i, row in enumerate(evaluation.confusion):
        print(f"  {i:>2}" + "".join(f"{int(v):>{cells}}" for v in row))


def _run_eval(args: argparse.Namespace) -> int:
    import json

    from cnnlab.engine import load_checkpoint
    from cnnlab.training import headless

    checkpoint = load_checkpoint(args.checkpoint, _budget(args))
    name = args.dataset or headless.checkpoint_dataset(checkpoint)
    dataset = headless.load_data(name, args.data_dir)
    evaluation = headless.evaluate(checkpoint.build_network(), dataset, limit=args.limit)
    if args.json:
        print(json.dumps({"checkpoint": args.checkpoint, "dataset": dataset.name, **evaluation.to_dict()}))
        return 0
    print(f"{args.checkpoint}: {checkpoint.spec.name or 'custom net'} on {dataset.name} ({dataset.source})")
    _print_evaluation(evaluation)
    return 0


def _run_predict(args: argparse.Namespace) -> int:
    import json

    from cnnlab.engine import load_checkpoint
    from cnnlab.training import headless

    checkpoint = load_checkpoint(args.checkpoint, _budget(args))
    if args.top < 1:
        raise UserError(f"--top must be at least 1, got {args.top}")
    images = [_read_image(path) for path in args.images]
    predictions = headless.classify(
        checkpoint.build_network(),
        images,
        headless.checkpoint_class_names(checkpoint),
        sources=args.images,
        top=args.top,
    )
    if args.json:
        print(json.dumps([p.to_dict() for p in predictions]))
        return 0
    for p in predictions:
        ranked = ", ".join(f"{name} ({prob:.1%})" for _, name, prob in p.top)
        print(f"{p.source}: {ranked}")
    return 0


def _read_image(path: str):
    """An image file as a NumPy array (H, W, 4) uint8 RGBA, decoded by Qt (imported only here); the data
    floor's ``prepare_image`` handles alpha, polarity and framing, as for the app's Open image."""
    from pathlib import Path

    import numpy as np
    from PySide6.QtGui import QImage

    if not Path(path).is_file():
        raise UserError(f"{path}: no such image file")
    image = QImage(str(path))
    if image.isNull():
        raise UserError(f"{path}: cannot read the image (not a PNG or JPEG file, or damaged)")
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    h, w, stride = rgba.height(), rgba.width(), rgba.bytesPerLine()
    pixels = np.frombuffer(rgba.constBits(), dtype=np.uint8, count=stride * h)
    return pixels.reshape(h, stride)[:, : w * 4].reshape(h, w, 4).copy()
