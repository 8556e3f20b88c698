"""The thread pool of the bulk routines: results in order, errors raised, no deadlock when a
task maps again."""

from __future__ import annotations

import pytest

from auditor import _vector


def test_results_come_back_in_order() -> None:
    assert _vector.parallel_map(lambda x: x * x, range(50)) == [x * x for x in range(50)]


def test_a_task_that_maps_again_runs_its_inner_map_itself() -> None:
    # every worker busy with an outer task that waits on inner ones would wait forever
    def outer(x: int) -> list[int]:
        return _vector.parallel_map(lambda y: x + y, range(10))

    got = _vector.parallel_map(outer, range(2 * _vector.workers() + 1))
    assert got == [[x + y for y in range(10)] for x in range(2 * _vector.workers() + 1)]


def test_an_error_in_a_task_is_raised() -> None:
    def fail(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return x

    with pytest.raises(ValueError, match="three"):
        _vector.parallel_map(fail, range(6))
