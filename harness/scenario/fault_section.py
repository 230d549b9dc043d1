"""The validator's `faults:` section: YAML nodes -> `ScheduleEntry`s of `faults.schema` specs (timing,
partitions, toxics, process faults, targets and node names)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from faults.schema import (
    CORRUPT_WHERE,
    CRASH_RECORDS,
    LINKS,
    POWERFS_MODELS,
    MODES,
    SHAPES,
    TARGET_WORDS,
    TOXIC_ATTRS,
    TOXIC_FAULTS,
    CrashPointSpec,
    FaultSpec,
    LinkSpec,
    PartitionSpec,
    ProcessActionName,
    ProcessSpec,
    RollingRestartSpec,
    ScheduleEntry,
    TargetSpec,
    ToxicType,
)
from harness.scenario.model import (
    _CRASH_POINT_KEYS,
    _FAULT_KEYS,
    _INSTANT,
    _LINK_KEYS,
    _NO_GROUPS,
    _PARTITION_KEYS,
    _PARTITION_REQUIRED,
    _PROCESS_KEYS,
    _ROLLING_KEYS,
    _TIMING_KEYS,
    _UNIT_SCALE,
    MAX_CRASH_DOWN_S,
    MAX_OCCURRENCES,
)
from harness.scenario.nodes import _BAD, _is_node_name, _kind, _Missing, _show, _unknown
from harness.scenario.reader import Reader

__all__ = ["FaultSection"]


class FaultSection(Reader):
    """`faults:`: each item one fault (or `one-of`) with its timing, checked against the cluster size."""

    def faults(self, node: Node, path: str,
               duration: float | None) -> tuple[ScheduleEntry, ...] | _Missing:
        path = path or "faults"
        if isinstance(node, ScalarNode) and self.value(node) is None:
            return ()
        if not isinstance(node, SequenceNode):
            self.problem(node, path, f"expected a list of faults (`- partition: ...`), got {_kind(node)}")
            return _BAD
        entries = [self.entry(item, f"{path}[{i}]", i, duration) for i, item in enumerate(node.value)]
        good = [e for e in entries if isinstance(e, ScheduleEntry)]
        return tuple(good) if len(good) == len(entries) else _BAD

    def entry(self, node: Node, path: str, index: int,
              duration: float | None) -> ScheduleEntry | _Missing:
        before = len(self.problems)
        keys = self.mapping(node, path, _FAULT_KEYS + _TIMING_KEYS)
        if keys is None:
            return _BAD
        kinds = [k for k in keys if k in _FAULT_KEYS]
        if not kinds and len(self.problems) > before:
            return _BAD  # a misspelt fault name was already reported; one message is enough
        if len(kinds) != 1:
            what = "no fault" if not kinds else f"several faults ({', '.join(kinds)})"
            self.problem(node, path, f"has {what}; each item needs exactly one of "
                                     f"{', '.join(_FAULT_KEYS)}")
            return _BAD
        kind = kinds[0]
        if kind == "one-of":
            choices = self.one_of(keys[kind], f"{path}.one-of")
        else:
            single = self.fault(kind, keys[kind], f"{path}.{kind}")
            choices = _BAD if isinstance(single, _Missing) else (single,)
        timing = self.timing(keys, path, duration)
        if isinstance(choices, _Missing) or isinstance(timing, _Missing):
            return _BAD
        at_s, for_s, every_s, jitter_s, until_s = timing
        if not self.timing_fits(keys, path, choices, timing):
            return _BAD
        if "until" in keys and duration is not None and until_s > duration:
            self.problem(keys["until"], f"{path}.until", f"{until_s:g}s is after the workload ends "
                                                         f"({duration:g}s); remove it or make it earlier")
            return _BAD
        return ScheduleEntry(index=index, line=node.start_mark.line + 1, choices=choices, at_s=at_s,
                             for_s=for_s, every_s=every_s, jitter_s=jitter_s, until_s=until_s)

    def one_of(self, node: Node, path: str) -> tuple[FaultSpec, ...] | _Missing:
        if not isinstance(node, SequenceNode) or len(node.value) < 2:
            self.problem(node, path, "expected a list of at least two faults to choose from, "
                                     "e.g. [{kill: {target: random}}, {pause: {target: leader}}]")
            return _BAD
        out: list[FaultSpec | _Missing] = []
        for i, item in enumerate(node.value):
            keys = self.mapping(item, f"{path}[{i}]", _FAULT_KEYS[:-1])
            if keys is None:
                out.append(_BAD)
            elif len(keys) != 1:
                self.problem(item, f"{path}[{i}]", "each choice needs exactly one fault; timing "
                                                   "keys (at, for, every) go on the item itself")
                out.append(_BAD)
            else:
                (kind, fnode), = keys.items()
                out.append(self.fault(kind, fnode, f"{path}[{i}].{kind}"))
        good = [f for f in out if not isinstance(f, _Missing)]
        return tuple(good) if len(good) == len(out) else _BAD

    def timing(self, keys: Mapping[str, Node], path: str, duration: float | None
               ) -> tuple[float, float | None, float | None, float, float] | _Missing:
        at = self.optional(keys, "at", path, 0.0, self.duration)
        for_ = self.optional(keys, "for", path, None, lambda n, p: self.duration(n, p, positive=True))
        every = self.optional(keys, "every", path, None,
                              lambda n, p: self.duration(n, p, positive=True))
        jitter = self.optional(keys, "jitter", path, 0.0, self.duration)
        until = self.optional(keys, "until", path, duration if duration is not None else 0.0,
                              self.duration)
        if any(isinstance(x, _Missing) for x in (at, for_, every, jitter, until)):
            return _BAD
        assert isinstance(at, float) and isinstance(jitter, float) and isinstance(until, float)
        assert for_ is None or isinstance(for_, float)
        assert every is None or isinstance(every, float)
        return at, for_, every, jitter, until

    def timing_fits(self, keys: Mapping[str, Node], path: str, choices: tuple[FaultSpec, ...],
                    timing: tuple[float, float | None, float | None, float, float]) -> bool:
        """Cross-field rules: inside the workload, no overlapping repeats, duration only when healable."""
        at_s, for_s, every_s, jitter_s, until_s = timing
        ok = True
        instant = [c for c in choices if isinstance(c, _INSTANT) or
                   (isinstance(c, ProcessSpec) and c.action == "restart")]
        if instant and len(instant) == len(choices) and "for" in keys:
            self.problem(keys["for"], f"{path}.for", "a restart is instantaneous and has no "
                                                     "duration; remove `for`")
            ok = False
        span = _rolling_span(choices, self.size)
        if until_s > 0 and at_s >= until_s:
            where = "until" if "until" in keys else "the workload ends"
            self.problem(keys["at"] if "at" in keys else keys["until"], f"{path}.at",
                         f"starts at {at_s:g}s, at or after {where} ({until_s:g}s); start it earlier")
            ok = False
        if every_s is None:
            for key in ("jitter", "until"):
                if key in keys:
                    self.problem(keys[key], f"{path}.{key}", "only applies with `every`; add "
                                                             "`every:` or remove it")
                    ok = False
            return ok
        if for_s is None and len(instant) < len(choices):
            self.problem(keys["every"], f"{path}.every", "a repeated fault needs `for:` (how long "
                                                         "each occurrence lasts)")
            return False
        busy = (for_s or 0.0) + jitter_s + span
        if busy > every_s:
            self.problem(keys["every"], f"{path}.every", f"{every_s:g}s is shorter than for + jitter "
                                                         f"({busy:g}s), so occurrences would overlap; "
                                                         "make `every` longer")
            ok = False
        elif until_s > at_s and (until_s - at_s) / every_s > MAX_OCCURRENCES:
            self.problem(keys["every"], f"{path}.every", f"would repeat more than "
                                                         f"{MAX_OCCURRENCES} times; make it longer")
            ok = False
        return ok

    def fault(self, kind: str, node: Node, path: str) -> FaultSpec | _Missing:
        readers: dict[str, Callable[[Node, str], FaultSpec | _Missing]] = {
            "partition": self.partition,
            **{name: self.link_reader(toxic) for name, toxic in TOXIC_FAULTS.items()},
            "kill": lambda n, p: self.process(n, p, "kill"),
            "pause": lambda n, p: self.process(n, p, "pause"),
            "restart": lambda n, p: self.process(n, p, "restart"),
            "power-loss": lambda n, p: self.process(n, p, "power-loss"),
            "corrupt": lambda n, p: self.process(n, p, "corrupt"),
            "rolling-restart": self.rolling_restart,
            "crash-point": self.crash_point,
        }
        why = self.system.unsupported_faults.get(kind)
        if why is not None:
            self.problem(node, path, f"target {self.system.name} cannot take {kind}: {why}")
            return _BAD
        if isinstance(node, ScalarNode) and self.value(node) is None:
            node = MappingNode("tag:yaml.org,2002:map", [], node.start_mark, node.end_mark)
        return readers[kind](node, path)

    def partition(self, node: Node, path: str) -> FaultSpec | _Missing:
        keys = self.mapping(node, path, _PARTITION_KEYS, required=_PARTITION_REQUIRED)
        if keys is None or "shape" not in keys:
            return _BAD
        shape = self.choice(keys["shape"], f"{path}.shape", SHAPES)
        mode = self.optional(keys, "mode", path, "drop", lambda n, p: self.choice(n, p, MODES))
        one_way = self.optional(keys, "one-way", path, False, self.boolean)
        target = self.optional(keys, "target", path, None, self.target)
        groups = self.optional(keys, "groups", path, _NO_GROUPS, self.groups)
        if any(isinstance(x, _Missing) for x in (shape, mode, one_way, target, groups)):
            return _BAD
        assert isinstance(shape, str) and isinstance(one_way, bool) and isinstance(groups, tuple)
        assert target is None or isinstance(target, TargetSpec)
        if not self.partition_fits(keys, path, shape, one_way, target, groups):
            return _BAD
        if shape == "isolate-leader":
            if not self.no_leader_probe(keys["shape"], f"{path}.shape"):
                return _BAD
            shape, target = "isolate", TargetSpec(kind="leader")
        elif shape == "isolate" and target is None:
            target = TargetSpec(kind="random")
        return PartitionSpec(shape=shape, mode="reject" if mode == "reject" else "drop",
                             one_way=one_way, target=target, groups=groups)

    def partition_fits(self, keys: Mapping[str, Node], path: str, shape: str, one_way: bool,
                       target: TargetSpec | None, groups: tuple[tuple[int, ...], ...]) -> bool:
        ok = True
        if (shape == "groups") != ("groups" in keys):
            where = keys.get("groups", keys["shape"])
            self.problem(where, f"{path}.groups", "`groups` goes with `shape: groups` and only "
                                                  "with it, e.g. groups: [[n1, n2], [n3]]")
            ok = False
        if "target" in keys:
            if shape != "isolate":
                self.problem(keys["target"], f"{path}.target", "only `shape: isolate` takes a "
                                                               "target (the node to isolate)")
                ok = False
            elif target is not None and (target.kind in ("minority", "majority", "all") or
                                         (target.kind == "nodes" and len(target.nodes) != 1)):
                self.problem(keys["target"], f"{path}.target", "isolate takes one node: leader, "
                                                               "random or a name like n2")
                ok = False
        if one_way and shape == "majorities-ring":
            self.problem(keys["one-way"], f"{path}.one-way", "majorities-ring is already "
                                                             "asymmetric; remove one-way")
            ok = False
        return ok

    def groups(self, node: Node, path: str) -> tuple[tuple[int, ...], ...] | _Missing:
        if not isinstance(node, SequenceNode) or len(node.value) < 2:
            self.problem(node, path, "expected at least two groups, e.g. [[n1, n2], [n3]]")
            return _BAD
        groups = [self.node_list(g, f"{path}[{i}]") for i, g in enumerate(node.value)]
        good = [g for g in groups if isinstance(g, tuple)]
        if len(good) != len(groups):
            return _BAD
        seen = [n for g in good for n in g]
        dup = sorted({n for n in seen if seen.count(n) > 1})
        if dup:
            self.problem(node, path, f"n{dup[0]} is in more than one group; each node goes in one")
            return _BAD
        if self.size is not None and len(seen) != self.size:
            missing = sorted(set(range(1, self.size + 1)) - set(seen))
            self.problem(node, path, f"n{missing[0]} is in no group; list every node "
                                     f"n1..n{self.size} in exactly one group")
            return _BAD
        return tuple(good)

    def node_list(self, node: Node, path: str) -> tuple[int, ...] | _Missing:
        if not isinstance(node, SequenceNode) or not node.value:
            self.problem(node, path, "expected a non-empty list of node names, e.g. [n1, n2]")
            return _BAD
        ids = [self.node_name(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        good = [i for i in ids if isinstance(i, int)]
        return tuple(good) if len(good) == len(ids) else _BAD

    def node_name(self, node: Node, path: str) -> int | _Missing:
        v = self.scalar(node, path, "a node name such as n1")
        if isinstance(v, _Missing):
            return v
        size = self.size or 7
        if not _is_node_name(v):
            self.problem(node, path, f"{_show(v)} is not a node name, use n1..n{size}")
            return _BAD
        ident = int(v[1:])
        if not 1 <= ident <= size:
            self.problem(node, path, f"{v} is not in this cluster of {size} replicas, "
                                     f"use n1..n{size}")
            return _BAD
        return ident

    def target(self, node: Node, path: str) -> TargetSpec | _Missing:
        if isinstance(node, SequenceNode):
            ids = self.node_list(node, path)
            return _BAD if isinstance(ids, _Missing) else TargetSpec(kind="nodes", nodes=ids)
        v = self.scalar(node, path, "a target")
        if v == "leader" and not self.no_leader_probe(node, path):
            return _BAD
        if isinstance(v, str) and v in TARGET_WORDS:
            return TargetSpec(kind=v)  # type: ignore[arg-type]  # checked against TARGET_WORDS
        if _is_node_name(v):
            ident = self.node_name(node, path)
            return _BAD if isinstance(ident, _Missing) else TargetSpec(kind="nodes", nodes=(ident,))
        if not isinstance(v, _Missing):
            self.problem(node, path, _unknown(_show(v), TARGET_WORDS + ("n1", "[n1, n2]"), "target"))
        return _BAD

    def no_leader_probe(self, node: Node, path: str) -> bool:
        """False (and a problem) when the target cannot say which node leads (maelstrom's nodes)."""
        if self.system.leader_probe:
            return True
        self.problem(node, path, f"target {self.system.name} has no leader probe, so no step can aim at the "
                                 "leader; use random, minority, majority or a node such as n1")
        return False

    def link_reader(self, toxic: ToxicType) -> Callable[[Node, str], FaultSpec | _Missing]:
        return lambda node, path: self.link(node, path, toxic)

    def link(self, node: Node, path: str, toxic: ToxicType) -> FaultSpec | _Missing:
        fields = TOXIC_ATTRS[toxic]
        own = tuple(f[0] for f in fields)
        required = tuple(f[0] for f in fields if f[3])
        keys = self.mapping(node, path, own + _LINK_KEYS, required=required)
        if keys is None or any(r not in keys for r in required):
            return _BAD
        attrs = self.link_attributes(keys, path, toxic)
        links = self.optional(keys, "links", path, "peers", lambda n, p: self.choice(n, p, LINKS))
        target = self.optional(keys, "target", path, TargetSpec(kind="all"), self.target)
        toxicity = self.optional(keys, "toxicity", path, 1.0, lambda n, p: self.number(n, p, 0, 1))
        if any(isinstance(x, _Missing) for x in (attrs, links, target, toxicity)):
            return _BAD
        assert isinstance(attrs, tuple) and isinstance(target, TargetSpec)
        assert isinstance(toxicity, float)
        return LinkSpec(toxic=toxic, attributes=attrs, target=target, toxicity=toxicity,
                        links="all" if links == "all" else "clients" if links == "clients" else "peers")

    def link_attributes(self, keys: Mapping[str, Node], path: str,
                        toxic: ToxicType) -> tuple[tuple[str, int], ...] | _Missing:
        """The toxic's integer attributes in Toxiproxy's units (ms; us for slicer delay; bytes)."""
        out: dict[str, int] = {}
        for key, attr, unit, _, default, lo, hi in TOXIC_ATTRS[toxic]:
            if key not in keys:
                out[attr] = default
                continue
            kpath = f"{path}.{key}"
            if unit == "int":
                v = self.integer(keys[key], kpath, lo, hi)
            else:
                seconds = self.duration(keys[key], kpath, positive=lo > 0, hi=hi)
                v = seconds if isinstance(seconds, _Missing) else round(seconds * _UNIT_SCALE[unit])
            if isinstance(v, _Missing):
                return _BAD
            out[attr] = v
        if toxic == "latency" and out["jitter"] > out["latency"]:
            # Toxiproxy would clamp negative delays; our noxious server refuses them: say so up front.
            self.problem(keys["jitter"], f"{path}.jitter", f"{out['jitter']:g}ms is more than the latency "
                                                           f"({out['latency']:g}ms); use at most the latency")
            return _BAD
        if toxic == "slicer" and out["size_variation"] >= out["average_size"]:
            where = keys.get("size-variation", keys.get("average-size"))
            assert where is not None  # defaults (64, 0) satisfy the rule, so one key was given
            self.problem(where, f"{path}.size-variation", f"{out['size_variation']} must be less than "
                                                          f"average-size ({out['average_size']})")
            return _BAD
        return tuple(out.items())

    def process(self, node: Node, path: str,
                action: ProcessActionName) -> FaultSpec | _Missing:
        keys = self.mapping(node, path, _PROCESS_KEYS[action])
        if keys is None:
            return _BAD
        target = self.optional(keys, "target", path, TargetSpec(kind="random"), self.target)
        graceful = self.optional(keys, "graceful", path, True, self.boolean)
        where = self.optional(keys, "where", path, "tail",
                              lambda n, p: self.choice(n, p, CORRUPT_WHERE))
        model = self.optional(keys, "model", path, "strict",
                              lambda n, p: self.choice(n, p, POWERFS_MODELS))
        if any(isinstance(x, _Missing) for x in (target, graceful, where, model)):
            return _BAD
        assert isinstance(target, TargetSpec) and isinstance(graceful, bool)
        if action == "power-loss" and model != self.powerfs_model.setdefault("model", str(model)):
            self.problem(keys.get("model", node), f"{path}.model", f"{model} differs from the {self.powerfs_model['model']} "
                                                         "of an earlier power-loss; a cluster runs one powerfs "
                                                         "model, so give every power-loss the same `model`")
            return _BAD
        return ProcessSpec(action=action, target=target, graceful=graceful,
                           where="random" if where == "random" else "tail",
                           model="ext4" if model == "ext4" else "strict")

    def rolling_restart(self, node: Node, path: str) -> FaultSpec | _Missing:
        keys = self.mapping(node, path, _ROLLING_KEYS)
        if keys is None:
            return _BAD
        gap = self.optional(keys, "gap", path, 5.0, lambda n, p: self.duration(n, p, hi=3600))
        graceful = self.optional(keys, "graceful", path, True, self.boolean)
        if isinstance(gap, _Missing) or isinstance(graceful, _Missing):
            return _BAD
        return RollingRestartSpec(gap_s=gap, graceful=graceful)

    def crash_point(self, node: Node, path: str) -> FaultSpec | _Missing:
        """Simulator only (`faults.schema.CrashPointSpec`); the Docker runner refuses the file."""
        keys = self.mapping(node, path, _CRASH_POINT_KEYS)
        if keys is None:
            return _BAD
        target = self.optional(keys, "target", path, TargetSpec(kind="random"), self.target)
        after = self.optional(keys, "after", path, "any", lambda n, p: self.choice(n, p, CRASH_RECORDS))
        down = self.optional(keys, "down", path, 0.1, lambda n, p: self.duration(n, p, hi=MAX_CRASH_DOWN_S))
        if isinstance(target, _Missing) or isinstance(after, _Missing) or isinstance(down, _Missing):
            return _BAD
        return CrashPointSpec(target=target, after="promise" if after == "promise" else
                              "accept" if after == "accept" else "any", down_s=down)


def _rolling_span(choices: Sequence[FaultSpec], size: int | None) -> float:
    """How long the longest rolling restart among `choices` keeps restarting nodes."""
    spans = [c.gap_s * (size or 3) for c in choices if isinstance(c, RollingRestartSpec)]
    return max(spans, default=0.0)
