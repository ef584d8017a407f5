"""Early exit: stop a sample once the accumulated output is confident enough.

After timestep t (1-based) the confidence is the largest softmax probability of the mean
logits over timesteps 1..t. The sample exits when that confidence ≥ α, or at t = T.
α = 0 therefore always exits after the first timestep, and α ≥ 1 never exits early (a
float softmax can round to exactly 1.0, so α = 1 is defined to mean "run all T").
When some timesteps never arrive, `finish` decides on those that did.
"""

from __future__ import annotations

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
        decision = self.finish()
        # exits() at t < T is exactly `confident`; at T every sample stops
        return decision if decision.confident or self.timesteps == self.num_timesteps else None

    def finish(self) -> Decision | None:
        """The Decision on the timesteps so far (None before the first).

        Used directly when no more will come because some were lost; `confident` only if
        it beat α before T.
        """
        if self._logit_sum is None:
            return None
        probabilities = softmax(self._logit_sum / self.timesteps)
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
