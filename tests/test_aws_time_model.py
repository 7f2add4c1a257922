"""The sync benchmark's AWS time model table (benchmarks/aws_time.py): per scenario, the work of this project
and of a sequential tool, from the model in pipeline/core/timing.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from pipeline.core.manifest import OperationPreferences
from pipeline.core.timing import Rates

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "aws_time.py"


def aws_time() -> ModuleType:
    spec = importlib.util.spec_from_file_location("aws_time", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_no_op_from_the_stored_walk_makes_no_organizations_call_and_after_an_event_walks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    figures = aws_time().report(1000, 1, 5000, Rates(), OperationPreferences().to_api())
    stored = figures["(a) no-op, walk stored"]
    assert stored["this project"] == 0.0  # planned from the stored walk: no call, nothing deployed
    assert (
        stored["sequential, same preferences"] == stored["sequential, AWS defaults"] == 200.0
    )  # 1,000 at 5/s
    assert stored["ratio_same_preferences"] is None
    after_event = figures["(a) no-op after an Organizations event"]
    assert after_event["this project"] == after_event["sequential, AWS defaults"] == 200.0
    assert after_event["ratio_same_preferences"] == 1.0
    change = figures["(b) one role change, 5,000 accounts"]
    assert change["this project"] == 500.0  # the walk, then one rollout of 5,000 accounts at 10% tolerance
    assert change["ratio_aws_defaults"] > 100  # AWS's defaults deploy one account at a time
    table = capsys.readouterr().out
    assert "(a) no-op, walk stored" in table and " - same preferences, - AWS defaults" in table
