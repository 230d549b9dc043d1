"""Plain-text rendering of a CheckResult for the terminal (the HTML report draws the same data)."""

from __future__ import annotations

from harness.checker.operation import Operation
from harness.checker.result import CheckResult, Counterexample, Verdict

_MAX_KEYS_SHOWN = 50
_PREFIX_TAIL = 5


def render_text(result: CheckResult, *, source: str) -> list[str]:
    """Lines describing `result`: the verdict, a per-key summary, and each counterexample."""
    if not result.partitions:  # e.g. an empty file or nemesis ops only: valid for Porcupine and Knossos too
        return [f"{source}: {result.verdict.name} ({result.model} model, 0 operations: trivially linearizable)"]
    lines = [f"{source}: {result.verdict.name} ({result.model} model, {result.ops} ops, "
             f"{len(result.partitions)} key{'s' if len(result.partitions) != 1 else ''})"]
    shown = sorted(result.partitions, key=lambda p: -int(p.verdict))[:_MAX_KEYS_SHOWN]
    for p in shown:
        why = f" ({p.reason})" if p.reason else ""
        lines.append(f"  key {_key(p.key)}: {p.verdict.name.lower()}{why}, {p.ops} ops, "
                     f"{p.explored} states explored")
    if len(result.partitions) > len(shown):
        lines.append(f"  ... {len(result.partitions) - len(shown)} more keys, all valid")
    for cx in result.counterexamples:
        lines.extend(_counterexample(cx))
    return lines


def _key(key: str | None) -> str:
    return "-" if key is None else repr(key)


def _op(op: Operation) -> str:
    out = f" -> {op.output!r}" if op.f in ("get", "read") else ""
    ret = op.ret if op.ret is not None else op.status
    return f"op {op.id} p{op.process} {op.f}({op.input!r}){out} [{op.call}, {ret}]"


def _counterexample(cx: Counterexample) -> list[str]:
    by_id = {o.id: o for o in cx.operations}
    lines = [f"  counterexample for key {_key(cx.key)}: events {cx.window[0]}..{cx.window[1]} cannot be "
             "linearized"]
    tail = cx.prefix[-_PREFIX_TAIL:]
    skipped = cx.prefix_length - len(tail)
    lines.append(f"    longest linearizable prefix: {cx.prefix_length} ops"
                 + (f" (last {len(tail)} shown)" if skipped else ""))
    for placed in tail:
        op = by_id.get(placed.op)
        lines.append(f"      {_op(op) if op else f'op {placed.op}'} => state {placed.state}")
    lines.append(f"    state after the prefix: {cx.state_after_prefix}")
    lines.append("    could not place:")
    for op_id in cx.unplaced:
        op = by_id.get(op_id)
        if op is None:
            continue  # not among the operations shown (e.g. an unknown outcome invoked long before)
        mark = "  (must complete by event %d)" % cx.window[1] if op_id == cx.stuck else ""
        lines.append(f"      {_op(op)}{mark}")
    hidden = sum(1 for op_id in cx.unplaced if op_id not in by_id)
    if hidden:
        lines.append(f"      and {hidden} more invoked before the operations shown: "
                     + ", ".join(f"op {i}" for i in cx.unplaced if i not in by_id)[:200])
    return lines


def verdict_word(verdict: Verdict) -> str:
    """The lower-case word for a verdict."""
    return verdict.name.lower()
