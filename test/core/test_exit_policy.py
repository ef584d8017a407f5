"""The exit rule: softmax of the mean logits over 1..t; exit at ≥ α or t = T."""

from __future__ import annotations

import numpy as np
import pytest

from neucodex_ros.core.exit_policy import (
    EarlyExit,
    answer_problem,
    exit_points,
    exits,
    softmax,
)

CONFIDENT = np.array([9.0, 0.0, 0.0])  # softmax max ≈ 0.9998
UNSURE = np.array([0.1, 0.0, 0.0])     # ≈ 0.355


def run(alpha: float, sequence: list[np.ndarray], num_timesteps: int = 4):
    policy = EarlyExit(alpha=alpha, num_timesteps=num_timesteps)
    for logits in sequence:
        decision = policy.update(logits)
        if decision is not None:
            return decision
    return None


def test_alpha_zero_exits_after_the_first_timestep() -> None:
    decision = run(0.0, [UNSURE] * 4)
    assert decision.timesteps_used == 1 and decision.confident


def test_alpha_one_runs_all_timesteps_even_when_softmax_saturates() -> None:
    saturated = np.array([1000.0, 0.0, 0.0])  # float softmax rounds to exactly 1.0
    assert softmax(saturated).max() == 1.0
    decision = run(1.0, [saturated] * 4)
    assert decision.timesteps_used == 4 and not decision.confident


def test_exit_when_the_running_mean_reaches_alpha() -> None:
    # t=1: mean = UNSURE (0.355) → go on; t=2: mean = (UNSURE+CONFIDENT)/2 → ≈0.99 → stop
    decision = run(0.9, [UNSURE, CONFIDENT, CONFIDENT, CONFIDENT])
    assert decision.timesteps_used == 2 and decision.label == 0
    expected = softmax((UNSURE + CONFIDENT) / 2)
    assert decision.confidence == pytest.approx(expected.max())
    np.testing.assert_allclose(decision.probabilities, expected)


def test_reaching_t_stops_without_confidence() -> None:
    decision = run(0.99, [UNSURE] * 3, num_timesteps=3)
    assert decision.timesteps_used == 3 and not decision.confident


def test_no_update_after_the_last_timestep() -> None:
    policy = EarlyExit(alpha=1.0, num_timesteps=1)
    assert policy.update(UNSURE) is not None
    with pytest.raises(ValueError, match=r'^all 1 timesteps were already used$'):
        policy.update(UNSURE)


def test_finish_decides_on_the_timesteps_that_came() -> None:
    policy = EarlyExit(alpha=0.99, num_timesteps=4)
    assert policy.finish() is None  # nothing to decide on
    assert policy.update(UNSURE) is None and policy.update(-UNSURE) is None
    decision = policy.finish()
    assert (decision.timesteps_used, decision.confident) == (2, False)
    np.testing.assert_allclose(decision.probabilities, softmax(np.zeros(3)))


@pytest.mark.parametrize('alpha', [0.0, 0.3, 0.6, 0.9, 0.99, 1.0])
def test_vectorised_exit_points_agree_with_the_incremental_policy(alpha: float) -> None:
    logits = np.random.default_rng(3).normal(0, 2, size=(5, 200, 10))
    used, labels = exit_points(logits, alpha)
    for n in range(logits.shape[1]):
        decision = run(alpha, list(logits[:, n]), num_timesteps=5)
        assert (used[n], labels[n]) == (decision.timesteps_used, decision.label)


def test_answer_problem_names_what_no_model_answer_can_be() -> None:
    def problem(**changes: object) -> str | None:
        answer = dict(label=3, confidence=0.9, probabilities=[0.1] * 10, ok=True,
                      timesteps_used=2, timesteps_lost=0, num_classes=10, num_timesteps=4)
        return answer_problem(**(answer | changes))  # type: ignore[arg-type]

    assert problem() is None
    assert problem(ok=False, label=-1, confidence=0.0, probabilities=[]) is None
    assert problem(label=-1) and problem(label=10) and problem(timesteps_used=0)
    assert problem(ok=False) and problem(confidence=float('nan'))
    assert problem(confidence=1.5) and problem(probabilities=[0.1] * 2_000_000)
    assert problem(probabilities=[float('nan')] * 10) and problem(timesteps_lost=3)
    # each bound, just inside and just outside
    assert problem(probabilities=[0.0] * 9 + [1.0]) is None
    assert problem(probabilities=[-0.01] + [0.1] * 9) and problem(probabilities=[1.01] * 10)
    assert problem(confidence=0.0) is None and problem(confidence=1.0) is None
    assert problem(confidence=-0.01) and problem(confidence=1.01)
    assert problem(timesteps_used=2, timesteps_lost=2) is None  # all T accounted for
    assert problem(label=9) is None and problem(label=0) is None
    assert problem(ok=False, label=-1, timesteps_used=0, confidence=0.0) is None


def test_confidence_exactly_at_alpha_exits() -> None:
    """The rule is confidence ≥ α: equal exits, a hair below does not (before T)."""
    assert exits(0.9, 1, 4, 0.9) and not exits(np.nextafter(0.9, 0.0), 1, 4, 0.9)
    assert exits(0.0, 4, 4, 1.0) and not exits(1.0, 3, 4, 1.0)  # at T always; α = 1: never
    assert exits(0.0, 1, 4, 0.0)


def test_a_summary_of_exits_says_alpha_accuracy_and_timesteps() -> None:
    from neucodex_ros.core.exit_policy import summarise_exits

    used = np.array([1] * 19 + [4])
    summary = summarise_exits(used, np.array([1] * 15 + [0] * 5), np.ones(20, int), 0.9)
    assert summary == {'alpha': 0.9, 'accuracy': 0.75, 'mean_timesteps': 23 / 20,
                       'p95_timesteps': pytest.approx(np.percentile(used, 95))}
    assert summary['p95_timesteps'] == pytest.approx(1.15)


def test_exits_are_booleans_and_softmax_is_per_row_even_far_apart() -> None:
    assert exits(np.zeros(3), 4, 4, 0.5).dtype == np.bool_
    assert exits(np.ones(3), 1, 4, 1.0).dtype == np.bool_
    probabilities = softmax(np.array([[1000.0, 0.0], [0.0, 0.0]]))
    np.testing.assert_allclose(probabilities, [[1.0, 0.0], [0.5, 0.5]])


def test_exit_summary_scores_against_the_labels() -> None:
    from neucodex_ros.core.exit_policy import exit_summary

    logits = np.zeros((2, 4, 3))
    logits[:, :, 1] = 5.0  # every sample says 1 at once
    summary = exit_summary(logits, np.array([1, 1, 1, 0]), 0.9)
    assert summary['accuracy'] == 0.75 and summary['mean_timesteps'] == 1.0


def test_probabilities_outside_0_1_are_named() -> None:
    assert answer_problem(1, 0.9, [1.5, -0.5, 0.0], True, 1, 0, 3, 4) == \
        'probabilities outside [0, 1]'
