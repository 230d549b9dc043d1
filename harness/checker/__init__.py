"""The linearizability checker: pure (no files, no Docker, no clocks; time budgets are injected).

Belongs here: models (sequential specifications), the search, history formats read from text, the
result data. Does not belong here: opening files, printing, HTML (the CLI and the report do that).

Typical use::

    parsed = parse(text, source="history.jsonl")
    ops = operations(parsed.events, where=parsed.where)
    result = check(model_for(parsed.model), ops, deadline=lambda: time.monotonic() > end)
"""

from harness.checker.formats import FORMATS, Parsed, detect, parse
from harness.checker.linearizable import Deadline, check, check_partition
from harness.checker.model import KVModel, Model, RegisterModel, step
from harness.checker.operation import Operation, Pairing, operations, pair
from harness.checker.render import render_text
from harness.checker.result import CheckResult, Counterexample, PartitionResult, Placed, Verdict, merge
from workloads.history import Scalar

__all__ = [
    "FORMATS", "CheckResult", "Counterexample", "Deadline", "KVModel", "Model", "Operation", "Pairing", "Parsed",
    "PartitionResult", "Placed", "RegisterModel", "Verdict", "check", "check_partition", "detect", "merge",
    "model_for", "operations", "pair", "parse", "render_text", "step",
]


def model_for(name: str, *, initial: Scalar = None) -> "KVModel | RegisterModel":
    """The model called `name`: "kv" (absent = null), "kv-empty" (absent = ""), or "register"
    (starting at `initial`, nil by default; `initial` is only for the register)."""
    from targets.errors import UsageError
    if initial is not None and name != "register":
        raise UsageError(f"an initial value ({initial!r}) applies only to the register model, not {name!r}")
    if name == "kv":
        return KVModel()
    if name == "kv-empty":
        return KVModel(absent="")
    if name == "register":
        return RegisterModel(initial=initial)
    raise UsageError(f"unknown model {name!r}; expected kv or register")
