"""The link's vocabulary without ROS: a message's flags, a verdict's reason, a sample's end.

The values are the wire's (PackedSpikes.FLAG_*, ExitSignal.REASON_* and STATUS_*;
test/package/test_messages.py checks them against the messages), so the cores decide with
these names and the nodes copy the numbers to and from the messages unchanged. `Verdict` is
an ExitSignal without ROS, as the cloud's rules send it and the edge's take it; `Log` is the
one action both cores return for the node's log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, IntFlag

#: Prediction.status of a sample no cloud answered by its deadline (the edge's own outcome).
CLOUD_UNAVAILABLE = 'cloud_unavailable'


class Reason(IntEnum):
    """ExitSignal.reason: final (the first three), or a step of the exchange."""

    CONFIDENT = 0  # confidence reached alpha before timestep T
    REACHED_T = 1  # all T timesteps used or lost
    ERROR = 2  # the cloud gave up on the sample (the status says why)
    CONTINUE = 3  # undecided: the edge asked for a verdict and the next timestep is needed
    READY = 4  # answers a hello: this cloud takes the robot's samples


class Status(IntEnum):
    """ExitSignal.status; `outcome` is the same as Prediction.status."""

    OK = 0
    TIMEOUT = 1  # no timestep came for the cloud's sample_timeout, none usable
    EVICTED = 2  # the robot opened more than max_in_flight samples; this was the oldest
    LOST = 3  # every timestep was lost or undecodable

    @property
    def outcome(self) -> str:
        """The Prediction.status of a sample that ended so."""
        return self.name.lower()


def outcome(status: int) -> str | None:
    """The Prediction.status of a wire status; None for a number no cloud sends."""
    return Status(status).outcome if status in Status._value2member_map_ else None


class Flag(IntFlag):
    """PackedSpikes.flags."""

    VERDICT = 1  # the edge asks for a verdict after this timestep
    RESENT = 2  # sent again: no verdict reached the edge in time
    HELLO = 4  # no spikes: does a cloud take this model's samples?
    BUNDLE = 8  # several timesteps in one message (codec.join_bundle)
    DIRECT = 16  # for the cloud it is addressed to alone, whatever the claims (core/fleet.py, 7)
    CANCEL = 32  # no spikes: the edge took the answer of the cloud addressed; others drop it
    HEDGE = 64  # for the next cloud after the one addressed, whatever the claims (rule 7)


@dataclass(frozen=True)
class Log:
    """A line for the node's log; warnings are throttled by the node."""

    text: str
    warning: bool = False


@dataclass(frozen=True)
class Verdict:
    """An ExitSignal: a final answer (CONFIDENT, REACHED_T, ERROR), CONTINUE or READY.

    As received, `reason` and `status` may be numbers no cloud sends: the edge checks them.
    """

    source_id: str
    sample_id: int
    reason: int  # a Reason
    status: int = Status.OK  # a Status
    label: int = -1
    confidence: float = 0.0
    probabilities: Sequence[float] = ()  # final answers only
    timesteps_used: int = 0
    timesteps_lost: int = 0
    bytes_received: int = 0
    cloud: int = 0  # the fingerprint of the cloud that sent it (core/fleet.py)
