"""What every blueprint shares: the Blueprint record, render context, Project parameter and tagging."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from troposphere import AWSObject, Parameter, Ref, Tags, Template
from troposphere import autoscaling as asg

PROJECT_PARAMETER = "Project"
MANAGED_BY = "org-stacksets"


@dataclass(frozen=True)
class JsonDocument:
    """A rendered JSON file (for example the org manifest), written with sorted keys."""

    data: Mapping[str, Any]


Rendered: TypeAlias = Template | JsonDocument


@dataclass(frozen=True)
class RenderContext:
    """Everything a blueprint may read while rendering: only files under the repository root."""

    root: Path
    org_dir: Path = field(default=Path("org_roles"))

    @property
    def org_path(self) -> Path:
        return self.org_dir if self.org_dir.is_absolute() else self.root / self.org_dir


@dataclass(frozen=True)
class Blueprint:
    """A named blueprint: `build` returns rendered documents keyed by path relative to templates/."""

    name: str
    description: str
    outputs: tuple[str, ...]
    build: Callable[[RenderContext], Mapping[str, Rendered | bytes]]
    module: str

    @property
    def source(self) -> str:
        """The blueprint's source file relative to the repository root."""
        return self.module.replace(".", "/") + ".py"


def new_template(description: str, project_default: str) -> tuple[Template, Parameter]:
    """A template with the format version, a description and the Project parameter every template carries."""
    template = Template(Description=description)
    template.set_version("2010-09-09")
    project = template.add_parameter(
        Parameter(
            PROJECT_PARAMETER,
            Type="String",
            Default=project_default,
            AllowedPattern="^[A-Za-z0-9][A-Za-z0-9-]{0,62}$",
            ConstraintDescription="letters, digits and hyphens, at most 63 characters",
            Description="Project name: tagged on every taggable resource and used in names",
        )
    )
    return template, project


def _existing_keys(tags: Any) -> set[str]:
    if isinstance(tags, Tags):
        return {t["Key"] for t in tags.tags if isinstance(t, dict) and isinstance(t.get("Key"), str)}
    if isinstance(tags, dict):
        return set(tags)
    if isinstance(tags, list):
        keys = set()
        for t in tags:
            key = t.get("Key") if isinstance(t, dict) else getattr(t, "properties", {}).get("Key")
            if isinstance(key, str):
                keys.add(key)
        return keys
    return set()


def standard_tags(project: Parameter, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    tags: dict[str, Any] = {"ManagedBy": MANAGED_BY, PROJECT_PARAMETER: Ref(project)}
    tags.update(extra or {})
    return tags


def apply_tags(template: Template, tags: Mapping[str, Any]) -> Template:
    """Add every tag in `tags` to every resource that takes Tags, keeping tags a blueprint set itself."""
    for resource in template.resources.values():
        if "Tags" not in resource.props:
            continue
        current = resource.properties.get("Tags")
        have = _existing_keys(current)
        missing = {k: v for k, v in sorted(tags.items()) if k not in have}
        if not missing:
            continue
        resource.properties["Tags"] = _merge_tags(resource, current, missing)
    return template


def _merge_tags(resource: AWSObject, current: Any, missing: Mapping[str, Any]) -> Any:
    expected = resource.props["Tags"][0]
    if isinstance(resource, asg.AutoScalingGroup):
        added = asg.Tags(**{k: (v, True) for k, v in missing.items()})
        return added if current is None else current + added
    if isinstance(expected, list) and expected and isinstance(expected[0], type):
        # Resources whose Tags are a list of a generated item class (for example ssm TagsItems).
        item_cls = expected[0]
        return list(current or []) + [item_cls(Key=k, Value=v) for k, v in missing.items()]
    if expected is dict or isinstance(current, dict):
        merged = dict(current or {})
        merged.update(missing)
        return merged
    added_tags = Tags(**missing)
    if current is None:
        return added_tags
    if isinstance(current, Tags):
        return current + added_tags
    if isinstance(current, list):
        return current + added_tags.tags
    return added_tags
