"""Every resource that CloudFormation lets carry tags carries Project (and ManagedBy)."""

from __future__ import annotations

import yaml
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER


def _taggable(resource_type: str) -> bool:
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type)
    return "Tags" in schema.schema.get("properties", {})


def _tag_keys(tags: object) -> set[str]:
    if isinstance(tags, dict):
        return set(tags)
    if isinstance(tags, list):
        return {t["Key"] for t in tags if isinstance(t, dict) and "Key" in t}
    return set()


def test_every_taggable_resource_has_project_tag(rendered: dict[str, bytes]) -> None:
    untagged = []
    checked = 0
    for path, data in rendered.items():
        if not path.endswith(".yaml"):
            continue
        template = yaml.safe_load(data)
        for name, resource in template.get("Resources", {}).items():
            if not _taggable(resource["Type"]):
                continue
            checked += 1
            keys = _tag_keys(resource.get("Properties", {}).get("Tags"))
            if not {"Project", "ManagedBy"} <= keys:
                untagged.append(f"{path}: {name} ({resource['Type']})")
    assert checked > 0
    assert untagged == []
