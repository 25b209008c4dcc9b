"""The ``cnnlab`` command: argparse subcommands over the floors below.

``train`` trains one run, ``sweep`` one run per value of one setting (``--vary lr=0.001,0.01,0.1``), and
``runs list/show/export`` read the runs history that both record into (the same ``RunRecorder`` the app
uses).

``cnnlab`` with no subcommand opens the desktop lab (``gui``). Every subcommand turns a user error
(missing data, a bad spec, a bad checkpoint, a file that cannot be written) into one readable line on
stderr and a non-zero exit code; a traceback is shown only with ``--debug``. Numbers that cannot work
(NaN, infinities, negative counts) are refused while the arguments are parsed.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import TYPE_CHECKING

from cnnlab import __version__

if TYPE_CHECKING:
    from pathlib import Path

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
    gui.add_argument(
        "--startup-time",
        action="store_true",
        help="open the window, print how long after the process start it showed, and close it",
    )
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
    for flag, whose in (("--torch-threads", "PyTorch's thread"), ("--workers", "cnnlab's training worker")):
        bench.add_argument(
            flag, nargs="+", type=whole_arg(1), metavar="N", help=f"{whose} counts (default 1 and every core)"
        )
    bench.add_argument(
        "--ceiling",
        action="store_true",
        help="also train independent processes (one per worker, no communication) against one: the "
        "most several workers can reach on this machine",
    )
    bench.set_defaults(func=_run_bench)

    _add_data_parser(sub)
    _add_training_parsers(sub)
    _add_bridge_parsers(sub)
    return parser


def _run_gui(args: argparse.Namespace) -> int:
    # The app floor is imported only here, so headless commands never load Qt.
    try:
        from cnnlab.app.main import run_app
    except ImportError as exc:  # pragma: no cover - Qt missing or broken in this installation
        raise UserError(f"the desktop app cannot start ({exc}); 'cnnlab train' works without it") from exc
    return run_app(
        self_test=getattr(args, "self_test", False),
        data_dir=getattr(args, "data_dir", None),
        startup_time=getattr(args, "startup_time", False),
    )


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
        workers=args.workers,
        ceiling=args.ceiling,
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
    _add_mine_parsers(data_sub)


# -- your own digits (the dataset mine): it lives in $CNNLAB_MINE_DIR or the user data folder -------------

_MINE_WHERE = "Your digits live in $CNNLAB_MINE_DIR, else in the user data folder (see 'cnnlab data mine')."


def _add_mine_parsers(data_sub: argparse._SubParsersAction) -> None:
    add = data_sub.add_parser(
        "add-mine",
        help="add pictures of digits (PNG, JPEG) to your own digits, the dataset mine",
        description="Each picture is prepared MNIST-style by the same rule as the drawing pad (ink found, "
        "inverted if dark on light, framed 20x20 in 28x28); all are added or none. " + _MINE_WHERE,
    )
    add.add_argument("images", metavar="IMAGE", nargs="+")
    add.add_argument("--label", type=_digit_arg, required=True, metavar="D", help="the digit they show, 0-9")
    add.set_defaults(func=_run_data_add_mine)
    show = data_sub.add_parser(
        "mine", help="your own digits: samples per class and where they live", description=_MINE_WHERE
    )
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(func=_run_data_mine)
    export = data_sub.add_parser(
        "export-mine",
        help="write your digits as PNG files and as the IDX pair (plus samples.json) into DIR",
        description="DIR must be new or empty. " + _MINE_WHERE,
    )
    export.add_argument("folder", metavar="DIR")
    export.add_argument(
        "--layout",
        choices=("by-label", "named"),
        default="by-label",
        help="by-label: DIR/7/00012.png (default); named: DIR/00012_7.png",
    )
    export.set_defaults(func=_run_data_export_mine)
    imp = data_sub.add_parser(
        "import-mine",
        help="add the PNG/JPEG pictures of DIR (and its subfolders) to your digits",
        description="Labels come from a folder named 0-9 (DIR/7/x.png) or a name ending in _D (x_7.png), "
        "as export-mine writes them, or from --label. A 28x28 picture is taken as it is; other sizes are "
        "prepared like add-mine. All are added or none. " + _MINE_WHERE,
    )
    imp.add_argument("folder", metavar="DIR")
    imp.add_argument("--label", type=_digit_arg, metavar="D", help="give all of them this label")
    imp.set_defaults(func=_run_data_import_mine)


def _digit_arg(text: str) -> int:
    if text.strip() not in tuple("0123456789"):
        raise argparse.ArgumentTypeError(f"must be a digit 0-9, got {text!r}")
    return int(text)


def _run_data_add_mine(args: argparse.Namespace) -> int:
    from cnnlab.data import MineStore
    from cnnlab.data.mine import prepare_sample

    images = [prepare_sample(_read_image(path), path, keep_framing=False) for path in args.images]
    store = MineStore()
    ids = store.add_many(images, [args.label] * len(images), source="import")
    count = int(store.counts()[args.label])
    span = f"id {ids[0]}" if len(ids) == 1 else f"ids {ids[0]}-{ids[-1]}"
    plural = "s" if len(ids) != 1 else ""
    print(f"Added {len(ids)} picture{plural} of {args.label} ({span}) to {store.root}")
    print(f"{args.label} now has {count} sample{'s' if count != 1 else ''}")
    return 0


def _run_data_mine(args: argparse.Namespace) -> int:
    import json

    from cnnlab.data import MineStore

    store = MineStore()
    state = store.read()
    test = state.test_mask
    counts = state.counts()
    test_counts = [int(((state.labels == d) & test).sum()) for d in range(len(counts))]
    if args.json:
        report = {
            "dataset": "mine",
            "folder": str(store.root),
            "count": len(state),
            "train_count": int((~test).sum()),
            "test_count": int(test.sum()),
            "counts": [int(c) for c in counts],
            "test_counts": test_counts,
            "files": [str(store.root / name) for name in _mine_files()] if len(state) else [],
        }
        print(json.dumps(report))
        return 0
    if not len(state):
        print(f"Your digits: none yet; they will live in {store.root}")
        print(
            "Label digits on the drawing pad, or add pictures with: cnnlab data add-mine IMAGE... --label D"
        )
        return 0
    print(f"Your digits: {len(state):,} samples in {store.root}")
    train, held = int((~test).sum()), int(test.sum())
    print(f"  {train:,} for training, {held:,} held out for testing (one in five, by id)")
    print("  digit   " + "".join(f"{d:>6}" for d in range(len(counts))))
    print("  samples " + "".join(f"{int(c):>6}" for c in counts))
    print("  held out" + "".join(f"{c:>6}" for c in test_counts))
    return 0


def _mine_files() -> tuple[str, ...]:
    from cnnlab.data import mine

    return mine.IMAGES_FILE, mine.LABELS_FILE, mine.SAMPLES_FILE


def _run_data_export_mine(args: argparse.Namespace) -> int:
    from cnnlab.data import MineStore

    store = MineStore()
    state = store.read()
    if not len(state):
        raise UserError(f"your digits collection in {store.root} is empty: there is nothing to export")
    written = state.export_pngs(args.folder, _png_bytes, args.layout)
    state.export_idx(args.folder)
    where = "sorted into a folder per digit" if args.layout == "by-label" else "named ID_LABEL.png"
    files = ", ".join(_mine_files())
    print(f"Exported {len(written):,} samples to {args.folder}: PNG files {where}, and {files}")
    return 0


def _run_data_import_mine(args: argparse.Namespace) -> int:
    from cnnlab.data import MineStore
    from cnnlab.data.mine import image_files

    files = image_files(args.folder)
    if not files:
        raise UserError(f"{args.folder}: holds no PNG or JPEG pictures (nor do its subfolders)")
    store = MineStore()
    ids = store.import_images(((name, _read_image(str(path))) for name, path in files), label=args.label)
    print(f"Imported {len(ids):,} pictures from {args.folder} into {store.root} (ids {ids[0]}-{ids[-1]})")
    return 0


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
        if row.info.is_collection:
            if res.found:
                print(f"  in {res.folder} (see 'cnnlab data mine')")
            else:
                unusable |= bool(args.names) or not row.absent
                print(f"  {res.looked[0].describe() if res.looked else 'not found'}")
                print("  label digits on the drawing pad, or: cnnlab data add-mine IMAGE... --label D")
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
    if len(text) <= limit:
        return text
    # The middle goes (long paths, most often): the start says what is wrong, the end what to do.
    head = (limit - 5) // 2
    return f"{text[:head]} ... {text[len(text) - (limit - 5 - head) :]}"


def _user_errors() -> tuple[type[BaseException], ...]:
    """Every floor's "you can fix this" error, reported as one line."""
    from cnnlab.bridge import BridgeError
    from cnnlab.data import DataError
    from cnnlab.engine import CheckpointError, SpecError
    from cnnlab.training import ConfigError, RunError, WriteError

    return (UserError, SpecError, CheckpointError, DataError, ConfigError, RunError, WriteError, BridgeError)


