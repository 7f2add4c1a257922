"""Pure records of the live state the adapters read: StackSets, their instances, the management stack, and
everything read for one plan (LiveState)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.core.desired import DesiredStackSet
from pipeline.core.manifest import HASH_TAG
from pipeline.core.org import OrgTree, OuStatus


@dataclass(frozen=True)
class LiveInstance:
    account: str
    region: str
    ou_id: str | None
    status: str = "CURRENT"  # CURRENT | OUTDATED | INOPERABLE
    detailed_status: str = "SUCCEEDED"
    reason: str = ""


@dataclass(frozen=True)
class LiveStackSet:
    """DescribeStackSet of one StackSet; when its hash tag matches, the operation that vouches for the tag
    and whether any instance is failed, cancelled or inoperable; its instances (ListStackInstances) when
    anything differs or is broken."""

    name: str
    permission_model: str
    template_sha256: str
    description: str
    parameters: Mapping[str, str]
    capabilities: tuple[str, ...]
    tags: Mapping[str, str]
    ou_ids: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    auto_deployment: tuple[bool, bool] | None = None
    administration_role_arn: str | None = None
    execution_role_name: str | None = None
    status: str = "ACTIVE"
    instances: tuple[LiveInstance, ...] | None = None
    # Read only when the hash matches: the operation named in the tag failed, left failed instances or is
    # unknown, so the hash (kept by AWS whatever the outcome) proves nothing and the StackSet is planned again.
    rollout_failed: bool = False
    # The operation named in the tag never ran (the plan that wrote the tag stopped before its end) or AWS no
    # longer knows it; rollout_failed is then set too.
    rollout_missing: bool = False
    # Read only when everything else matches: detailed statuses (FAILED, INOPERABLE, CANCELLED) found on some
    # instance, whoever's operation left them (AutoDeployment's included).
    unhealthy: tuple[str, ...] = ()
    # Read only when the hash matches and excluded accounts sit under their targets: those of them that hold
    # an instance (AutoDeployment ignores account filters), so the StackSet is planned again.
    excluded_reached: tuple[str, ...] = ()
    # DescribeStackSet returns it anyway: kept for the plan's IAM diff against what is deployed.
    template_body: str = field(default="", repr=False, compare=False)

    @property
    def hash_tag(self) -> str | None:
        return self.tags.get(HASH_TAG)


@dataclass(frozen=True)
class LiveStack:
    name: str
    status: str
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveState:
    """Everything read from AWS for one plan."""

    tree: OrgTree
    statuses: Mapping[str, OuStatus]
    read_warnings: tuple[str, ...]
    desired: Mapping[str, DesiredStackSet]
    stacksets: Mapping[str, LiveStackSet]
    orphans: Mapping[str, LiveStackSet]
    management_stack: LiveStack | None = None
    caller_account: str | None = None  # read only when the manifest has a management-account stack
