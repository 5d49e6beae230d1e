"""Spending limits on a runner: the query budget is never exceeded (a batch that does not fit is not sent) and a
check past its deadline is refused with a 'not finished' error."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hostile_models import W
from onnx_factory import linear, save

from auditor.errors import AuditorError
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.budget import Budget, BudgetExhausted

B = np.array([0.5, -0.5], dtype=np.float32)
X = np.random.default_rng(1).normal(size=(40, 3)).astype(np.float32)  # distinct rows: no row-cache hits


@pytest.fixture()
def blackbox(tmp_path) -> BlackBox:
    return BlackBox.open(save(linear(W, B), tmp_path / "m.onnx"), OpenOptions(device="cpu"))


def test_queries_stop_at_the_budget(blackbox):
    blackbox.runner.budget = budget = Budget(queries=12)
    blackbox.predict(X[:8])
    with pytest.raises(BudgetExhausted, match="budget of 12 queries is spent") as refused:
        blackbox.predict(X[8:13])
    assert isinstance(refused.value, AuditorError)
    assert budget.spent == 8 and blackbox.queries == 8  # the refused batch was never sent
    blackbox.predict(X[13:17])
    assert budget.spent == 12 == blackbox.queries


def test_a_check_past_its_deadline_is_not_finished(blackbox):
    blackbox.runner.budget = budget = Budget()
    budget.start_check(0.05)
    blackbox.predict(X[:10])
    time.sleep(0.1)
    with pytest.raises(BudgetExhausted, match="not finished: the check ran past its time limit"):
        blackbox.predict(X[10:20])
    budget.start_check(None)
    assert blackbox.predict(X[20:30]).shape == (10, 2)
    assert budget.spent == 20


class SlowSession:
    """The real session, each call taking at least `seconds` (a model far slower than this linear one)."""

    def __init__(self, session, seconds: float) -> None:
        self._session, self._seconds = session, seconds

    def run(self, *args):
        time.sleep(self._seconds)
        return self._session.run(*args)

    def __getattr__(self, name):
        return getattr(self._session, name)


def test_a_large_batch_stops_within_one_call_of_the_deadline(blackbox):
    # 40 rows in calls of 4, 0.05 s each: the deadline at 0.12 s passes during the third call
    blackbox.runner.batch_size = 4
    blackbox.runner.session = SlowSession(blackbox.runner.session, 0.05)
    blackbox.runner.budget = budget = Budget(queries=100)
    budget.start_check(0.12)
    with pytest.raises(BudgetExhausted, match="past its time limit"):
        blackbox.predict(X, cache=False)
    assert 1 <= blackbox.calls <= 3  # not the ten calls of the whole batch
    assert blackbox.queries == budget.spent == 4 * blackbox.calls  # rows sent; the rest given back