# -- train, eval, predict: the work is in cnnlab.training.headless; printing stays here -------------------


def _add_run_arguments(parser: argparse.ArgumentParser, epochs_help: str = "epochs to train") -> None:
    """The settings of a run, shared by ``train`` and ``sweep``."""
    net = parser.add_mutually_exclusive_group()
    net.add_argument("--preset", metavar="NAME", help="seed (default), fc-baseline, lenet5 or mnist99")
    net.add_argument("--spec", metavar="FILE", help="a network spec JSON file instead of a preset")
    parser.add_argument(
        "--dataset",
        metavar="NAME",
        help="mnist (default), fashion-mnist, synthetic or mine (your own digits)",
    )
    parser.add_argument(
        "--mix",
        metavar="OTHER:SHARE",
        help="mix another dataset into --dataset for fine-tuning: mnist:0.7 makes 70%% of each batch (on "
        "average) MNIST images; the test part stays the dataset's own",
    )
    parser.add_argument("--epochs", type=whole_arg(1), metavar="N", help=epochs_help)
    parser.add_argument("--optimizer", metavar="NAME", help="sgd, adam or adamw")
    parser.add_argument("--lr", type=real_arg(above=0.0), metavar="RATE", help="base learning rate")
    parser.add_argument(
        "--momentum", type=real_arg(minimum=0.0, below=1.0), help="SGD momentum (Adam: beta1)"
    )
    parser.add_argument("--weight-decay", type=real_arg(minimum=0.0), metavar="DECAY", help="L2 weight decay")
    parser.add_argument("--batch-size", type=whole_arg(1), metavar="N", help="images per step")
    parser.add_argument("--schedule", metavar="NAME", help="constant, cosine or step")
    parser.add_argument("--seed", type=whole_arg(0), help="random seed: the same seed gives the same run")
    parser.add_argument(
        "--augment", action=argparse.BooleanOptionalAction, default=None, help="random shifts and rotations"
    )
    add_data_dir_argument(parser)
    parser.add_argument(
        "--limit",
        type=whole_arg(1),
        metavar="N",
        help="train on the first N training images only (after the validation split; the lesson used 1000)",
    )
    parser.add_argument(
        "--validation",
        type=whole_arg(0),
        metavar="N",
        help="hold N training images out for validation, never trained on (default 1000, at most a sixth "
        "of the training set; 0: none). The test set is only evaluated at epoch ends.",
    )
    parser.add_argument(
        "--workers",
        type=whole_arg(1),
        metavar="N",
        help="processes each step's batch is split across, one BLAS thread each (default: the idle cores, "
        "at most the machine's; resuming: the run's own; 1: all in this process). The same seed and "
        "worker count give the same run, bit for bit.",
    )
    _add_budget_arguments(parser)


