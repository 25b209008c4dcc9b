"""The ``cnnlab`` command: argparse subcommands over the floors below.

``cnnlab`` with no subcommand opens the desktop lab (``gui``). Every subcommand turns a user error
(missing data, a bad spec, a bad checkpoint) into one readable line on stderr and a non-zero exit code;
a traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import sys

from cnnlab import __version__

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A problem the user can fix; printed as one line, never as a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnlab",
        description="A desktop lab for watching a from-scratch NumPy CNN learn.",
    )
    parser.add_argument("--version", action="version", version=f"cnnlab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the desktop lab (the default)")
    gui.add_argument("--self-test", action="store_true", help="open, train, classify, exit 0 if all worked")
    gui.set_defaults(func=_run_gui)

    bench = sub.add_parser("bench", help="measure training and inference speed of the engine")
    bench.add_argument("--json", action="store_true", help="print one JSON object per measurement")
    bench.add_argument("--nets", nargs="+", default=["seed", "mnist99"], help="presets to measure")
    bench.add_argument("--batches", nargs="+", type=int, default=[64, 256], help="batch sizes")
    bench.add_argument("--seconds", type=float, default=2.0, help="time spent per measurement")
    bench.add_argument("--torch", action="store_true", help="also measure PyTorch eager, if installed")
    bench.set_defaults(func=_run_bench)

    _add_data_parser(sub)
    return parser


def _run_gui(args: argparse.Namespace) -> int:
    # The app floor is imported only here, so headless commands never load Qt.
    try:
        from cnnlab.app.main import run_app
    except ImportError as exc:  # pragma: no cover - the app floor is still being built
        raise UserError(f"the desktop app is not available yet ({exc}); try 'cnnlab train'") from exc
    return run_app(self_test=getattr(args, "self_test", False))


def _run_bench(args: argparse.Namespace) -> int:
    from cnnlab.training.bench import run_bench

    return run_bench(
        nets=args.nets, batches=args.batches, seconds=args.seconds, as_json=args.json, torch=args.torch
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
    status = data_sub.add_parser("status", help="list each dataset, where it was found, and its checksums")
    add_data_dir_argument(status)
    status.add_argument("--no-verify", action="store_true", help="skip the SHA-256 checks (faster)")
    status.set_defaults(func=_run_data_status)
    fetch = data_sub.add_parser("fetch", help="download a dataset from its mirrors (Ctrl+C cancels)")
    fetch.add_argument("name", metavar="NAME", help="the dataset: mnist or fashion-mnist")
    add_data_dir_argument(fetch, help_text="download into DIR/NAME/ instead of the user cache")
    fetch.set_defaults(func=_run_data_fetch)


def _run_data_status(args: argparse.Namespace) -> int:
    from cnnlab.data import status

    rows = status(args.data_dir, verify=not args.no_verify)
    damaged = False
    for row in rows:
        print(f"{row.info.name}: {row.info.title}")
        res = row.resolution
        if row.info.is_synthetic:
            print("  generated in memory, always available")
            continue
        if not res.found:
            print("  not found; looked in:")
            for place in res.looked:
                print(f"    {place.describe()}")
            print(f"  get it with: cnnlab data fetch {row.info.name}")
            continue
        print(f"  found in {res.describe()}")
        if row.checksums == "ok":
            print(f"  checksums: ok ({len(row.files)} files, SHA-256 verified)")
        elif row.checksums == "unchecked":
            print(f"  checksums: not checked ({len(row.files)} files present)")
        else:
            damaged = True
            print("  checksums: BAD")
            for f in row.files:
                if f.state != "ok":
                    print(f"    {f.filename}: {f.detail}")
            print(f"  delete the bad files and run: cnnlab data fetch {row.info.name}")
    return 1 if damaged else 0


def _run_data_fetch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cnnlab.data import DownloadCancelled, DownloadProgress, fetch, resolve

    bars: dict[str, tqdm] = {}

    def show(report: DownloadProgress) -> None:
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
    args = parser.parse_args(argv)
    if args.command is None:
        args.func, args.self_test = _run_gui, False
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("cnnlab: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as exc:
        if args.debug:
            raise
        print(f"cnnlab: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


def _user_errors() -> tuple[type[BaseException], ...]:
    """Every floor's "you can fix this" error, reported as one line."""
    from cnnlab.data import DataError
    from cnnlab.engine import CheckpointError, SpecError

    return (UserError, SpecError, CheckpointError, DataError)
