"""ECR pieces: the repository name pattern and the statements that log in to ECR and push to one repository."""

from __future__ import annotations

from typing import Any

import awacs.ecr as ecr_actions
from awacs.aws import Allow, Statement

REPOSITORY_NAME_PATTERN = "^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$"

PUSH_PULL_ACTIONS = [
    ecr_actions.BatchCheckLayerAvailability,
    ecr_actions.BatchGetImage,
    ecr_actions.CompleteLayerUpload,
    ecr_actions.DescribeImages,
    ecr_actions.GetDownloadUrlForLayer,
    ecr_actions.InitiateLayerUpload,
    ecr_actions.PutImage,
    ecr_actions.UploadLayerPart,
]


def ecr_push_statements(repository_arn: Any) -> list[Statement]:
    """Log in to ECR and push to (and pull from) one repository."""
    return [
        # GetAuthorizationToken has no resource-level permissions: it must be "*".
        Statement(Sid="EcrLogin", Effect=Allow, Action=[ecr_actions.GetAuthorizationToken], Resource=["*"]),
        Statement(Sid="PushAndPull", Effect=Allow, Action=PUSH_PULL_ACTIONS, Resource=[repository_arn]),
    ]
