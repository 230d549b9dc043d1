"""The one error hierarchy of paxos-chaos (harness, faults, workloads and targets raise it).

Errors are split by who is at fault (the user, the infrastructure, a peer, or us) and are turned into an
exit code and one line at a single boundary, the CLI (`harness.cli`). Every message names the offending
value and says what to do.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""

    exit_code: int = 2


class UsageError(HarnessError):
    """The command line or an input file is wrong. The message names the place and the fix; exit 2."""


class ScenarioError(UsageError):
    """A scenario file is malformed: the message names file, line and field path, and the fix."""


class HistoryFormatError(UsageError):
    """A history file cannot be read: the message names file, line and what was expected."""


class InfraError(HarnessError):
    """Docker, Toxiproxy or a replica could not be reached or driven: check `docker ps`; exit 2."""


class ProtocolViolation(HarnessError):
    """A peer or replica answered in a way the protocol does not allow (a bug in the system under test)."""


class InternalError(HarnessError):
    """An invariant of the harness broke: a bug in paxos-chaos. Report it with the seed and scenario."""

    exit_code = 70
