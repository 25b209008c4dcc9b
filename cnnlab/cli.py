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
    return parser


def _run_gui(args: argparse.Namespace) -> int:
    # The app floor is imported only here, so headless commands never load Qt.
    try:
        from cnnlab.app.main import run_app
    except ImportError as exc:  # pragma: no cover - the app floor is still being built
        raise UserError(f"the desktop app is not available yet ({exc}); try 'cnnlab train'") from exc
    return run_app(self_test=getattr(args, "self_test", False))


def _run_bench(args: argparse.Namespace) -> int:
    from cnnlab.bench import run_bench

    return run_bench(
        nets=args.nets, batches=args.batches, seconds=args.seconds, as_json=args.json, torch=args.torch
    )


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
    from cnnlab.engine import CheckpointError, SpecError

    return (UserError, SpecError, CheckpointError)
