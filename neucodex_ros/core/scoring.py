"""Scoring a running split: each Prediction matched to the ground truth of its sample by stamp.

A converted bag carries a SampleLabel per sample, stamped like the sample's first EventPacket,
which is the stamp the edge gives the window and the Prediction carries on. So one stamp names
one sample on both sides, whichever arrives first. Latency is measured from when the sample's
last event was played (`Truth.ended`) to its Prediction's arrival, so it includes the edge
waiting for the window to close. Times are whatever clock the caller uses for both.
ROS-free: `replay --score`, `watch` and the `split` status line feed it from their messages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

OK = 'ok'  # Prediction.STATUS_OK (test_messages holds them equal; the core imports no ROS)
#: A client's record of a sample no Prediction came for: never a Prediction status.
UNANSWERED = 'unanswered'


def outcome_counts(statuses: Iterable[str]) -> dict[str, int]:
    """How many samples got no Prediction, and how many a Prediction without a label.

    `unanswered`: no Prediction came (UNANSWERED); `failed`: any status but ok, the cloud's
    `lost` (every timestep lost) included, which a client must not count as unanswered.
    """
    statuses = list(statuses)
    return {UNANSWERED: statuses.count(UNANSWERED),
            'failed': sum(s not in (OK, UNANSWERED) for s in statuses)}


@dataclass(frozen=True)
class Truth:
    """The label of one sample and when its last event was played (None: not known)."""

    stamp_ns: int
    label: int
    ended: float | None = None


@dataclass(frozen=True)
class Answer:
    """What the Prediction of one sample said, and when it arrived."""

    stamp_ns: int
    label: int
    status: str
    timesteps_used: int
    num_timesteps: int
    bytes_received: int
    arrived: float


@dataclass
class Scoreboard:
    """Truths and answers, matched by stamp."""

    truths: dict[int, Truth] = field(default_factory=dict)
    answers: dict[int, Answer] = field(default_factory=dict)
    repeated: int = 0  # answers for a stamp that was already answered

    def expect(self, truth: Truth) -> None:
        """Record the label of a sample (before or after its answer)."""
        self.truths[truth.stamp_ns] = truth

    def answer(self, answer: Answer) -> None:
        """Record a Prediction; a second one for the same stamp is counted, not used."""
        if answer.stamp_ns in self.answers:
            self.repeated += 1
            return
        self.answers[answer.stamp_ns] = answer

    def unanswered(self) -> int:
        """Labelled samples with no Prediction yet."""
        return sum(stamp not in self.answers for stamp in self.truths)

    def score(self) -> Score:
        """The figures so far."""
        answers = list(self.answers.values())
        labelled = [(self.truths[a.stamp_ns], a) for a in answers if a.stamp_ns in self.truths]
        ok = [a for a in answers if a.status == OK]
        latencies = [a.arrived - t.ended for t, a in labelled if t.ended is not None]
        return Score(
            labels=len(self.truths), answered=len(answers), labelled=len(labelled),
            correct=sum(a.status == OK and a.label == t.label for t, a in labelled),
            statuses=Counter(a.status for a in answers),
            timesteps_used=_mean([a.timesteps_used for a in ok]),
            num_timesteps=max((a.num_timesteps for a in answers), default=0),
            bytes_per_sample=_mean([a.bytes_received for a in ok]),
            latency_p50=_percentile(latencies, 50), latency_p95=_percentile(latencies, 95),
            repeated=self.repeated)


@dataclass(frozen=True)
class Score:
    """Accuracy, timesteps, bytes and latency of the answers so far.

    `accuracy` is over labelled answers (a failed answer counts as wrong); timesteps and bytes
    are means over the `ok` answers; latencies are None when no labelled answer has a
    played time.
    """

    labels: int
    answered: int
    labelled: int
    correct: int
    statuses: Counter[str]
    timesteps_used: float
    num_timesteps: int
    bytes_per_sample: float
    latency_p50: float | None
    latency_p95: float | None
    repeated: int

    @property
    def accuracy(self) -> float | None:
        """Correct / labelled answers, None without any."""
        return self.correct / self.labelled if self.labelled else None

    @property
    def failures(self) -> int:
        """Answers that carry no label (any status but ok)."""
        return self.answered - self.statuses[OK]

    def line(self) -> str:
        """One status line: answers, accuracy, timesteps, bytes, failures."""
        parts = [f'{self.answered:,} answered']
        if self.accuracy is not None:
            parts.append(f'accuracy {self.accuracy:.1%} of {self.labelled:,} labelled')
        if self.statuses[OK]:
            parts.append(f'timesteps {self.timesteps_used:.2f}/{self.num_timesteps}')
            parts.append(f'{self.bytes_per_sample:,.0f} B/sample')
        parts.append(f'failures {self.failures}' + (
            ' (' + ', '.join(f'{s} {n}' for s, n in sorted(self.statuses.items()) if s != OK)
            + ')' if self.failures else ''))
        return ' · '.join(parts)

    def report(self) -> dict[str, object]:
        """The figures as a flat dict (for --json and tables)."""
        return {'labels': self.labels, 'answered': self.answered, 'labelled': self.labelled,
                'unanswered': self.labels - self.labelled, 'correct': self.correct,
                'accuracy': self.accuracy, 'statuses': dict(sorted(self.statuses.items())),
                'mean_timesteps_used': self.timesteps_used,
                'num_timesteps': self.num_timesteps,
                'bytes_per_sample': self.bytes_per_sample,
                'latency_p50_s': self.latency_p50, 'latency_p95_s': self.latency_p95,
                'repeated_answers': self.repeated}


def _mean(values: list[int]) -> float:
    return float(np.mean(values)) if values else 0.0


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None
