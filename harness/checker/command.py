"""The `paxos-chaos check` command (placeholder until the checker lands)."""

from __future__ import annotations

import argparse

from harness.errors import UsageError


def run_check(args: argparse.Namespace) -> int:
    """Check the files named in `args`; see harness.cli for the options."""
    raise UsageError("check: the checker is not built yet")