def _run_settings(args: argparse.Namespace) -> dict:
    """The run settings the user gave (None: not given), as ``headless.make_config`` takes them."""
    return {
        "epochs": args.epochs,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "momentum": args.momentum,
        "weight_decay": args.weight_decay,
        "batch_size": args.batch_size,
        "schedule": args.schedule,
        "seed": args.seed,
        "augment": args.augment,
        "data_dir": args.data_dir,
        "train_limit": args.limit,
        "validation": args.validation,
        "workers": args.workers,
    }


def _add_training_parsers(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser(
        "train",
        help="train a network headless: a progress bar per epoch, a table, the test figures",
        description="Train a network on a dataset. Without --lr and friends, each preset gets the settings "
        "recommended for it. Ctrl+C stops after the current step and still saves. The run is recorded in "
        "the runs history (see 'cnnlab runs'), as the app records its runs.",
    )
    _add_run_arguments(train, "epochs to train (resuming: the new total)")
    train.add_argument("--out", metavar="DIR", help="write checkpoint.npz and metrics.json into DIR")
    start = train.add_mutually_exclusive_group()
    start.add_argument("--resume", metavar="CHECKPOINT", help="continue a run from its checkpoint")
    start.add_argument(
        "--init-from",
        metavar="CHECKPOINT",
        help="start a new run from a checkpoint's weights (fine-tuning: its network, fresh settings)",
    )
    train.add_argument("--name", help="the run's name in the runs history (default: made from its settings)")
    train.add_argument("--no-record", action="store_true", help="do not keep this run in the runs history")
    train.set_defaults(func=_run_train)

    sweep = sub.add_parser(
        "sweep",
        help="train one run per value of one setting and compare them in a table",
        description="Change one thing, train, compare: one run per value of --vary, one after another, "
        "each recorded in the runs history (tagged with the sweep). Settings: lr, batch-size, optimizer "
        "(sgd, plain-sgd, nesterov, adam, adamw; adam@0.001 also sets its learning rate), schedule, seed, "
        "limit (training images; 'all'), epochs, momentum, weight-decay, validation, warmup-steps, augment "
        "(on/off), preset (networks), pool (max/avg), activation (relu, leaky_relu, elu, tanh, sigmoid), "
        "init (every conv/dense layer), a layer's setting (conv1.filters, conv2.kernel, dense1.units) or "
        "every layer's of a kind (conv.kernel=3,5). Ctrl+C stops the run under way and skips the rest; the "
        "table shows what was done. Exit status 0 even if a run diverged (its status says so).",
    )
    _add_run_arguments(sweep)
    sweep.add_argument(
        "--vary",
        required=True,
        metavar="SETTING=V1,V2,...",
        help="the setting to change and its values, e.g. lr=0.001,0.01,0.1",
    )
    sweep.add_argument(
        "--out", metavar="DIR", help="write sweep.json, sweep.csv and each run's checkpoint into DIR"
    )
    sweep.add_argument("--json", action="store_true", help="print one JSON object per run as it ends")
    sweep.add_argument("--no-record", action="store_true", help="do not keep the runs in the runs history")
    sweep.set_defaults(func=_run_sweep)

    runs = sub.add_parser("runs", help="the runs history: list, show, export, rename")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    listing = runs_sub.add_parser(
        "list",
        help="every run, newest first, with its settings and results",
        description="Each run is named by what sets it apart from the others (unless it was given a name).",
    )
    listing.add_argument("--json", action="store_true", help="print one JSON object per run")
    listing.add_argument("--sweep", metavar="ID", help="only the runs of this sweep")
    listing.set_defaults(func=_run_runs_list)
    show = runs_sub.add_parser("show", help="one run: every setting, live changes, epochs, results")
    show.add_argument("run_id", metavar="ID")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(func=_run_runs_show)
    export = runs_sub.add_parser("export", help="write every run as a row of a CSV file")
    export.add_argument("--csv", required=True, metavar="FILE", help="the CSV file to write")
    export.add_argument("--sweep", metavar="ID", help="only the runs of this sweep")
    export.set_defaults(func=_run_runs_export)
    rename = runs_sub.add_parser("rename", help="give a run a name of your own ('' for its automatic name)")
    rename.add_argument("run_id", metavar="ID")
    rename.add_argument("name", metavar="NAME")
    rename.set_defaults(func=_run_runs_rename)

    ev = sub.add_parser("eval", help="test a checkpoint: accuracy, per-class accuracy, confusion matrix")
    ev.add_argument("checkpoint", metavar="CHECKPOINT")
    ev.add_argument(
        "--dataset",
        metavar="NAME",
        help="default: the dataset it was trained on; mine: the held-out part of your own digits",
    )
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
    from cnnlab.training import Event, RunRecorder, RunStore, TrainingSession, headless

    budget = _budget(args)
    resume = load_checkpoint(args.resume, budget) if args.resume else None
    init = load_checkpoint(args.init_from, budget) if args.init_from else None
    spec = headless.load_spec(args.preset, args.spec, budget) if (args.preset or args.spec) else None
    if init is not None and spec is None:
        spec = init.spec
    config = headless.make_config(
        spec, headless.dataset_name(args.dataset, args.mix), resume=resume, **_run_settings(args)
    )
    dataset = headless.load_data(config.dataset, config.data_dir)
    out = headless.prepare_out(args.out) if args.out else None
    session = TrainingSession(
        config,
        dataset,
        checkpoint=resume or (headless.starting_weights(init) if init is not None else None),
        checkpoint_path=out / "checkpoint.npz" if out else None,
        budget=budget,
    )
    recorder = None if args.no_record else RunRecorder(RunStore(), name=args.name, session=session)

    print(
        f"Training {config.spec.name or 'a custom net'} ({config.spec.num_params():,} parameters) on "
        f"{dataset.name}: {_image_counts(session.n_train, session.n_validation, len(dataset.test_images))} "
        f"from {dataset.source}"
    )
    print(f"Settings: {_describe_settings(config)}")
    if resume is not None:
        where = f"step {session.step_count}, epoch {session.epoch + 1}"
        print(f"Resuming from {args.resume} at {where if session.step_count else 'its weights'}")
        if session.epoch >= config.epochs:
            print(f"That run had already done its {config.epochs} epochs: pass --epochs N to train on")
    if init is not None:
        print(f"Starting from the weights of {args.init_from}")

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
            if "workers_note" in snap.extra:
                tqdm.write(f"cnnlab: note: {snap.extra['workers_note']}", file=sys.stderr)
            if recorder is not None:
                recorder.observe(snap)
            printer.show(snap)
    finally:
        printer.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

    evaluation = _final_evaluation(last, session, dataset)
    print(last.message)
    _print_evaluation(evaluation)

    code = 1 if last.event == Event.DIVERGED else 130 if interrupted else 0
    if "checkpoint_error" in last.extra:
        print(f"cnnlab: error: {last.extra['checkpoint_error']}", file=sys.stderr)
        code = code or 1
    record = _annotate_record(recorder, evaluation)
    if out is not None:
        failed = _write_metrics(out, last, evaluation, record)
        code = code or failed
    if record is not None:
        print(f"Run recorded in {record}")
    return code


def _final_evaluation(last, session, dataset):
    """The run's test figures: the last snapshot's when the run finished at an epoch's end (they cover
    the whole test set then), else a test of the network as it is now (stopped or diverged)."""
    from cnnlab.training import Event, headless

    tested = last.confusion is not None and int(last.confusion.sum()) == len(dataset.test_images)
    if last.event == Event.FINISHED and last.test_accuracy is not None and tested:
        return headless.Evaluation(
            accuracy=last.test_accuracy,
            loss=float(last.history.test_loss[-1]) if len(last.history.epoch_steps) else float("nan"),
            per_class_accuracy=last.per_class_accuracy,
            confusion=last.confusion,
            class_names=last.class_names,
            count=len(dataset.test_images),
        )
    return headless.evaluate(session.network, dataset)


def _annotate_record(recorder, evaluation) -> str | None:
    """The final test figures into the run's record; the record's folder, if it was written."""
    if recorder is None:
        return None
    recorder.annotate(
        test_accuracy=evaluation.accuracy,
        per_class_accuracy=evaluation.per_class_accuracy,
        confusion=evaluation.confusion,
    )
    if recorder.error:
        print(f"cnnlab: warning: {recorder.error}", file=sys.stderr)
        return None
    return str(recorder.path) if recorder.path is not None else None


def _write_metrics(out: Path, last, evaluation, record: str | None) -> int:
    """``metrics.json`` in ``out``; the exit code a failed write adds (1), else 0."""
    from cnnlab.training import headless
    from cnnlab.training.files import WriteError, write_json

    report = headless.metrics_report(last, evaluation, run_record=record)
    try:
        write_json(out / "metrics.json", report, one_line_values=True)
    except WriteError as exc:  # the run's figures were printed above: nothing else is lost
        print(f"cnnlab: error: {exc}", file=sys.stderr)
        return 1
    saved = "checkpoint.npz and metrics.json" if "checkpoint" in last.extra else "metrics.json"
    print(f"Saved {saved} in {out}")
    return 0


def _image_counts(train: int, validation: int, test: int) -> str:
    held = f", {validation:,} validation (held out of the training set)" if validation else ""
    return f"{train:,} training{held} and {test:,} test images"


class _TrainPrinter:
    """A tqdm bar for the epoch under way (on a terminal only) and, with ``rows``, a table row at each
    epoch end. ``label`` leads the bar's description (a sweep's "run 2/3 lr=0.01")."""

    def __init__(self, tqdm, *, rows: bool = True, label: str = "") -> None:
        self.tqdm = tqdm
        self.bar = None
        self.header_done = False
        self.rows = rows
        self.label = label

    def show(self, snap) -> None:
        from cnnlab.training import Event

        if snap.running and snap.event != Event.EPOCH_END and snap.epoch < snap.epochs:
            self._update_bar(snap)
        if snap.event == Event.EPOCH_END or not snap.running:
            self.close()
        if snap.event == Event.EPOCH_END and self.rows:
            self._print_row(snap)

    def _update_bar(self, snap) -> None:
        if self.bar is None:
            self.bar = self.tqdm(
                total=snap.steps_per_epoch,
                desc=f"{self.label}epoch {snap.epoch + 1}/{snap.epochs}",
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
    if config.workers > 1:
        parts.append(f"{config.workers} workers")
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


def _run_sweep(args: argparse.Namespace) -> int:
    import json
    import signal
    import threading

    from tqdm import tqdm

    from cnnlab.training import RunStore, Sweep, headless, run_sweep
    from cnnlab.training.files import write_json
    from cnnlab.training.report import sweep_columns, sweep_table, write_csv

    setting, values = _parse_vary(args.vary)
    budget = _budget(args)
    spec = headless.load_spec(args.preset, args.spec, budget) if (args.preset or args.spec) else None
    base = headless.make_config(spec, headless.dataset_name(args.dataset, args.mix), **_run_settings(args))
    sweep = Sweep(base, setting, values)
    dataset = headless.load_data(base.dataset, base.data_dir)
    sweep.check(dataset, budget)  # every run, before the first trains
    out = headless.prepare_out(args.out) if args.out else None
    store = None if args.no_record else RunStore()

    counts = _image_counts(*_split_counts(sweep, dataset), len(dataset.test_images))
    print(
        f"Sweep {sweep.id}: {len(sweep)} runs of {base.spec.name or 'a custom net'} on {dataset.name} "
        f"({counts}), {sweep.setting} = {', '.join(p.label for p in sweep.points)}",
        file=sys.stderr if args.json else sys.stdout,
    )
    cancel = threading.Event()
    printers: dict[int, _TrainPrinter] = {}

    def on_snapshot(index: int, snap) -> None:
        if "workers_note" in snap.extra:
            tqdm.write(f"cnnlab: note: {snap.extra['workers_note']}", file=sys.stderr)
        if index not in printers:
            label = f"run {index + 1}/{len(sweep)} {sweep.setting}={sweep.points[index].label} "
            printers[index] = _TrainPrinter(tqdm, rows=False, label=label)
        printers[index].show(snap)

    def on_result(result) -> None:
        printers.pop(result.index, _TrainPrinter(tqdm)).close()
        if args.json:
            print(json.dumps(result.to_dict()), flush=True)
        else:
            tqdm.write(
                f"run {result.index + 1}/{len(sweep)} {sweep.setting}={result.label}: {result.status}, test "
                f"{'-' if result.test_accuracy is None else f'{result.test_accuracy:.2%}'} in "
                f"{result.seconds:.1f}s",
                file=sys.stderr,
            )

    def on_interrupt(signum, frame) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        tqdm.write("Stopping this run, skipping the rest (Ctrl+C again to quit at once)...", file=sys.stderr)

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_interrupt) if in_main else None
    try:
        results = run_sweep(
            sweep, dataset, store, on_snapshot, cancel, on_result=on_result, out=out, budget=budget
        )
    finally:
        for printer in printers.values():
            printer.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if not args.json:
        print(sweep_table(sweep.setting, results))
    code = 130 if cancel.is_set() else 0
    if out is not None:
        summary = {
            "sweep": sweep.id,
            "setting": sweep.setting,
            "values": [p.label for p in sweep.points],
            "dataset": dataset.name,
            "runs": [r.to_dict() for r in results],
        }
        try:
            write_json(out / "sweep.json", summary)
            write_csv(out / "sweep.csv", results, sweep_columns(sweep.setting))
        except OSError as exc:  # the table was printed above: nothing else is lost
            print(f"cnnlab: error: {exc}", file=sys.stderr)
            code = code or 1
        else:
            print(f"Saved sweep.json, sweep.csv and each run's checkpoint in {out}", file=sys.stderr)
    if store is not None:
        print(f"Runs recorded in {store.root} (cnnlab runs list --sweep {sweep.id})", file=sys.stderr)
    return code


def _parse_vary(text: str) -> tuple[str, list[str]]:
    setting, sep, values = text.partition("=")
    items = [v.strip() for v in values.split(",")] if sep else []
    if not setting.strip() or not sep or not any(items):
        raise UserError(f"--vary takes SETTING=V1,V2,... (e.g. lr=0.001,0.01,0.1), got {text!r}")
    if not all(items):
        raise UserError(f"--vary {text!r}: an empty value between commas")
    return setting.strip(), items


def _split_counts(sweep, dataset) -> tuple[int, int]:
    """Training and validation images of the sweep's first run (the same for all unless it varies them)."""
    from cnnlab.training import check_run

    split = check_run(sweep.points[0].config, dataset)
    return split.n_train, split.n_validation


def _runs(args: argparse.Namespace):
    from cnnlab.training import RunStore, named_runs

    runs = RunStore().list()
    if getattr(args, "sweep", None):
        runs = named_runs([info for info in runs if info.tags.get("sweep") == args.sweep])
        if not runs:
            raise UserError(f"no runs of sweep {args.sweep!r} in {RunStore().root}")
    return runs


def _run_runs_list(args: argparse.Namespace) -> int:
    import json

    from cnnlab.training import RunStore
    from cnnlab.training.report import run_table

    runs = _runs(args)
    if args.json:
        for info in runs:
            print(json.dumps(info.to_dict()))
        return 0
    if not runs:
        print(f"No runs yet in {RunStore().root}")
        return 0
    print(run_table(runs))
    return 0


def _run_runs_show(args: argparse.Namespace) -> int:
    import json

    from cnnlab.training import RunStore, named_runs

    store = RunStore()
    info = store.get(args.run_id)
    # Named among all the runs, as the list names it.
    info = next((i for i in named_runs(store.list()) if i.id == info.id), info)
    if args.json:
        print(json.dumps(info.to_dict()))
        return 0
    for line in _describe_run(info):
        print(line)
    return 0


def _describe_run(info) -> list[str]:
    from cnnlab.training.report import fixed, number, percent

    c = info.config
    keys = ("optimizer", "lr", "momentum", "nesterov", "weight_decay", "schedule", "warmup_steps",
            "batch_size", "epochs", "augment", "seed")  # fmt: skip
    lines = [
        f"{info.name}  ({info.id})",
        f"  status: {info.status}" + (f" - {info.message}" if info.message else ""),
        f"  created {info.created}, updated {info.updated}",
        f"  network: {info.spec_name or 'custom'} ({info.param_count:,} parameters)",
        f"  data: {info.dataset}, {number(info.train_images)} training images, "
        f"{number(info.validation_images)} validation images",
        "  settings: " + ", ".join(f"{key} {number(c.get(key))}" for key in keys if key in c),
    ]
    if isinstance(c.get("init"), dict) and c["init"]:
        lines.append("  initialisation: " + ", ".join(f"{k} {v}" for k, v in c["init"].items()))
    if info.tags:
        lines.append("  tags: " + ", ".join(f"{k} {v}" for k, v in info.tags.items()))
    if info.changes:
        lines.append("  live changes:")
        for ch in info.changes:
            seen = f", {ch.images_seen:,} images" if ch.images_seen is not None else ""
            change = f"{ch.setting} {number(ch.old)} -> {number(ch.new)}"
            lines.append(f"    after step {ch.step:,}{seen}: {change}")
    lines.append(
        f"  results: test {percent(info.test_accuracy)}, train {percent(info.train_accuracy)}, best "
        f"validation {percent(info.best_validation_accuracy)}, final loss {fixed(4)(info.final_loss)}, "
        f"{fixed(1)(info.elapsed)} s, {fixed(0)(info.images_per_s)} images/s, {info.steps:,} steps"
    )
    for e in info.epochs:
        lines.append(
            f"    epoch {e.epoch}: train loss {fixed(4)(e.train_loss)}, train {percent(e.train_accuracy)}, "
            f"test {percent(e.test_accuracy)} ({fixed(1)(e.seconds)} s)"
        )
    return lines


def _run_runs_export(args: argparse.Namespace) -> int:
    from cnnlab.training.report import write_csv

    runs = _runs(args)
    path = write_csv(args.csv, runs)
    print(f"Wrote {len(runs)} run{'s' if len(runs) != 1 else ''} to {path}")
    return 0


def _run_runs_rename(args: argparse.Namespace) -> int:
    from cnnlab.training import RunStore

    store = RunStore()
    info = store.rename(args.run_id, args.name) if args.name.strip() else store.clear_name(args.run_id)
    print(f"{info.id}: {info.name}")
    return 0


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


# -- export and import: the work is in cnnlab.bridge -------------------------------------------------------


def _add_bridge_parsers(sub: argparse._SubParsersAction) -> None:
    ex = sub.add_parser(
        "export",
        help="write a checkpoint's network as ONNX or as PyTorch code and weights",
        description="ONNX: one .onnx file (opset 17, NCHW float32 input with a free batch axis, class names "
        "and preprocessing in its metadata). PyTorch: a folder with model.py (an nn.Module, no cnnlab "
        "needed), model.safetensors and README.md.",
    )
    ex.add_argument("checkpoint", metavar="CHECKPOINT")
    ex.add_argument("--format", choices=("onnx", "pytorch"), default="onnx", help="onnx (default) or pytorch")
    ex.add_argument("--out", required=True, metavar="PATH", help="the .onnx file, or the folder for pytorch")
    ex.add_argument(
        "--logits", action="store_true", help="ONNX: output the logits instead of softmax probabilities"
    )
    _add_budget_arguments(ex)
    ex.set_defaults(func=_run_export)

    im = sub.add_parser(
        "import",
        help="turn an ONNX model made of the engine's layers into a cnnlab checkpoint",
        description="Reads a chain of Conv, pooling, BatchNormalization, Flatten/Reshape, Gemm or MatMul+Add "
        "and activation nodes (as torch.onnx.export writes a small sequential CNN, or cnnlab export); "
        "anything else is refused naming the node and its operator.",
    )
    im.add_argument("model", metavar="MODEL.onnx")
    im.add_argument("--out", required=True, metavar="CHECKPOINT", help="the checkpoint (.npz) to write")
    _add_budget_arguments(im)
    im.set_defaults(func=_run_import)


def _not_the_same_file(source: str, out: str) -> None:
    from pathlib import Path

    if Path(out).resolve() == Path(source).resolve():
        raise UserError(f"{out}: --out names the file being read; choose another path")


def _run_export(args: argparse.Namespace) -> int:
    from cnnlab.bridge import export_checkpoint
    from cnnlab.engine import load_checkpoint
    from cnnlab.engine.reading import size_text

    _not_the_same_file(args.checkpoint, args.out)
    if args.logits and args.format != "onnx":
        raise UserError("--logits applies to --format onnx only (model.py always returns logits)")
    checkpoint = load_checkpoint(args.checkpoint, _budget(args))
    output = "logits" if args.logits else "probabilities"
    written = export_checkpoint(checkpoint, args.out, args.format, output=output)
    for path in written:
        print(f"Wrote {path} ({size_text(path.stat().st_size)})")
    spec = checkpoint.spec
    c, h, w = spec.input_shape
    if args.format == "onnx":
        k = spec.output_shape()[0]
        print(f"Input 'input': float32 (batch, {c}, {h}, {w}); output '{output}': (batch, {k})")
    else:
        print(f"Run it with: cd {args.out} && python model.py   (needs: pip install torch safetensors)")
    return 0


def _run_import(args: argparse.Namespace) -> int:
    from cnnlab.bridge import import_onnx
    from cnnlab.bridge.onnx_import import describe

    _not_the_same_file(args.model, args.out)
    checkpoint, written = import_onnx(args.model, args.out, _budget(args))
    print(describe(checkpoint))
    print(f"Saved {written}; try: cnnlab eval {written}")
    return 0


def _png_bytes(image) -> bytes:
    """uint8 (H, W) grey -> the bytes of a PNG file, encoded by Qt (imported only here)."""
    import numpy as np
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QImage

    a = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = a.shape
    picture = QImage(a.data, w, h, w, QImage.Format.Format_Grayscale8)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not picture.save(buffer, "PNG"):
        raise UserError("Qt could not encode a PNG image")
    buffer.close()
    return bytes(data.data())
