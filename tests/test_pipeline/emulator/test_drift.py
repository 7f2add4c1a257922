"""The emulator's drift comparison (pipeline.emulator.drift): PropertyDifferences as AWS shapes them."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.emulator.drift import differences, resource_drifts


@pytest.mark.parametrize(
    ("expected", "actual", "diffs"),
    [
        ({"A": 1}, {"A": 1}, []),
        (
            {"A": 1},
            {"A": 2},
            [{"PropertyPath": "/A", "DifferenceType": "NOT_EQUAL", "ExpectedValue": "1", "ActualValue": "2"}],
        ),
        (
            {"A": ["x"]},
            {"A": ["x", "y"]},
            [{"PropertyPath": "/A/1", "DifferenceType": "ADD", "ActualValue": "y"}],
        ),
        (
            {"A": ["x", "y"]},
            {"A": ["x"]},
            [{"PropertyPath": "/A/1", "DifferenceType": "REMOVE", "ExpectedValue": "y"}],
        ),
        (
            {"A": 1, "B": {"C": "d"}},
            {"A": 1},
            [{"PropertyPath": "/B", "DifferenceType": "REMOVE", "ExpectedValue": '{"C": "d"}'}],
        ),
        (
            {"A": "s3:Get"},
            {"A": ["s3:Get", "s3:Put"]},
            [
                {
                    "PropertyPath": "/A",
                    "DifferenceType": "NOT_EQUAL",
                    "ExpectedValue": "s3:Get",
                    "ActualValue": '["s3:Get", "s3:Put"]',
                }
            ],
        ),
    ],
)
def test_differences(expected: Any, actual: Any, diffs: list[dict[str, str]]) -> None:
    assert list(differences(expected, actual)) == diffs


def test_resource_drifts_statuses() -> None:
    expected = {
        "Role": ("Dev", {"Path": "/"}),
        "Other": ("Ops", {"Path": "/"}),
        "Gone": ("Old", {"Path": "/"}),
    }
    actual = {"Role": ("Dev", {"Path": "/"}), "Other": ("Ops", {"Path": "/x/"}), "Gone": ("Old", None)}
    assert [
        (r["LogicalResourceId"], r["StackResourceDriftStatus"]) for r in resource_drifts(expected, actual)
    ] == [
        ("Gone", "DELETED"),
        ("Other", "MODIFIED"),
        ("Role", "IN_SYNC"),
    ]
