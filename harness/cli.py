"""The `paxos-chaos` command: one argparse dispatcher, one error boundary.

Each subcommand registers itself through a small function `_register_<name>(subparsers)` listed in
`_REGISTRARS`; adding a subcommand means writing one such function (which sets `func` with
`set_defaults`) and appending it to the tuple. The handler receives the parsed namespace and returns
the process exit code.

This is the only place where `HarnessError` becomes output: one line on stderr and the error's
`exit_code` (2 for user and infrastructure errors, 70 for `InternalError`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, cast

from targets.errors import HarnessError, InternalError, UsageError

Handler = Callable[[argparse.Namespace], int]
Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises UsageError instead of printing usage and calling sys.exit(2)."""

    def error(self, message: str) -> NoReturn:
        if len(message) > 300:  # argparse quotes the bad value whole: a 5,000-digit --port-base
            message = f"{message[:200]}...{message[-40:]}"
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _register_check(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser(
        "check",
        help="check histories for linearizability",
        description="Check one or more histories for linearizability. "
        "Exit 0 valid, 1 invalid, 2 could not run, 3 unknown (budget exhausted).",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="history files to check")
    p.add_argument(
        "--format",
        default="auto",
        choices=["auto", "jsonl", "edn", "jepsen-log", "porcupine-kv"],
        help="input format (default: detected from the content)",
    )
    p.add_argument("--model", default=None, choices=["kv", "register"],
                   help="model to check against (default: kv, or register for Jepsen register histories)")
    p.add_argument("--initial", default=None, metavar="VALUE",
                   help="the register model's initial value: an integer, a quoted string or nil/null "
                   "(default nil, as Jepsen's cas-register; Knossos's cas-register histories use 0)")
    p.add_argument("--timeout", default="60s", metavar="DURATION",
                   help="time budget per file, e.g. 60s, 500ms, 2m (default 60s)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of text")
    p.set_defaults(func=_run_check)


def _run_check(args: argparse.Namespace) -> int:
    # Imported lazily so that `paxos-chaos --help` and other subcommands do not pay for the checker.
    import json
    import time

    from harness.checker import Verdict, check, merge, model_for, operations, parse, render_text

    timeout_s = parse_duration_s(args.timeout, option="--timeout")
    initial = None if args.initial is None else parse_initial(args.initial)
    verdicts: list[Verdict] = []
    failed = False
    for path in args.files:
        try:
            text = _read_text(path)
            parsed = parse(text, source=path, format=args.format)
            name = _model_name(args.model, parsed.model)
            if args.initial is not None and name != "register":
                if args.model is not None or parsed.events:
                    raise UsageError(f"{path}: --initial is for the register model, but this history is checked "
                                     f"against the {name} model; add --model register or drop --initial")
                name = "register"  # nothing to check: the model does not matter
            model = model_for(name, initial=initial)
            ops = operations(parsed.events, where=parsed.where)
            end = time.monotonic() + timeout_s
            result = check(model, ops, deadline=lambda: time.monotonic() > end)
        except HarnessError as exc:  # one bad file must not hide the others' verdicts
            print(f"paxos-chaos: {exc}", file=sys.stderr)
            failed = True
            continue
        verdicts.append(result.verdict)
        if args.json:
            print(json.dumps({"file": path, "format": parsed.format, **result.to_dict()}))
        else:
            print("\n".join(render_text(result, source=path)))
    return 2 if failed else merge(verdicts).exit_code


def parse_initial(text: str) -> int | str | None:
    """`--initial` VALUE as an EDN/JSON scalar: an integer, a "quoted string", or nil/null. Raises UsageError."""
    from harness.checker.edn import EdnError, loads

    t = text.strip()
    if t in ("nil", "null"):
        return None
    number = t.lstrip("+-")
    if t.startswith('"') or (number.isascii() and number.isdigit() and len(t) - len(number) <= 1):
        try:
            value = loads(t)
        except EdnError:
            value = None
        if isinstance(value, (int, str)) and not isinstance(value, bool):
            return value
    shown = text if len(text) <= 40 else f"{text[:37]}..."
    raise UsageError(f"--initial {shown!r} is not an integer, a quoted string or nil; use e.g. --initial 0, "
                     "--initial '\"a\"' or --initial nil")


def _model_name(chosen: str | None, implied: str) -> str:
    """--model wins; `kv` keeps the format's notion of absent (Porcupine's kv reads absent as "")."""
    if chosen is None:
        return implied
    if chosen == "kv" and implied == "kv-empty":
        return implied
    return chosen


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fp:
            return fp.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file; give the path of a history file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory; give a history file (e.g. store/latest/history.jsonl)") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start}); expected a text history file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror}); check the path and permissions") from None


