"""Scoring a split: Predictions matched to SampleLabels by stamp, whichever comes first."""

from __future__ import annotations

import pytest

from neucodex_ros.core.scoring import Answer, Scoreboard, Truth


def answer(stamp: int, label: int, status: str = 'ok', used: int = 2, arrived: float = 1.0,
           size: int = 40) -> Answer:
    return Answer(stamp, label, status, used, 8, size, arrived)


def test_answers_match_labels_by_stamp_in_either_order() -> None:
    board = Scoreboard()
    board.expect(Truth(10, 3, ended=0.5))
    board.answer(answer(10, 3, arrived=0.6))   # label first
    board.answer(answer(20, 4, arrived=2.0))   # answer first
    board.expect(Truth(20, 5, ended=1.0))
    board.expect(Truth(30, 1))                 # never answered
    score = board.score()
    assert (score.labels, score.answered, score.labelled, score.correct) == (3, 2, 2, 1)
    assert score.accuracy == 0.5
    assert board.unanswered() == 1
    assert score.report()['unanswered'] == 1
    assert score.latency_p50 == pytest.approx((0.1 + 1.0) / 2)


def test_a_failure_counts_as_wrong_and_is_named() -> None:
    board = Scoreboard()
    for stamp in (1, 2):
        board.expect(Truth(stamp, 7))
    board.answer(answer(1, 7, used=3, size=60))
    board.answer(answer(2, -1, status='cloud_unavailable', used=0, size=0))
    score = board.score()
    assert score.accuracy == 0.5 and score.failures == 1
    assert (score.timesteps_used, score.bytes_per_sample) == (3, 60)  # over ok answers only
    assert 'failures 1 (cloud_unavailable 1)' in score.line()


def test_a_second_answer_for_a_sample_is_counted_not_used() -> None:
    board = Scoreboard()
    board.expect(Truth(5, 2))
    board.answer(answer(5, 2))
    board.answer(answer(5, 9))
    score = board.score()
    assert (score.correct, score.repeated) == (1, 1)


def test_without_labels_there_is_no_accuracy_and_no_latency() -> None:
    board = Scoreboard()
    board.answer(answer(1, 2))
    score = board.score()
    assert score.accuracy is None and score.latency_p50 is None
    assert 'accuracy' not in score.line() and '1 answered' in score.line()


def test_a_cloud_lost_sample_is_failed_and_a_missing_answer_unanswered() -> None:
    """`lost` once meant two things, counted differently by the bench and the demo.

    The bench counted the cloud's status `lost` (every timestep lost) with the samples no
    Prediction came for; the demo counted it as failed.
    """
    from neucodex_ros.core.scoring import UNANSWERED, outcome_counts

    counts = outcome_counts(['ok', 'lost', UNANSWERED, 'cloud_unavailable', 'ok', UNANSWERED])
    assert counts == {'unanswered': 2, 'failed': 2}
