"""The receiver applies a batch under one savepoint and still fails a message alone
(``services.federation.inbox._apply_batch``): a message whose applier raises is rolled back and
answered ``failed`` without being applied a second time in that envelope, whatever the
number of such messages; the others are applied exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_outbox_lanes import Faults, Node, exchange, queue


@pytest.mark.parametrize("failing", [[3], [2, 4], [2, 4, 6]])
def test_raising_messages_fail_alone_and_run_once(tmp_path: Path, failing: list[int]) -> None:
    kor, jpn = Node("KOR", tmp_path), Node("JPN", tmp_path)
    kor.trust(jpn)
    jpn.trust(kor)
    faults = Faults()
    for n in failing:
        faults.fail[n] = 1  # raises once only: a second run would apply it
    faults.refuse.add(5)
    queue(kor, range(1, 8))
    outcomes = exchange(kor, jpn, faults)
    assert outcomes is not None
    expected = ["failed" if n in failing else "refused" if n == 5 else "applied"
                for n in range(1, 8)]
    assert [o.outcome for o in outcomes] == expected
    assert jpn.applied() == [n for n in range(1, 8) if n not in failing and n != 5]
    assert all(faults.fail[n] == 0 for n in failing)  # each failing applier ran once
    assert not any(f"effect:{n}" in jpn.state.settings for n in failing)
    assert jpn.actions().count("inbox.failed") == len(failing)
    print(f"batch of 7 with {len(failing)} raising: {len(failing)} of {len(failing)} failed "
          f"alone, run once")