_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration_s(text: str, *, option: str) -> float:
    """'60s', '500ms', '2m', '1h' or a bare number of seconds -> seconds (> 0). Raises UsageError."""
    t = text.strip()
    number, scale = t, 1.0
    for unit in ("ms", "s", "m", "h"):
        if t.endswith(unit):
            number, scale = t[: -len(unit)], _UNITS_S[unit]
            break
    try:
        value = float(number) * scale
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        shown = text if len(text) <= 40 else f"{text[:37]}..."
        raise UsageError(f"{option} {shown!r} is not a duration; use e.g. 60s, 500ms or 2m")
    return value


def _register_cluster(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """`up`, `down`, `status`: the cluster lifecycle of `harness.cluster`, under the one CLI."""
    import os

    from harness.cluster import add_arguments

    for name, text in (("up", "start a cluster and wait until it is healthy"),
                       ("status", "show every node's container, health and what its target's probe sees"),
                       ("down", "remove the cluster's containers, networks and volumes")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--project", default=os.environ.get("PROJECT", "paxos-chaos"),
                       help="compose project name (default paxos-chaos)")
        add_arguments(p, name)
        p.set_defaults(func=_run_cluster, cmd=name)


def _run_cluster(args: argparse.Namespace) -> int:
    from harness.cluster import run

    return run(args)


def _register_run(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from harness.run_command import register_run

    register_run(sub)


def _register_validate(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from harness.scenario import register_validate

    register_validate(sub)


def _register_list(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from harness.scenario import register_list

    register_list(sub)


def _register_schema(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from harness.scenario_schema import register_schema

    register_schema(sub)


def _register_detect(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from harness.detect import register_detect

    register_detect(sub)


def _register_sim(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from harness.sim.sweep import register_sim

    register_sim(sub)


def _register_report(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("report", help="rebuild the store's index.html (every run, newest first)",
                       description="Rebuild STORE/index.html: every run of the store (scenario, target, seed, "
                                   "verdict, ops, duration, time, link to its report), newest first. Runs do "
                                   "this themselves; use it after copying or pruning a store.")
    p.add_argument("store", nargs="?", default="store", metavar="STORE", help="the store (default ./store)")
    p.add_argument("--screenshots", type=int, default=0, metavar="N",
                   help="also render index.html and the newest N reports with headless Chromium into "
                        "index.png and report.png beside them (what a person sees, e.g. in a CI artifact)")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from harness.browser import screenshot
    from harness.report.index import collect, write_index

    store = Path(args.store)
    if not store.is_dir():
        raise UsageError(f"{store}: no such store; give the folder `paxos-chaos run --store` wrote (default ./store)")
    if not 0 <= args.screenshots <= 1000:
        raise UsageError(f"--screenshots {args.screenshots}: give 0..1000 reports")
    index = write_index(store)
    print(index)
    if not args.screenshots:
        return 0
    pages = [index] + [store / r.link for r in collect(store) if r.kind == "run"][:args.screenshots]
    troubled = 0
    for page in pages:
        if not page.is_file():
            continue
        shot = screenshot(page, page.with_suffix(".png"))
        print(str(shot.png) + (f"  console: {' | '.join(shot.console)[:300]}" if shot.console else ""))
        troubled += bool(shot.console)
    return 1 if troubled else 0


_REGISTRARS: tuple[Registrar, ...] = (_register_check, _register_run, _register_cluster, _register_validate,
                                      _register_list, _register_schema, _register_detect, _register_sim,
                                      _register_report)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every registered subcommand."""
    parser = _Parser(prog="paxos-chaos", description="Chaos-testing harness for a Multi-Paxos KV store.")
    # Subparsers inherit _Parser, so their errors also become UsageError.
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", metavar="COMMAND"),
    )
    sub.required = True
    for register in _REGISTRARS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]) and return the exit code.

    Raises nothing for expected failures: a HarnessError is printed as one line on stderr and its
    exit_code returned. Ctrl-C returns 130.
    """
    try:
        args = build_parser().parse_args(argv)
        func: Handler = args.func
        code = func(args)
        sys.stdout.flush()  # inside the try: a reader that went away is handled below, not at exit
        return code
    except InternalError as exc:
        print(f"paxos-chaos: internal error (a bug, please report it with the seed and scenario): {exc}",
              file=sys.stderr)
        return exc.exit_code
    except HarnessError as exc:
        print(f"paxos-chaos: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("paxos-chaos: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`paxos-chaos sim ... | head`): stop quietly, as cat and grep do, and
        # keep Python from complaining again when it flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by it


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
