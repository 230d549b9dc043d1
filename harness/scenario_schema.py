"""The JSON Schema of scenario files, for editors: `paxos-chaos schema`, shipped as scenarios/scenario.schema.json.

With the schema named on a file's first line (`# yaml-language-server: $schema=...`), an editor with a
YAML language server completes keys and values and flags a misspelt key, a wrong type or a value out of
range as one types. The schema is generated, never written by hand: every key, choice and bound comes
from the tables the validator itself reads (harness.scenario's key lists and limits, faults.schema's
shapes and toxics, workloads' ops, each target's options, bugs and descriptions, harness.durations'
rule); only the one-line descriptions an editor shows on hover are written here. A test keeps the
shipped file equal to what this module prints.

The validator stays the authority. Whatever needs more than one field or the cluster (a node beyond the
cluster's size, `for` with `every`, a target's ops in `mix`, a duration's upper bound, a node program
that must exist) is checked only by `paxos-chaos validate`. The schema is built never to flag what the
validator accepts (a test fuzzes mutated scenarios for that), so an editor's mark is a real mistake.

What does not belong here: validating (harness.scenario) or any I/O beyond printing.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from faults.schema import (
    CORRUPT_WHERE,
    CRASH_RECORDS,
    LINKS,
    MODES,
    POWERFS_MODELS,
    SHAPES,
    TARGET_WORDS,
    TOXIC_ATTRS,
    TOXIC_FAULTS,
)
from harness.durations import DURATION_HINT, DURATION_PATTERN
# the validator's own tables, private to it: this module is the validator's twin, read-only
from harness.scenario.model import (
    _CHECKS_KEYS,
    _CLUSTER_KEYS,
    _CRASH_POINT_KEYS,
    _DISTRIBUTIONS,
    _FAULT_KEYS,
    _LINK_KEYS,
    _OPTION_KEYS,
    _PARTITION_KEYS,
    _PARTITION_REQUIRED,
    _PROCESS_KEYS,
    _ROLLING_KEYS,
    _TIMING_KEYS,
    _TOP_KEYS,
    _TOP_REQUIRED,
    _WORKLOAD_KEYS,
    _WORKLOAD_REQUIRED,
    CLUSTER_SIZES,
    MAX_ATTEMPTS,
    MAX_CONCURRENCY,
    MAX_KEYS,
    MAX_NAME,
    MAX_RATE,
    MAX_SEED,
    MAX_SKEW,
    MAX_WEIGHT,
)
from targets.registry import DEFAULT_TARGET, TARGETS
from workloads.spec import OPS

__all__ = ["SCHEMA_FILE", "register_schema", "scenario_schema", "schema_text"]

SCHEMA_FILE = "scenario.schema.json"  # in scenarios/; each shipped scenario names it on its first line
_DRAFT = "http://json-schema.org/draft-07/schema#"  # the newest draft YAML language servers all support
_MAX_NODES = max(CLUSTER_SIZES)
Schema = dict[str, Any]


def scenario_schema() -> Schema:
    """The JSON Schema (draft-07) of a scenario file, as a dict (deterministic: same input, same dict)."""
    return {
        "$schema": _DRAFT,
        "title": "paxos-chaos scenario",
        "description": "A fault scenario for paxos-chaos (docs/scenarios.md). `paxos-chaos validate FILE` "
                       "checks what this schema cannot: rules between fields and against the cluster.",
        "type": "object",
        "properties": _only(_TOP_KEYS, {
            "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": r"^\s*[^\n]*\s*$",
                     "description": "The run's name in the store and reports (default: the file name)."},
            "description": {"type": "string", "minLength": 1, "pattern": r"^\s*[^\n]*\s*$",
                            "description": "What the scenario does, in one line (required)."},
            "seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED,
                     "description": "Seeds the workload and every random choice of the fault plan "
                                    "(`run --seed` overrides it)."},
            "cluster": {"$ref": "#/definitions/cluster"},
            "workload": {"$ref": "#/definitions/workload"},
            "faults": {"type": ["array", "null"], "items": {"$ref": "#/definitions/fault"},
                       "description": "The fault schedule: each item one fault and when it happens."},
            "checks": {"$ref": "#/definitions/checks"},
        }),
        "required": list(_TOP_REQUIRED),
        "additionalProperties": False,
        "definitions": {
            "duration": _duration(),
            "node": _node(),
            "target": _target(),
            "cluster": _cluster(),
            "workload": _workload(),
            "checks": _checks(),
            "fault": _fault_item(),
            **_fault_kinds(),
        },
    }


def schema_text() -> str:
    """The schema as the shipped file holds it: JSON, two-space indent, one trailing newline."""
    return json.dumps(scenario_schema(), indent=2, ensure_ascii=False) + "\n"


def _only(keys: tuple[str, ...], props: Schema) -> Schema:
    """`props` in the order of the validator's `keys`; a key on one side only is a bug of this module."""
    if sorted(props) != sorted(keys):
        raise AssertionError(f"schema keys {sorted(props)} are not the validator's {sorted(keys)}")
    return {k: props[k] for k in keys}


