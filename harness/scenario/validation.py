"""The validator: the whole file (top keys, `cluster:`), built on its sections (`workload_section`,
`fault_section`) and primitives (`reader`)."""

from __future__ import annotations

from pathlib import Path

from yaml.nodes import MappingNode, Node, SequenceNode

from harness.scenario.fault_section import FaultSection
from harness.scenario.model import (
    _CLUSTER_KEYS,
    _NO_BUGS,
    _NO_ENTRIES,
    _OPTION_KEYS,
    _TOP_KEYS,
    _TOP_REQUIRED,
    CLUSTER_SIZES,
    MAX_NAME,
    MAX_SEED,
    SEED_RULE,
    ChecksSpec,
    ClusterSpec,
    Scenario,
)
from harness.scenario.nodes import _BAD, _kind, _Missing, _show
from harness.scenario.workload_section import WorkloadSection
from targets.registry import TARGETS, get_target
from workloads.spec import WorkloadSpec

__all__ = ["Validator"]


def _owners(option: str) -> str:
    """The targets that have `option`, for a message: "etcd" or "a and b"."""
    return " and ".join(t.name for t in TARGETS.values() if option in {o.name for o in t.options})



class Validator(FaultSection, WorkloadSection):
    """Walks a scenario's composed YAML, collecting problems as (line, message); `scenario()` is the
    entry point, None when a problem was found."""

    def scenario(self, root: Node, default_name: str) -> Scenario | None:
        keys = self.mapping(root, "", _TOP_KEYS, required=_TOP_REQUIRED)
        if keys is None:
            return None
        name = self.optional(keys, "name", "", default_name,
                             lambda n, p: self.text(n, p, one_line=True, max_len=MAX_NAME))
        desc = self.optional(keys, "description", "",
                             "", lambda n, p: self.text(n, p, one_line=True))
        seed = self.optional(keys, "seed", "", 1,
                             lambda n, p: self.integer(n, p, 0, MAX_SEED, rule=f"{SEED_RULE} ({MAX_SEED})"))
        cluster = (self.cluster(keys["cluster"], "cluster") if "cluster" in keys
                   else self.cluster(MappingNode("tag:yaml.org,2002:map", [], root.start_mark, root.end_mark),
                                     "cluster"))
        if isinstance(cluster, ClusterSpec):
            self.size = cluster.size
        workload = self.workload(keys["workload"], "workload") if "workload" in keys else _BAD
        duration = workload.duration_s if isinstance(workload, WorkloadSpec) else None
        faults = self.optional(keys, "faults", "", _NO_ENTRIES, lambda n, p: self.faults(n, p, duration))
        checks = self.optional(keys, "checks", "", ChecksSpec(), self.checks)
        parts = (name, desc, seed, cluster, workload, faults, checks)
        if any(isinstance(x, _Missing) for x in parts):
            return None
        assert isinstance(name, str) and isinstance(desc, str) and isinstance(seed, int)
        assert isinstance(cluster, ClusterSpec) and isinstance(workload, WorkloadSpec)
        assert isinstance(faults, tuple) and isinstance(checks, ChecksSpec)
        return Scenario(name=name, description=desc, seed=seed, cluster=cluster, workload=workload,
                        faults=faults, checks=checks, source=self.source)

    def cluster(self, node: Node, path: str) -> ClusterSpec | _Missing:
        keys = self.mapping(node, path, _CLUSTER_KEYS)
        if keys is None:
            return _BAD
        if "target" in keys and self.override is None:
            name = self.choice(keys["target"], f"{path}.target", sorted(TARGETS))
            if isinstance(name, _Missing):
                return _BAD
            self.system = get_target(name)
        size = self.optional(keys, "size", path, 3, self.cluster_size)
        bugs = self.optional(keys, "bugs", path, _NO_BUGS, self.bug_list)
        given: dict[str, str] = {}
        for key in _OPTION_KEYS:
            if key not in keys:
                continue
            if key not in {o.name for o in self.system.options}:
                self.problem(keys[key], f"{path}.{key}", f"is an option of target {_owners(key)}, "
                                                         f"not of {self.system.name}; remove it")
                return _BAD
            opt = next(o for o in self.system.options if o.name == key)
            value = (self.path_option(keys[key], f"{path}.{key}", key) if opt.kind == "path"
                     else self.choice(keys[key], f"{path}.{key}", opt.choices))
            if isinstance(value, _Missing):
                return _BAD
            given[key] = value
        if not self.apply_option_overrides(node, path, given):
            return _BAD
        if isinstance(size, _Missing) or isinstance(bugs, _Missing):
            return _BAD
        if bugs and not self.system.known_bugs:
            self.problem(keys["bugs"], f"{path}.bugs", f"target {self.system.name} has no deliberate bugs "
                                                       "(bugs are the paxos replica's); remove it")
            return _BAD
        try:
            options = tuple(sorted(self.system.check_options(given).items()))
        except ValueError as exc:  # a path option that must be given
            self.problem(node, path, f"{exc}")
            return _BAD
        return ClusterSpec(size=size, bugs=bugs, target=self.system.name, options=options)

    def apply_option_overrides(self, node: Node, path: str, given: dict[str, str]) -> bool:
        """The CLI's option overrides (`--node`), checked like the file's own; False after a problem."""
        ok = True
        for key, value in self.option_overrides.items():
            opt = next((o for o in self.system.options if o.name == key), None)
            if opt is None:
                self.problem(node, path, f"--{key} is an option of target {_owners(key) or '(none)'}, "
                                         f"not of {self.system.name}; leave it out or use --target")
                ok = False
                continue
            given[key] = value  # a path: made absolute and checked by `option_overrides`
        return ok

    def path_option(self, node: Node, path: str, option: str) -> str | _Missing:
        """A host path, relative to the scenario file's folder, checked by the target; returned absolute."""
        v = self.scalar(node, path, "a path")
        if isinstance(v, _Missing):
            return v
        if not isinstance(v, str):
            self.problem(node, path, f"{_show(v)} is not a path; give the file's path, relative to this "
                                     "scenario's folder, e.g. ./my-node.py")
            return _BAD
        base = Path(self.source).parent if self.source != "<string>" else Path.cwd()
        try:
            return self.system.resolve_path(option, v, base=base)
        except ValueError as exc:
            self.problem(node, path, str(exc))
            return _BAD

    def cluster_size(self, node: Node, path: str) -> int | _Missing:
        v = self.scalar(node, path, "3, 5 or 7")
        if isinstance(v, _Missing):
            return v
        if isinstance(v, bool) or v not in CLUSTER_SIZES:
            self.problem(node, path, f"{_show(v)} is not a supported cluster size, use 3, 5 or 7")
            return _BAD
        assert isinstance(v, int)
        return v

    def bug_list(self, node: Node, path: str) -> tuple[str, ...] | _Missing:
        items = node.value if isinstance(node, SequenceNode) else None
        if items is None:
            self.problem(node, path, f"expected a list of bug names, got {_kind(node)}")
            return _BAD
        out = [self.text(item, f"{path}[{i}]") for i, item in enumerate(items)]
        good = [b for b in out if isinstance(b, str)]
        for i, b in enumerate(out):
            try:  # one name at a time, so each unknown one is reported at its own line
                self.system.parse_bugs([b] if isinstance(b, str) else [])
            except ValueError as exc:  # the replica would refuse to start with it (BUGS)
                self.problem(items[i], f"{path}[{i}]", f"{exc}; fix or remove it")
                good = []
        return self.system.parse_bugs(good) if len(good) == len(out) else _BAD
