"""E9102: a template larger than CloudFormation accepts as an inline TemplateBody."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.output import compact_json
from pipeline.core import limits


def template_bytes(cfn: Any) -> int:
    """Bytes as uploaded: the file when there is one, else the most compact JSON form."""
    filename = getattr(cfn, "filename", None)
    if filename and Path(filename).is_file():
        return Path(filename).stat().st_size
    return len(compact_json(cfn.template).encode("utf-8"))


class TemplateBodySize(CloudFormationLintRule):
    id = "E9102"
    shortdesc = "Template too large for an inline TemplateBody"
    description = (
        "CloudFormation accepts at most 51,200 bytes as TemplateBody; larger templates must be "
        "uploaded to S3 and passed as TemplateURL, which StackSet rollouts here do not do."
    )
    source_url = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html"
    tags = ["limits"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        size = template_bytes(cfn)
        if size <= limits.TEMPLATE_BODY_BYTES:
            return []
        return [
            RuleMatch(
                [],
                f"template is {size} bytes, over the {limits.TEMPLATE_BODY_BYTES}-byte TemplateBody limit; "
                "split it or upload it to S3",
            )
        ]
