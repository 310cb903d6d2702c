"""A locked database and a full disk under the running stack: the citizen is told the truth,
nothing is half-written or answered twice, and the service comes back by itself (issue 13).

The whole stack runs with its data folder on a small tmpfs of its own (``bot.bench_faults``); the
test needs to mount one (root, as ``make test`` runs on CI) and is skipped, saying why, where it
cannot.
"""

from __future__ import annotations

import pytest

from bot import bench_faults
from bot.conversations import NOT_SAVED


@pytest.fixture(scope="module")
def faults(model_path):
    try:
        with bench_faults.fault_stack(model=model_path) as stack:
            yield bench_faults.run_faults(stack, citizens_count=3)
    except bench_faults.MountError as error:
        pytest.skip(f"a small disk cannot be mounted here: {error}")


def by_name(results, name):
    return next(f for f in results if f.fault == name)


@pytest.mark.stack
@pytest.mark.parametrize("name", ["app database locked", "tracker database locked", "disk full"])
def test_fault_tells_the_truth_and_loses_nothing(faults, name):
    figures = by_name(faults, name)
    assert figures.tried == 3
    assert figures.problems == []
    assert (figures.survived, figures.lost, figures.untrue, figures.twice, figures.errors) == (3, 0, 0, 0, 0)
    assert figures.integrity
    assert figures.resumed     # the next questions are answered, with nothing done by hand


@pytest.mark.stack
def test_faults_really_happened(faults):
    """Each fault reached the citizens (else the figures above prove nothing): with the app's database
    locked or the disk full the messages cannot be saved, and with Rasa's tracker locked they are kept."""
    assert by_name(faults, "app database locked").not_saved == 3
    assert by_name(faults, "disk full").not_saved >= 1
    tracker = by_name(faults, "tracker database locked")
    assert tracker.kept + tracker.answered == 3 and tracker.kept >= 1


def test_judge_catches_an_untrue_reply():
    """The judge itself: "not saved" for a stored message, a kept one never answered, and a question
    answered twice are each reported."""
    figures = bench_faults.FaultFigures("fake")
    history = {"c1": [{"direction": "in", "text": "lệ phí làm hộ chiếu bao nhiêu"},
                      {"direction": "out", "text": "Lệ phí làm hộ chiếu: 200.000 đồng"}],
               "c2": [{"direction": "in", "text": "đăng ký khai sinh cần giấy tờ gì"},
                      {"direction": "out", "text": bench_faults.BUSY}],
               "c3": [{"direction": "in", "text": "làm căn cước mất bao lâu"},
                      {"direction": "out", "text": "Làm căn cước mất 7 ngày"},
                      {"direction": "out", "text": "Làm căn cước mất 7 ngày"}]}
    sent = [bench_faults.Sent("c1", "lệ phí làm hộ chiếu bao nhiêu", "ho chieu", 200, NOT_SAVED),
            bench_faults.Sent("c2", "đăng ký khai sinh cần giấy tờ gì", "khai sinh", 200, bench_faults.BUSY),
            bench_faults.Sent("c3", "làm căn cước mất bao lâu", "can cuoc", 200, "Làm căn cước mất 7 ngày")]
    bench_faults.judge(figures, sent, history)
    assert (figures.tried, figures.survived, figures.untrue, figures.lost, figures.twice) == (3, 0, 1, 1, 1)
