"""A node's health as /diagnostics reports it: OK, WARN or ERROR, and why, in one line.

The rule: a node is as healthy as the worst thing that happened in the last period (the
growth of its counters since the last report) or holds now (the conditions its node passes
in, such as "no cloud has answered for longer than the deadline"). A problem is a level and a
sentence; the report is the worst level, with every sentence of that level. What a counter
means is said once, in EDGE_RULES and CLOUD_RULES: a counter that names several (`rejected_*`)
sums every counter it matches.

A queue that drops frames because the camera is faster than the model is not a problem: it
is the queue's policy (`queue_size`), and shows as a value, not as a WARN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum


class Level(IntEnum):
    """diagnostic_msgs/DiagnosticStatus levels (STALE is the aggregator's, not a node's)."""

    OK = 0
    WARN = 1
    ERROR = 2


@dataclass(frozen=True)
class Health:
    """A level and the sentence that says why."""

    level: Level
    message: str


@dataclass(frozen=True)
class Rule:
    """Counters whose growth in a period is a problem of `level`; `what` names what they count."""

    level: Level
    counters: tuple[str, ...]  # names, or prefixes ending in '*'
    what: str

    def count(self, grown: Mapping[str, int]) -> int:
        """How much the matching counters grew."""
        return sum(value for name, value in grown.items() if any(
            name.startswith(pattern[:-1]) if pattern.endswith('*') else name == pattern
            for pattern in self.counters))


FAILING = Rule(Level.ERROR, ('callback_errors',), 'callbacks failed (the log says why: the '
               'model or the node cannot run as configured)')
EDGE_RULES = (
    FAILING,
    Rule(Level.WARN, ('samples_fallen_back', 'samples_cloud_unavailable'),
         'samples the cloud did not answer by their deadline'),
    Rule(Level.WARN, ('frames_rejected', 'packets_rejected*', 'windows_rejected'),
         'inputs rejected'),
    Rule(Level.WARN, ('input_lost',), 'input messages lost in transport'),
    Rule(Level.WARN, ('answers_rejected',), 'answers rejected'),
)
CLOUD_RULES = (
    FAILING,
    Rule(Level.WARN, ('rejected_*',), 'messages rejected'),
    Rule(Level.WARN, ('dropped_source_backlog',), 'messages dropped (a robot sends faster '
         'than the cloud serves it)'),
    Rule(Level.WARN, ('samples_evicted', 'samples_timeout', 'samples_lost'),
         'samples failed (evicted, timed out or lost)'),
    Rule(Level.WARN, ('stalls',), 'stalls (the cloud could not announce itself)'),
)


def grown(now: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    """The counters that grew since `before`, by how much."""
    return {name: value - before.get(name, 0) for name, value in now.items()
            if value > before.get(name, 0)}


def assess(growth: Mapping[str, int], rules: Sequence[Rule], conditions: Iterable[Health] = (),
           healthy: str = 'ok') -> Health:
    """The node's health: the worst of the rules' problems and the conditions; else `healthy`."""
    problems = [Health(rule.level, f'{rule.what}: {count}')
                for rule in rules if (count := rule.count(growth))]
    problems += list(conditions)
    if not problems:
        return Health(Level.OK, healthy)
    worst = max(problem.level for problem in problems)
    return Health(worst, '; '.join(p.message for p in problems if p.level == worst))
