"""Action checks: the quick look-up in one awacs module never disagrees with the whole catalogue."""

from __future__ import annotations

import pytest

from generator.org import iam


def test_each_module_look_up_is_a_subset_of_the_catalogue() -> None:
    catalogue = iam.action_catalogue()
    assert len(catalogue) > 300
    found = 0
    for prefix, actions in catalogue.items():
        quick = iam._module_actions(prefix)
        assert quick <= set(actions), prefix
        found += bool(quick)
    assert found == len(catalogue)  # the quick path answers for every service


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("s3:GetObject", None),
        ("S3:getobject", None),
        ("lambda:InvokeFunction", None),  # the module is awacs.awslambda
        ("ec2:Describe*", None),
        ("iam:Get?ole", None),
        ("ec2:Nothing*", "'ec2:Nothing*' matches no ec2 action"),
        ("s3:GetObjekt", "unknown IAM action 's3:GetObjekt'; did you mean 's3:GetObject'?"),
        (
            "ec3:RunInstances",
            "unknown IAM service prefix 'ec3' in 'ec3:RunInstances'; did you mean 'ec2:RunInstances'?",
        ),
        ("s3", "'s3' is not an IAM action (expected service:Action)"),
    ],
)
def test_check_action(action: str, expected: str | None) -> None:
    assert iam.check_action(action) == expected


@pytest.mark.parametrize("prefix", ["aws", "helpers"])  # awacs modules that are not services
def test_modules_that_are_not_services_answer_nothing(prefix: str) -> None:
    assert iam._module_actions(prefix) == frozenset()
    assert (iam.check_action(f"{prefix}:GetObject") or "").startswith(
        f"unknown IAM service prefix '{prefix}'"
    )