def _literal(word: str) -> str:
    """`word` inside a pattern. Not re.escape: it writes `\\-`, which JavaScript's regular expressions in
    unicode mode (editors' schema checkers) refuse; our names need no escaping at all."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", word):
        raise AssertionError(f"{word!r} would need escaping in a JSON Schema pattern")
    return word


def _ref(name: str) -> Schema:
    return {"$ref": f"#/definitions/{name}"}


def _duration() -> Schema:
    return {"description": f"A duration: {DURATION_HINT} (0 alone needs no unit).",
            "anyOf": [{"type": "string", "pattern": DURATION_PATTERN}, {"const": 0}]}


def _node() -> Schema:
    # the names are listed for completion; the validator also takes leading zeros (n01), so the pattern does
    return {"description": f"A node: n1..n{_MAX_NODES}, at most the cluster's size.",
            "anyOf": [{"enum": [f"n{i}" for i in range(1, _MAX_NODES + 1)]},
                      {"type": "string", "pattern": f"^n0{{0,4}}[1-{_MAX_NODES}]$"}]}


def _target() -> Schema:
    return {"description": "Which replicas a fault hits: " + ", ".join(TARGET_WORDS) +
                           ", a node (n2) or a list of nodes ([n1, n2]).",
            "anyOf": [{"enum": list(TARGET_WORDS)}, _ref("node"),
                      {"type": "array", "minItems": 1, "items": _ref("node")}]}


def _cluster() -> Schema:
    bugs = sorted({b for t in TARGETS.values() for b in t.known_bugs})
    props: Schema = {
        "size": {"enum": list(CLUSTER_SIZES), "description": "How many replicas."},
        # listed for completion; the bug parser ignores blanks around a name, so the pattern does too
        "bugs": {"type": "array", "items": {"anyOf": [{"enum": bugs}, {"type": "string", "pattern":
                                                     r"^\s*(?:" + "|".join(map(_literal, bugs)) + r")\s*$"}]},
                 "description": "Deliberate bugs of the paxos replica to switch on (docs/detection.md)."},
        "target": {"enum": sorted(TARGETS), "description": "The system under test (default "
                   f"{DEFAULT_TARGET}): " + "; ".join(f"{t.name}: {t.description}" for t in TARGETS.values())},
    }
    for key in _OPTION_KEYS:
        owners = [t for t in TARGETS.values() if any(o.name == key for o in t.options)]
        opts = [o for t in owners for o in t.options if o.name == key]
        doc = f"Target {' and '.join(t.name for t in owners)} only: {opts[0].doc}"
        if opts[0].kind == "path":
            props[key] = {"type": "string", "minLength": 1, "description": doc}
        else:
            props[key] = {"enum": sorted({c for o in opts for c in o.choices}), "description": doc}
    # what a target does not take is an error under it; absent `target` means the default target
    per_target = []
    for t in TARGETS.values():
        own = {o.name for o in t.options}
        banned: Schema = {k: False for k in _OPTION_KEYS if k not in own}
        if not t.known_bugs:
            banned["bugs"] = False
        if banned:
            cond: Schema = {"properties": {"target": {"const": t.name}}}
            if t.name != DEFAULT_TARGET:
                cond["required"] = ["target"]
            per_target.append({"if": cond, "then": {"properties": banned}})
    return {"type": "object", "description": "The nodes: how many, of which target, with its options.", "properties": _only(_CLUSTER_KEYS, props),
            "additionalProperties": False, "allOf": per_target}


def _workload() -> Schema:
    props: Schema = {
        "duration": {**_ref("duration"), "description": "How long clients send operations (required)."},
        "concurrency": {"type": "integer", "minimum": 1, "maximum": MAX_CONCURRENCY,
                        "description": "Client processes running at once."},
        "rate": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_RATE,
                 "description": "Operations per second, all clients together (default: as fast as they go)."},
        "keys": {"type": "integer", "minimum": 1, "maximum": MAX_KEYS, "description": "How many keys."},
        "distribution": {"enum": list(_DISTRIBUTIONS), "description": "How keys are picked."},
        "skew": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_SKEW,
                 "description": "The Zipf exponent, with `distribution: skewed` only."},
        "mix": {"type": "object", "description": "Relative weights of the operations (the target's ops only).",
                "properties": {op: {"type": "number", "minimum": 0, "maximum": MAX_WEIGHT} for op in OPS},
                "additionalProperties": False},
        "timeout": {**_ref("duration"), "description": "Per request; then the outcome is unknown."},
        "attempts": {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS,
                     "description": "Tries per operation when the request certainly failed."},
        "retry_unknown": {"type": "boolean", "description": "Retry an attempt of unknown outcome with the "
                          "same request id (only for targets that apply a retried request once)."},
    }
    return {"type": "object", "description": "The client load: how long, how many clients, which keys and ops.", "properties": _only(_WORKLOAD_KEYS, props),
            "required": list(_WORKLOAD_REQUIRED), "additionalProperties": False}


def _checks() -> Schema:
    props: Schema = {
        "linearizable": {"type": "boolean", "description": "Check the history for linearizability."},
        "timeout": {**_ref("duration"), "description": "The checker's budget; past it the verdict is unknown."},
        "recovery": {**_ref("duration"), "description": "How soon after the final heal writes must succeed."},
    }
    return {"type": "object", "description": "What is checked after the run.", "properties": _only(_CHECKS_KEYS, props),
            "additionalProperties": False}


def _fault_kinds() -> Schema:
    """One definition per fault kind (`fault-partition`, `fault-latency`, ...), the item's one key."""
    kinds: Schema = {
        "fault-partition": {
            "type": "object", "description": "A network partition of some shape; `isolate` takes a target, `groups` lists them.",
            "properties": _only(_PARTITION_KEYS, {
                "shape": {"enum": list(SHAPES)}, "mode": {"enum": list(MODES)}, "one-way": {"type": "boolean"},
                "target": _ref("target"),
                "groups": {"type": "array", "minItems": 2,
                           "items": {"type": "array", "minItems": 1, "items": _ref("node")}}}),
            "required": list(_PARTITION_REQUIRED), "additionalProperties": False},
    }
    for name, toxic in TOXIC_FAULTS.items():
        props: Schema = {}
        for key, _attr, unit, _required, _default, lo, hi in TOXIC_ATTRS[toxic]:
            props[key] = ({"type": "integer", "minimum": lo, "maximum": hi} if unit == "int"
                          else _ref("duration"))
        props |= {"links": {"enum": list(LINKS)}, "target": _ref("target"),
                  "toxicity": {"type": "number", "minimum": 0, "maximum": 1}}
        own = tuple(f[0] for f in TOXIC_ATTRS[toxic])
        kinds[f"fault-{name}"] = {
            "type": "object", "description": f"Toxiproxy's {toxic} toxic on links (peers, clients or all) of the targeted nodes.",
            "properties": _only(own + _LINK_KEYS, props),
            "required": [f[0] for f in TOXIC_ATTRS[toxic] if f[3]], "additionalProperties": False}
    what = {"power-loss": "Cut the targeted nodes' power: every write not fsynced is lost (powerfs), then a start.",
            "corrupt": "Kill the targeted nodes and damage their files (tail: a torn final write; random: a "
                       "flipped byte), then a start."}
    for action, keys in _PROCESS_KEYS.items():
        props = {"target": _ref("target"), "graceful": {"type": "boolean"}, "where": {"enum": list(CORRUPT_WHERE)},
                 "model": {"enum": list(POWERFS_MODELS)}}
        kinds[f"fault-{action}"] = {"type": ["object", "null"], "description": what.get(action, f"{action} the targeted replicas' containers (kill: -9, then a start; pause: freeze)."),
                                    "properties": {k: props[k] for k in keys}, "additionalProperties": False}
    kinds["fault-rolling-restart"] = {
        "type": ["object", "null"], "description": "Restart every replica one after another, `gap` apart.",
        "properties": _only(_ROLLING_KEYS, {"gap": _ref("duration"), "graceful": {"type": "boolean"}}),
        "additionalProperties": False}
    kinds["fault-crash-point"] = {
        "type": ["object", "null"],
        "description": "Simulator only (the Docker runner refuses it): the target crashes right after its next "
                       "Ready that made an `after` record durable, and restarts `down` later.",
        "properties": _only(_CRASH_POINT_KEYS, {"target": _ref("target"), "after": {"enum": list(CRASH_RECORDS)},
                                                "down": _ref("duration")}),
        "additionalProperties": False}
    kinds["fault-one-of"] = {
        "type": "array", "minItems": 2, "description": "Pick one of these faults at each occurrence.",
        "items": {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
                  "properties": {k: _ref(f"fault-{k}") for k in _FAULT_KEYS if k != "one-of"}}}
    if sorted(k.removeprefix("fault-") for k in kinds) != sorted(_FAULT_KEYS):
        raise AssertionError(f"fault kinds {sorted(kinds)} are not the validator's {sorted(_FAULT_KEYS)}")
    return kinds


def _fault_item() -> Schema:
    timing = {k: _ref("duration") for k in _TIMING_KEYS}
    return {"type": "object",
            "description": "One fault (exactly one of " + ", ".join(_FAULT_KEYS) + ") and when: at, for, every, "
                           "jitter, until.",
            "properties": {**{k: _ref(f"fault-{k}") for k in _FAULT_KEYS}, **timing},
            "additionalProperties": False,
            "oneOf": [{"required": [k]} for k in _FAULT_KEYS]}


# -- the `schema` subcommand (registered by harness.cli) ---------------------------------------------

def register_schema(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `paxos-chaos schema` to the CLI."""
    p = sub.add_parser("schema", help="print the JSON Schema of scenario files (for editors)",
                       description="Print the JSON Schema of the scenario format, generated from the "
                       f"validator's own definitions (shipped as scenarios/{SCHEMA_FILE}). Put "
                       f"`# yaml-language-server: $schema=path/to/{SCHEMA_FILE}` on a scenario's first line "
                       "and an editor with a YAML language server completes keys and flags mistakes. "
                       "`paxos-chaos validate` stays the authority.")
    p.set_defaults(func=_run_schema)


def _run_schema(args: argparse.Namespace) -> int:
    print(schema_text(), end="")
    return 0
