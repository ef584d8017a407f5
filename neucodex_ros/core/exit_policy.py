"""Early exit: stop a sample once the accumulated output is confident enough.

After timestep t (1-based) the confidence is the largest softmax probability of the mean
logits over timesteps 1..t. The sample exits when that confidence ≥ α, or at t = T.
α = 0 therefore always exits after the first timestep, and α ≥ 1 never exits early (a
float softmax can round to exactly 1.0, so α = 1 is defined to mean "run all T").
When some timesteps never arrive, `finish` decides on those that did.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float64."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def exits(confidence: np.ndarray | float, timestep: int, num_timesteps: int,
          alpha: float) -> np.ndarray:
    """Whether to stop after `timestep` (1-based), elementwise over the confidences."""
    confidence = np.asarray(confidence)
    if timestep >= num_timesteps:
        return np.ones(confidence.shape, dtype=bool)
    if alpha >= 1.0:
        return np.zeros(confidence.shape, dtype=bool)
    return confidence >= alpha


@dataclass
class Decision:
    """The outcome of a sample at the timestep it stopped."""

    label: int
    confidence: float
    probabilities: np.ndarray
    timesteps_used: int
    confident: bool  # stopped by α rather than by reaching T


def answer_problem(label: int, confidence: float, probabilities: Sequence[float], ok: bool,
                   timesteps_used: int, timesteps_lost: int, num_classes: int,
                   num_timesteps: int) -> str | None:
    """Why a final answer that came over the network cannot be this model's; None if it can.

    A decided answer (`ok`) names one of the classes after at least one timestep, a failed one
    has label −1; the confidence is a number in [0, 1]; the probabilities are none or one per
    class, each in [0, 1]; the timesteps used and lost add up to at most T. What passes is
    consistent, not authentic: anyone on the DDS domain can still forge a consistent answer
    (the README's threat model says how to close that).
    """
    if ok and not (0 <= label < num_classes and timesteps_used >= 1):
        return f'a decided answer with label {label} after {timesteps_used} timesteps'
    if not ok and label != -1:
        return f'a failed answer with label {label} (not -1)'
    if not (math.isfinite(confidence) and 0.0 <= confidence <= 1.0):
        return f'confidence {confidence}'
    if len(probabilities) not in (0, num_classes):
        return f'{len(probabilities)} probabilities for {num_classes} classes'
    if probabilities and not all(0.0 <= p <= 1.0 for p in probabilities):  # NaN fails too
        return 'probabilities outside [0, 1]'
    if timesteps_used + timesteps_lost > num_timesteps:
        return f'{timesteps_used} + {timesteps_lost} timesteps of {num_timesteps}'
    return None


@dataclass
class EarlyExit:
    """Accumulates one sample's logits timestep by timestep and decides when to stop."""

    alpha: float
    num_timesteps: int
    timesteps: int = 0
    _logit_sum: np.ndarray | None = field(default=None, repr=False)

    def update(self, logits: np.ndarray) -> Decision | None:
        """Add one timestep's logits [num_classes]; return the Decision once it stops."""
        if self.timesteps >= self.num_timesteps:
            raise ValueError(f'all {self.num_timesteps} timesteps were already used')
        logits = np.asarray(logits, dtype=np.float64)
        self._logit_sum = logits.copy() if self._logit_sum is None else self._logit_sum + logits
        self.timesteps += 1
        decision = self._decision(self._logit_sum)
        # exits() at t < T is exactly `confident`; at T every sample stops
        return decision if decision.confident or self.timesteps == self.num_timesteps else None

    def finish(self) -> Decision | None:
        """The Decision on the timesteps so far (None before the first).

        Used directly when no more will come because some were lost; `confident` only if
        it beat α before T.
        """
        return None if self._logit_sum is None else self._decision(self._logit_sum)

    def _decision(self, logit_sum: np.ndarray) -> Decision:
        probabilities = softmax(logit_sum / self.timesteps)
        confidence = float(probabilities.max())
        return Decision(label=int(probabilities.argmax()), confidence=confidence,
                        probabilities=probabilities, timesteps_used=self.timesteps,
                        confident=self.timesteps < self.num_timesteps
                        and bool(exits(confidence, self.timesteps, self.num_timesteps,
                                       self.alpha)))


def exit_points(logits: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised EarlyExit over a batch: logits [T, N, K] → (timesteps used [N], labels [N])."""
    num_timesteps = logits.shape[0]
    mean_logits = np.cumsum(logits.astype(np.float64), axis=0) / \
        np.arange(1, num_timesteps + 1)[:, None, None]
    probabilities = softmax(mean_logits)
    stop = np.stack([exits(probabilities[t].max(axis=-1), t + 1, num_timesteps, alpha)
                     for t in range(num_timesteps)])
    first = stop.argmax(axis=0)  # the last timestep always stops, so argmax finds one
    labels = probabilities[first, np.arange(logits.shape[1])].argmax(axis=-1)
    return first + 1, labels


def exit_summary(logits: np.ndarray, labels: np.ndarray, alpha: float) -> dict[str, float]:
    """Accuracy and timesteps used with early exit at α (α = 1: all T), over logits [T, N, K]."""
    return summarise_exits(*exit_points(logits, alpha), labels, alpha)


def summarise_exits(used: np.ndarray, predicted: np.ndarray, labels: np.ndarray,
                    alpha: float) -> dict[str, float]:
    """exit_summary of exit_points already taken (for a caller that needs them too)."""
    return {'alpha': alpha, 'accuracy': float((predicted == labels).mean()),
            'mean_timesteps': float(used.mean()),
            'p95_timesteps': float(np.percentile(used, 95))}
