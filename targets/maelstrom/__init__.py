"""Target `maelstrom`: any Maelstrom `lin-kv` node program, unmodified, one per container.

Maelstrom (jepsen-io/maelstrom) runs a node as a local process that speaks newline-delimited JSON
messages on stdin/stdout, on a simulated network. Here each node runs in its own container under
`bridge.py`, which sends Maelstrom's `init`, carries node-to-node messages over TCP through the
directed link's Toxiproxy proxy `ni-nj`, and client requests between the harness and the node, so
every fault of the harness (partitions of every shape, latency and the other toxics, kill -9 and
restart, pause) applies to nodes written for Maelstrom.

The program is the scenario's `cluster.node` (or `paxos-chaos run --node PATH`): a script with a `#!`
line for one of the image's runtimes, or a Linux binary. Its folder is mounted read-only at /node;
the node runs with its working directory on its data volume (/data), which survives kill and restart,
so what it writes there (relative paths) is what it keeps. Kill restarts the program and sends `init`
again. The client speaks lin-kv (`client.py`): get = read, put = write, cas; no append or delete.
There is no leader or state probe: leader-aimed steps are refused when the scenario is validated, and
the agreement and convergence checks are reported "not available".
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from targets.contract import Target, TargetOption, http_healthcheck
from targets.errors import InfraError
from targets.maelstrom.client import MaelstromAdapter

__all__ = ["MAELSTROM", "MaelstromTarget", "RUNTIMES"]

HERE = Path(__file__).resolve().parent
CLIENT_PORT = 7000
PEER_PORT = 7100
#: The runtimes in the node image, from Debian bookworm (a `#!` line may name these; `node` is nodejs).
RUNTIMES: tuple[str, ...] = ("python3", "ruby", "node", "nodejs", "sh", "bash", "dash")
#: What the image installs with dpkg on the project's base (python3 + aiohttp are in that base already).
PACKAGES: tuple[str, ...] = ("ruby", "nodejs")
#: ... and on another Debian base (python:3.11-slim has a python3 of its own, without aiohttp).
PACKAGES_OTHER_BASE: tuple[str, ...] = ("python3", "python3-aiohttp")
DEFAULT_MIX = (("get", 50.0), ("put", 30.0), ("cas", 20.0))
_ELF = b"\x7fELF"


def _interpreter(first_line: bytes) -> str:
    """The program a `#!` line runs: `#!/usr/bin/env ruby` and `#!/usr/bin/ruby -w` both give ruby."""
    words = first_line[2:].decode("utf-8", "replace").split()
    if not words:
        return ""
    name = os.path.basename(words[0])
    if name == "env":
        rest = [w for w in words[1:] if not w.startswith("-")]
        return rest[0] if rest else ""
    return name


class MaelstromTarget(Target):
    name = "maelstrom"
    image = "paxos-chaos/maelstrom-node:latest"
    entrypoint = ("/usr/bin/python3", "/usr/local/bin/maelstrom-bridge")  # the Dockerfile's ENTRYPOINT (root)
    description = "any Maelstrom lin-kv node program, unmodified, bridged over TCP"
    client_port = CLIENT_PORT
    ops = ("get", "put", "cas")
    default_mix = DEFAULT_MIX
    options = (TargetOption(name="node", kind="path", default="",
                            doc="the node program to test: node: path/to/your/node (relative to the scenario "
                                "file), or `paxos-chaos run --node PATH`; a script with a #! line for "
                                f"{', '.join(RUNTIMES[:3])} or sh, or a Linux binary"),)
    leader_probe = False
    state_probe = False
    start_timeout_s = 60.0

    def check_path(self, option: str, path: Path) -> str | None:
        """The node program must be an executable file that the image can run."""
        if not path.exists():
            return "no such file; give the path of your node program"
        if not path.is_file():
            return "is not a file; give the node program itself, not its folder"
        if not os.access(path, os.X_OK):
            return f"is not executable; run `chmod +x {path}`"
        try:
            with path.open("rb") as f:
                head = f.read(256)
        except OSError as exc:
            return f"cannot be read ({exc.strerror})"
        if head.startswith(_ELF):
            return None
        if not head.startswith(b"#!"):
            return "is neither a script with a #! line (e.g. #!/usr/bin/env python3) nor a Linux binary"
        wanted = _interpreter(head.split(b"\n", 1)[0])
        if wanted not in RUNTIMES:
            return (f"its #! line runs {wanted or 'nothing'!r}, which the node image does not have; it has "
                    f"{', '.join(RUNTIMES)} (docs/targets.md says how to add one)")
        return None

    def sources(self) -> list[Path]:
        return [HERE / "Dockerfile", HERE / "bridge.py", HERE.parent / "debs.py"]

    def build_context(self, ctx: Path, *, base: str, project_base: bool) -> None:
        from targets.debs import download_debs  # host-side apt work, only when building

        packages = PACKAGES if project_base else PACKAGES + PACKAGES_OTHER_BASE
        try:
            download_debs(ctx / "debs", packages)
        except RuntimeError as exc:
            raise InfraError(f"target maelstrom: cannot fetch {', '.join(packages)} from the Debian mirror: "
                             f"{exc}") from exc
        shutil.copy(HERE / "Dockerfile", ctx / "Dockerfile")
        shutil.copy(HERE / "bridge.py", ctx / "bridge.py")

    def peer_port(self, j: int) -> int:
        return PEER_PORT

    def service(self, i: int, n: int, *, routes: Mapping[int, str], options: Mapping[str, str]) -> dict[str, Any]:
        program = Path(self.check_options(options)["node"])
        return {
            "image": self.image,
            "environment": {
                "NODE_INDEX": str(i),
                "NODE_COUNT": str(n),
                "PEER_ROUTES": ",".join(f"{j}={routes[j]}" for j in sorted(routes)),
                "CLIENT_LISTEN": f"0.0.0.0:{CLIENT_PORT}",
                "PEER_LISTEN": f"0.0.0.0:{PEER_PORT}",
                "PEER_SECRET": "${PAXOS_PEER_SECRET:-}",
                "NODE_PROGRAM": f"/node/{program.name}",
                "DATA_DIR": self.data_dir,
                "INIT_TIMEOUT_S": "${MAELSTROM_INIT_TIMEOUT_S:-10}",
            },
            "volumes": [f"{program.parent}:/node:ro"],
            "healthcheck": http_healthcheck(CLIENT_PORT, retries=30, start_period="1s"),
            "stop_grace_period": "3s",
        }

    def adapter(self, options: Mapping[str, str]) -> MaelstromAdapter:
        return MaelstromAdapter()


MAELSTROM = MaelstromTarget()
