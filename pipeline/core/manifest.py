"""The manifest, templates/org/manifest.json: the contract between the generator, which writes it, and the
sync, which reads it. Its records and defaults (here), its JSON Schema (manifest.schema.json beside this
file), the writer (to_document) and the validating reader (parse_manifest) live in this one module.

Pure (the command line reads the files: pipeline.cli.files): every problem is collected and reported at once,
with its key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from pipeline.common.errors import EXCERPT_CHARS, Problem, excerpt
from pipeline.core import limits
from pipeline.core.errors import ManifestError

MANIFEST_VERSION = 1
ACCOUNT_RE = re.compile(r"^[0-9]{12}$")
OU_ID_RE = re.compile(r"^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$")
ORG_ID_RE = re.compile(r"^o-[a-z0-9]{10,32}$")
# StackSet names: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackSet.html
STACKSET_NAME_RE = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]{0,127}$")


class PermissionModel(StrEnum):
    SERVICE_MANAGED = "SERVICE_MANAGED"
    SELF_MANAGED = "SELF_MANAGED"


class CallAs(StrEnum):
    SELF = "SELF"
    DELEGATED_ADMIN = "DELEGATED_ADMIN"


class Kind(StrEnum):
    """What a StackSet deploys: one role to OU targets, or the login account's policies to one account."""

    ROLE = "role"
    LOGIN_ACCOUNT = "login-account"


PERMISSION_MODELS = tuple(PermissionModel)
CALL_AS = tuple(CallAs)
KINDS = tuple(Kind)
CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")
# The tag the sync keeps its content hash in; the manifest must not set it.
HASH_TAG = "OrgStackSetsHash"
# The one parameter whose order is known: a shorter session grants less, so the StackSet-level value (all
# that AutoDeployment gives accounts between syncs) is the shortest of every OU (desired.window_notes).
WINDOW_SESSION_PARAMETER = "MaxSessionDuration"


GENERATED_BY = "org-stacksets generator"


@dataclass(frozen=True, kw_only=True)
class DeletionPolicy:
    """org.yaml `deletion:` and the manifest's org.deletion, with their one set of defaults.

    Removal revokes by default: a role that leaves an account is deleted there (RetainStacks false), because a
    retained stack keeps the IAM role assumable and makes a later re-add fail with EntityAlreadyExists.
    `retain_stacks: true` is the explicit opt-in to keep the stacks of the sync's own removals."""

    retain_stacks: bool = False
    max_instance_deletions: int = 25
    max_instance_deletion_percentage: float = 10
    delete_orphaned_stacksets: bool = False

    def to_document(self) -> dict[str, Any]:
        return {
            "retain_stacks": self.retain_stacks,
            "max_instance_deletions": self.max_instance_deletions,
            "max_instance_deletion_percentage": self.max_instance_deletion_percentage,
            "delete_orphaned_stacksets": self.delete_orphaned_stacksets,
        }


@dataclass(frozen=True, kw_only=True)
class OperationPreferences:
    """org.yaml `operation_preferences:` with their one set of defaults: every region in parallel, and the
    fastest rollout that keeps the failure tolerance: STRICT_FAILURE_TOLERANCE at 100% starts
    FailureToleranceCount + 1 accounts at a time (501 of 5,000 at 10%), so a change that fails everywhere
    fails in at most that many accounts before the operation stops; SOFT at 100% would be 10x faster at
    5,000 accounts but would deploy (and fail) everywhere at once, leaving the tolerance nothing to stop.
    The choice is the AWS time model's (pipeline/core/timing.py; benchmarks/sync_bench.py prints it)
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSetOperationPreferences.html).
    The manifest carries them as the API's OperationPreferences."""

    region_concurrency: str = "PARALLEL"
    max_concurrent_percentage: int = 100
    failure_tolerance_percentage: int = 10
    concurrency_mode: str = "STRICT_FAILURE_TOLERANCE"

    def to_api(self) -> dict[str, Any]:
        return {
            "RegionConcurrencyType": self.region_concurrency,
            "MaxConcurrentPercentage": self.max_concurrent_percentage,
            "FailureTolerancePercentage": self.failure_tolerance_percentage,
            "ConcurrencyMode": self.concurrency_mode,
        }


@dataclass(frozen=True)
class OrgSettings:
    management_account_id: str
    login_account_id: str
    home_region: str
    stackset_prefix: str
    organization_id: str | None = None
    permission_model: PermissionModel = PermissionModel.SERVICE_MANAGED
    call_as: CallAs = CallAs.SELF
    administration_role_arn: str | None = None
    execution_role_name: str | None = None
    operation_preferences: Mapping[str, Any] = field(default_factory=dict)
    deletion: DeletionPolicy = DeletionPolicy()
    sns_topic_arn: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    # org.yaml `rollout: waves:` as OU paths per wave, in order; the rest of the organization is one more
    # wave after these. Empty: one wave, the whole organization at once.
    rollout_waves: tuple[tuple[str, ...], ...] = ()

    @property
    def service_managed(self) -> bool:
        return self.permission_model == PermissionModel.SERVICE_MANAGED


@dataclass(frozen=True)
class OuEntry:
    path: str
    ou_id: str | None = None


@dataclass(frozen=True)
class Target:
    ou_path: str
    ou_id: str | None = None
    excluded_accounts: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Override:
    ou_path: str
    parameters: Mapping[str, str]
    ou_id: str | None = None
    source: str = ""


@dataclass(frozen=True)
class StackSetSpec:
    name: str
    description: str
    kind: Kind
    role: str | None
    template: str
    template_sha256: str
    parameters: Mapping[str, str]
    capabilities: tuple[str, ...]
    regions: tuple[str, ...]
    targets: tuple[Target, ...] = ()
    account_targets: tuple[str, ...] = ()
    parameter_overrides: tuple[Override, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ManagementStackSpec:
    name: str
    template: str
    template_sha256: str
    parameters: Mapping[str, str]
    capabilities: tuple[str, ...]
    region: str
    roles: tuple[str, ...] = ()
    # The CloudFormation service role the change set runs with (the sync has no IAM permissions of its own):
    # templates/org/management-deployer.yaml, deployed by an administrator.
    service_role_arn: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    org: OrgSettings
    ous: tuple[OuEntry, ...]
    stacksets: tuple[StackSetSpec, ...]
    management_account_stack: ManagementStackSpec | None = None
    sha256: str = ""
    source: str = "manifest.json"

    def stackset(self, name: str) -> StackSetSpec:
        return next(s for s in self.stacksets if s.name == name)


def path_depth(path: str) -> int:
    """Root is 0, Root/Workloads is 1, ..."""
    return path.count("/")


def is_at_or_below(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith(ancestor + "/")


def _org_document(o: OrgSettings) -> dict[str, Any]:
    return {
        "management_account_id": o.management_account_id,
        "login_account_id": o.login_account_id,
        "home_region": o.home_region,
        "organization_id": o.organization_id,
        "stackset_prefix": o.stackset_prefix,
        "permission_model": str(o.permission_model),
        "call_as": str(o.call_as),
        "administration_role_arn": o.administration_role_arn,
        "execution_role_name": o.execution_role_name,
        "operation_preferences": dict(o.operation_preferences),
        "deletion": o.deletion.to_document(),
        "notifications": {"sns_topic_arn": o.sns_topic_arn},
        "tags": dict(o.tags),
        # Written only when set, so manifests without waves stay byte for byte as they were.
        **({"rollout_waves": [list(w) for w in o.rollout_waves]} if o.rollout_waves else {}),
    }


def _stackset_document(s: StackSetSpec) -> dict[str, Any]:
    return {
        "name": s.name,
        "description": s.description,
        "kind": str(s.kind),
        "role": s.role,
        "template": s.template,
        "template_sha256": s.template_sha256,
        "parameters": dict(s.parameters),
        "capabilities": list(s.capabilities),
        "regions": list(s.regions),
        "targets": [
            {
                "ou_path": t.ou_path,
                "ou_id": t.ou_id,
                "excluded_accounts": list(t.excluded_accounts),
                "source": t.source,
            }
            for t in s.targets
        ],
        "account_targets": list(s.account_targets),
        "parameter_overrides": [
            {"ou_path": o.ou_path, "ou_id": o.ou_id, "parameters": dict(o.parameters), "source": o.source}
            for o in s.parameter_overrides
        ],
        "tags": dict(s.tags),
    }


def _management_document(m: ManagementStackSpec) -> dict[str, Any]:
    return {
        "name": m.name,
        "template": m.template,
        "template_sha256": m.template_sha256,
        "parameters": dict(m.parameters),
        "capabilities": list(m.capabilities),
        "region": m.region,
        "roles": list(m.roles),
        "service_role_arn": m.service_role_arn,
        "tags": dict(m.tags),
    }


def to_document(manifest: Manifest) -> dict[str, Any]:
    """The manifest as the JSON document the generator writes (parse_manifest reads it back unchanged)."""
    mgmt = manifest.management_account_stack
    return {
        "generated_by": GENERATED_BY,
        "manifest_version": MANIFEST_VERSION,
        "org": _org_document(manifest.org),
        "ous": [{"path": e.path, "ou_id": e.ou_id} for e in manifest.ous],
        "stacksets": [_stackset_document(s) for s in manifest.stacksets],
        "management_account_stack": None if mgmt is None else _management_document(mgmt),
    }


# The keys each object of the manifest may have (manifest.schema.json lists the same; a test compares them).
KEYS: Mapping[str, frozenset[str]] = {
    "manifest": frozenset(
        {"generated_by", "manifest_version", "org", "ous", "stacksets", "management_account_stack"}
    ),
    "org": frozenset(
        {
            "management_account_id",
            "login_account_id",
            "home_region",
            "organization_id",
            "stackset_prefix",
            "permission_model",
            "call_as",
            "administration_role_arn",
            "execution_role_name",
            "operation_preferences",
            "deletion",
            "notifications",
            "tags",
            "rollout_waves",
        }
    ),
    "deletion": frozenset(f.name for f in fields(DeletionPolicy)),
    "notifications": frozenset({"sns_topic_arn"}),
    "ou": frozenset({"path", "ou_id"}),
    "target": frozenset({"ou_path", "ou_id", "excluded_accounts", "source"}),
    "override": frozenset({"ou_path", "ou_id", "parameters", "source"}),
    "stackset": frozenset(
        {
            "name",
            "description",
            "kind",
            "role",
            "template",
            "template_sha256",
            "parameters",
            "capabilities",
            "regions",
            "targets",
            "account_targets",
            "parameter_overrides",
            "tags",
        }
    ),
    "management_stack": frozenset(
        {
            "name",
            "template",
            "template_sha256",
            "parameters",
            "capabilities",
            "region",
            "roles",
            "service_role_arn",
            "tags",
        }
    ),
}


class _Reader:
    """Typed access to the JSON with problems collected instead of raised."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.source, key, message))

    def objects(
        self, data: Mapping[str, Any], name: str, key: str, kind: str, *, required: bool = False
    ) -> list[tuple[str, Mapping[str, Any]]]:
        """The objects of a list member, each with its key (for example stacksets[2].targets[0])."""
        raw = data.get(name) if required else data.get(name, [])
        where = f"{key}.{name}" if key else name
        if not isinstance(raw, list):
            self.problem(where, "must be a list")
            return []
        return [(f"{where}[{i}]", self.obj(item, f"{where}[{i}]", kind)) for i, item in enumerate(raw)]

    def duplicates(self, key: str, values: list[str], message: str) -> None:
        for dup in sorted({v for v in values if values.count(v) > 1}):
            self.problem(key, message.format(excerpt(dup)))

    def obj(self, data: Any, key: str, kind: str) -> Mapping[str, Any]:
        if isinstance(data, Mapping):
            for name in sorted(set(map(str, data)) - KEYS[kind]):
                shown = name if len(name) <= EXCERPT_CHARS else name[:EXCERPT_CHARS] + "..."
                self.problem(f"{key}.{shown}" if key else shown, "is not a key of the manifest (version 1)")
            return data
        self.problem(key, f"must be an object, got {type(data).__name__}")
        return {}

    def str_(self, data: Mapping[str, Any], name: str, key: str, *, optional: bool = False) -> str | None:
        value = data.get(name)
        if value is None and optional:
            return None
        if isinstance(value, str) and value:
            return value
        self.problem(f"{key}.{name}" if key else name, "must be a non-empty string")
        return None

    def bool_(self, data: Mapping[str, Any], name: str, key: str, default: bool) -> bool:
        value = data.get(name, default)
        if isinstance(value, bool):
            return value
        self.problem(f"{key}.{name}", "must be true or false")
        return default

    def number(self, data: Mapping[str, Any], name: str, key: str, default: float) -> float:
        value = data.get(name, default)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return value
        self.problem(f"{key}.{name}", "must be a number >= 0")
        return default

    def strings(self, data: Mapping[str, Any], name: str, key: str) -> tuple[str, ...]:
        value = data.get(name, [])
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        self.problem(f"{key}.{name}", "must be a list of strings")
        return ()

    def str_map(self, data: Mapping[str, Any], name: str, key: str) -> dict[str, str]:
        value = data.get(name, {})
        if not isinstance(value, Mapping):
            self.problem(f"{key}.{name}", "must be an object")
            return {}
        out: dict[str, str] = {}
        for k, v in value.items():
            if isinstance(v, str):
                out[str(k)] = v
            else:
                # CloudFormation parameter and tag values are strings; the generator must render them so.
                self.problem(f"{key}.{name}.{k}", f"must be a string, got {type(v).__name__}")
        return out

    def account(self, value: str | None, key: str) -> None:
        if value is not None and not ACCOUNT_RE.match(value):
            self.problem(key, f"{excerpt(value)} is not a 12-digit account id")

    def ou_id(self, value: Any, key: str) -> str | None:
        if value is None:
            return None
        if isinstance(value, str) and OU_ID_RE.match(value):
            return value
        self.problem(key, f"{excerpt(value)} is not an OU id (ou-xxxx-xxxxxxxx) or root id (r-xxxx)")
        return None


def _tags(r: _Reader, data: Mapping[str, Any], key: str) -> dict[str, str]:
    tags = r.str_map(data, "tags", key)
    for name, value in tags.items():
        if not 1 <= len(name) <= limits.TAG_KEY_CHARS:
            r.problem(f"{key}.tags.{excerpt(name)}", f"tag keys are 1 to {limits.TAG_KEY_CHARS} characters")
        if not 1 <= len(value) <= limits.TAG_VALUE_CHARS:
            # CloudFormation refuses an empty tag value (API_Tag: Value, minimum length 1).
            r.problem(f"{key}.tags.{name}", f"tag values are 1 to {limits.TAG_VALUE_CHARS} characters")
        if name.lower().startswith("aws:"):
            r.problem(f"{key}.tags.{name}", "tag keys starting with 'aws:' are reserved by AWS")
        if name == HASH_TAG:
            r.problem(f"{key}.tags.{name}", f"{HASH_TAG} is reserved for the sync's content hash")
    if len(tags) > limits.STACKSET_TAGS - 1:
        # 50 tags per StackSet, one of which is the sync's own hash tag.
        r.problem(
            f"{key}.tags",
            f"at most {limits.STACKSET_TAGS - 1} tags (the sync adds {HASH_TAG}), got {len(tags)}",
        )
    return tags


def _org(r: _Reader, data: Mapping[str, Any]) -> OrgSettings:
    o = r.obj(data.get("org"), "org", "org")
    mgmt = r.str_(o, "management_account_id", "org") or ""
    login = r.str_(o, "login_account_id", "org") or ""
    r.account(mgmt or None, "org.management_account_id")
    r.account(login or None, "org.login_account_id")
    org_id = r.str_(o, "organization_id", "org", optional=True)
    if org_id is not None and not ORG_ID_RE.match(org_id):
        r.problem("org.organization_id", f"{excerpt(org_id)} is not an organization id (o-xxxxxxxxxx)")
    model = o.get("permission_model", "SERVICE_MANAGED")
    if model not in PERMISSION_MODELS:
        r.problem(
            "org.permission_model", f"must be one of {', '.join(PERMISSION_MODELS)}, got {excerpt(model)}"
        )
    call_as = o.get("call_as", "SELF")
    if call_as not in CALL_AS:
        r.problem("org.call_as", f"must be one of {', '.join(CALL_AS)}, got {excerpt(call_as)}")
    elif call_as == CallAs.DELEGATED_ADMIN and model == PermissionModel.SELF_MANAGED:
        # "CallAs ... Valid only if the stack set's permissions model is SERVICE_MANAGED."
        r.problem(
            "org.call_as",
            "DELEGATED_ADMIN is valid only with permission_model SERVICE_MANAGED, got SELF_MANAGED "
            "(https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackSet.html, "
            "CallAs); use SELF",
        )
    admin_arn = r.str_(o, "administration_role_arn", "org", optional=True)
    exec_name = r.str_(o, "execution_role_name", "org", optional=True)
    if model == PermissionModel.SELF_MANAGED and (admin_arn is None or exec_name is None):
        r.problem(
            "org",
            "SELF_MANAGED needs administration_role_arn and execution_role_name (the StackSet roles "
            "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-prereqs-self-managed.html)",
        )
    prefs = o.get("operation_preferences") or {}
    if not isinstance(prefs, Mapping):
        r.problem("org.operation_preferences", "must be an object (boto3's OperationPreferences)")
        prefs = {}
    d = r.obj(o.get("deletion", {}), "org.deletion", "deletion")
    default = DeletionPolicy()
    deletion = DeletionPolicy(
        retain_stacks=r.bool_(d, "retain_stacks", "org.deletion", default.retain_stacks),
        max_instance_deletions=int(
            r.number(d, "max_instance_deletions", "org.deletion", default.max_instance_deletions)
        ),
        max_instance_deletion_percentage=r.number(
            d, "max_instance_deletion_percentage", "org.deletion", default.max_instance_deletion_percentage
        ),
        delete_orphaned_stacksets=r.bool_(
            d, "delete_orphaned_stacksets", "org.deletion", default.delete_orphaned_stacksets
        ),
    )
    n = r.obj(o.get("notifications") or {}, "org.notifications", "notifications")
    return OrgSettings(
        management_account_id=mgmt,
        login_account_id=login,
        home_region=r.str_(o, "home_region", "org") or "",
        stackset_prefix=r.str_(o, "stackset_prefix", "org") or "",
        organization_id=org_id,
        permission_model=PermissionModel(model)
        if model in PERMISSION_MODELS
        else PermissionModel.SERVICE_MANAGED,
        call_as=CallAs(call_as) if call_as in CALL_AS else CallAs.SELF,
        administration_role_arn=admin_arn,
        execution_role_name=exec_name,
        operation_preferences=dict(prefs),
        deletion=deletion,
        sns_topic_arn=r.str_(n, "sns_topic_arn", "org.notifications", optional=True),
        tags=_tags(r, o, "org"),
        rollout_waves=_waves(r, o.get("rollout_waves", [])),
    )


def _waves(r: _Reader, raw: Any) -> tuple[tuple[str, ...], ...]:
    """org.rollout_waves: a list of non-empty lists of OU paths, no path in two waves."""
    if not isinstance(raw, list) or not all(isinstance(w, list) and w for w in raw):
        r.problem("org.rollout_waves", "must be a list of non-empty lists of OU paths")
        return ()
    waves = tuple(tuple(str(p) for p in w) for w in raw)
    r.duplicates("org.rollout_waves", [p for w in waves for p in w], "OU path {} is in two waves")
    return waves


def _ous(r: _Reader, data: Mapping[str, Any]) -> tuple[OuEntry, ...]:
    out: list[OuEntry] = []
    for key, o in r.objects(data, "ous", "", "ou", required=True):
        path = r.str_(o, "path", key)
        if path is None:
            continue
        if path.split("/")[0] != "Root" or "" in path.split("/"):
            r.problem(f"{key}.path", f"{excerpt(path)} must start with 'Root' and have no empty parts")
        out.append(OuEntry(path=path, ou_id=r.ou_id(o.get("ou_id"), f"{key}.ou_id")))
    paths = [e.path for e in out]
    r.duplicates("ous", paths, "OU {} is listed more than once")
    for e in out:
        parent = e.path.rsplit("/", 1)[0]
        if "/" in e.path and parent not in paths:
            r.problem("ous", f"OU {excerpt(e.path)} is listed without its parent {excerpt(parent)}")
    return tuple(sorted(out, key=lambda e: e.path))


def _targets(r: _Reader, s: Mapping[str, Any], key: str, ou_paths: set[str]) -> tuple[Target, ...]:
    out = []
    for tkey, t in r.objects(s, "targets", key, "target"):
        path = r.str_(t, "ou_path", tkey) or ""
        if path and path not in ou_paths:
            r.problem(f"{tkey}.ou_path", f"{excerpt(path)} is not one of the manifest's ous")
        excluded = r.strings(t, "excluded_accounts", tkey)
        for j, acct in enumerate(excluded):
            r.account(acct, f"{tkey}.excluded_accounts[{j}]")
        out.append(
            Target(
                ou_path=path,
                ou_id=r.ou_id(t.get("ou_id"), f"{tkey}.ou_id"),
                excluded_accounts=tuple(sorted(set(excluded))),
                source=str(t.get("source", "")),
            )
        )
    paths = [t.ou_path for t in out]
    for a in paths:
        for b in paths:
            if a != b and is_at_or_below(b, a):
                # Service-managed OU targets reach every account below them; nested targets would deploy twice.
                r.problem(
                    f"{key}.targets",
                    f"{excerpt(b)} is below {excerpt(a)}, which the StackSet already targets",
                )
    r.duplicates(f"{key}.targets", paths, "{} is targeted more than once")
    return tuple(sorted(out, key=lambda t: t.ou_path))


def _overrides(
    r: _Reader, s: Mapping[str, Any], key: str, targets: tuple[Target, ...], params: Mapping[str, Any]
) -> tuple[Override, ...]:
    out = []
    for okey, o in r.objects(s, "parameter_overrides", key, "override"):
        path = r.str_(o, "ou_path", okey) or ""
        values = r.str_map(o, "parameters", okey)
        if path and not any(is_at_or_below(path, t.ou_path) for t in targets):
            r.problem(f"{okey}.ou_path", f"{excerpt(path)} is not at or below any target of the StackSet")
        for name in values:
            if name not in params:
                # https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStackInstances.html
                # "You can only override the parameter values that are specified in the StackSet."
                r.problem(f"{okey}.parameters.{name}", "overrides a parameter the StackSet does not pass")
        out.append(
            Override(
                ou_path=path,
                parameters=values,
                ou_id=r.ou_id(o.get("ou_id"), f"{okey}.ou_id"),
                source=str(o.get("source", "")),
            )
        )
    r.duplicates(
        f"{key}.parameter_overrides", [o.ou_path for o in out], "{} has more than one override entry"
    )
    return tuple(sorted(out, key=lambda o: o.ou_path))


def _common(r: _Reader, s: Mapping[str, Any], key: str) -> tuple[str, str, dict[str, str], tuple[str, ...]]:
    template = r.str_(s, "template", key) or ""
    if template and (template.startswith("/") or ".." in template.split("/")):
        r.problem(f"{key}.template", f"{excerpt(template)} must be a path relative to templates/")
    sha = r.str_(s, "template_sha256", key) or ""
    if sha and not re.fullmatch(r"[0-9a-f]{64}", sha):
        r.problem(f"{key}.template_sha256", "must be 64 lowercase hex digits")
    caps = r.strings(s, "capabilities", key)
    for c in caps:
        if c not in CAPABILITIES:
            r.problem(f"{key}.capabilities", f"unknown capability {excerpt(c)}")
    return template, sha, r.str_map(s, "parameters", key), caps


def _names(raw: Any, parsed: Mapping[str, str]) -> Mapping[str, Any]:
    """Parameter names as written (a mistyped value is reported once, not again by every override)."""
    return raw if isinstance(raw, Mapping) else parsed


def _stackset(
    r: _Reader, s: Mapping[str, Any], key: str, org: OrgSettings, ou_paths: set[str]
) -> StackSetSpec:
    name = r.str_(s, "name", key) or ""
    if name and not STACKSET_NAME_RE.match(name):
        r.problem(f"{key}.name", f"{excerpt(name)} is not a valid StackSet name")
    if name and org.stackset_prefix and not name.startswith(org.stackset_prefix + "-"):
        r.problem(
            f"{key}.name",
            f"{excerpt(name)} does not start with the prefix {excerpt(org.stackset_prefix + '-')}",
        )
    kind = s.get("kind")
    if kind not in KINDS:
        r.problem(f"{key}.kind", f"must be one of {', '.join(KINDS)}, got {excerpt(kind)}")
    template, sha, params, caps = _common(r, s, key)
    regions = r.strings(s, "regions", key)
    if not regions:
        r.problem(f"{key}.regions", "must name at least one region")
    elif org.home_region and regions != (org.home_region,):
        # IAM is global: the same named role (or policy) created in a second region of one account fails
        # with EntityAlreadyExists, so every StackSet here deploys to the home region only.
        r.problem(
            f"{key}.regions",
            f"IAM is global: must be the home region [{org.home_region}] only, got {excerpt(list(regions))}",
        )
    description = s.get("description")
    if not isinstance(description, str) or not 1 <= len(description) <= limits.STACKSET_DESCRIPTION_CHARS:
        # CreateStackSet refuses an empty description (Description: minimum length 1, maximum 1,024).
        r.problem(f"{key}.description", f"must be 1 to {limits.STACKSET_DESCRIPTION_CHARS} characters")
    targets = _targets(r, s, key, ou_paths)
    accounts = r.strings(s, "account_targets", key)
    for j, acct in enumerate(accounts):
        r.account(acct, f"{key}.account_targets[{j}]")
    if kind == Kind.ROLE and accounts:
        r.problem(f"{key}.account_targets", "a role StackSet targets OUs, not accounts")
    if kind == Kind.LOGIN_ACCOUNT and (targets or not accounts):
        r.problem(key, "a login-account StackSet targets account_targets only")
    role = s.get("role")
    if kind == Kind.ROLE and not isinstance(role, str):
        r.problem(f"{key}.role", "a role StackSet names its role")
    return StackSetSpec(
        name=name,
        description=description if isinstance(description, str) else "",
        kind=Kind(kind) if kind in KINDS else Kind.ROLE,
        role=role if isinstance(role, str) else None,
        template=template,
        template_sha256=sha,
        parameters=params,
        capabilities=tuple(sorted(caps)),
        regions=tuple(sorted(set(regions))),
        targets=targets,
        account_targets=tuple(sorted(set(accounts))),
        parameter_overrides=_overrides(r, s, key, targets, _names(s.get("parameters"), params)),
        tags=_tags(r, s, key),
    )


# An IAM role ARN (IAM identifiers: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html).
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$")


def _service_role(r: _Reader, m: Mapping[str, Any], key: str) -> str:
    arn = r.str_(m, "service_role_arn", key) or ""
    if arn and not ROLE_ARN_RE.match(arn):
        r.problem(f"{key}.service_role_arn", f"{excerpt(arn)} is not an IAM role ARN")
    return arn


def _management(r: _Reader, data: Any) -> ManagementStackSpec | None:
    if data is None:
        return None
    key = "management_account_stack"
    m = r.obj(data, key, "management_stack")
    template, sha, params, caps = _common(r, m, key)
    return ManagementStackSpec(
        name=r.str_(m, "name", key) or "",
        template=template,
        template_sha256=sha,
        parameters=params,
        capabilities=tuple(sorted(caps)),
        region=r.str_(m, "region", key) or "",
        roles=r.strings(m, "roles", key),
        service_role_arn=_service_role(r, m, key),
        tags=_tags(r, m, key),
    )


def parse_manifest(data: Any, source: str = "manifest.json", sha256: str = "") -> Manifest:
    """Validate the manifest's JSON; ManifestError lists every problem with its key."""
    r = _Reader(source)
    top = r.obj(data, "", "manifest")
    if top.get("manifest_version") != MANIFEST_VERSION:
        r.problem(
            "manifest_version",
            f"this sync reads version {MANIFEST_VERSION}, got {excerpt(top.get('manifest_version'))}",
        )
        raise ManifestError(r.problems)
    org = _org(r, top)
    ous = _ous(r, top)
    ou_paths = {e.path for e in ous}
    stacksets = [
        _stackset(r, s, key, org, ou_paths)
        for key, s in r.objects(top, "stacksets", "", "stackset", required=True)
    ]
    r.duplicates("stacksets", [s.name for s in stacksets], "StackSet {} is listed more than once")
    mgmt = _management(r, top.get("management_account_stack"))
    if r.problems:
        raise ManifestError(r.problems)
    return Manifest(
        org=org,
        ous=ous,
        stacksets=tuple(sorted(stacksets, key=lambda s: s.name)),
        management_account_stack=mgmt,
        sha256=sha256,
        source=source,
    )


# Far above any real manifest (a few KiB per StackSet), far below what would strain the Lambda's memory.
MANIFEST_BYTES = 8 * 2**20


def loads_manifest(raw: bytes, source: str) -> Manifest:
    """Parse manifest bytes (from a file or a pipeline artifact); a huge or deeply nested one is refused."""
    if len(raw) > MANIFEST_BYTES:
        raise ManifestError([Problem(source, "", f"is larger than {MANIFEST_BYTES // 2**20} MiB, the limit")])
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError([Problem(source, "", f"is not valid JSON: {exc}")]) from exc
    except RecursionError:
        raise ManifestError([Problem(source, "", "is not valid JSON: nested too deeply")]) from None
    return parse_manifest(data, source, hashlib.sha256(raw).hexdigest())


def check_templates(manifest: Manifest, bodies: Mapping[str, bytes]) -> dict[str, str]:
    """The template text of every StackSet and the management stack, keyed by template path.

    Every template must be present, match the manifest's sha256 (a stale manifest never deploys) and fit
    the inline TemplateBody limit.
    """
    problems: list[Problem] = []
    out: dict[str, str] = {}
    wanted = [(s.template, s.template_sha256) for s in manifest.stacksets]
    if manifest.management_account_stack is not None:
        m = manifest.management_account_stack
        wanted.append((m.template, m.template_sha256))
    for path, sha in wanted:
        body = bodies.get(path)
        if body is None:
            problems.append(Problem(manifest.source, path, "template file is missing"))
            continue
        actual = hashlib.sha256(body).hexdigest()
        if actual != sha:
            problems.append(
                Problem(
                    manifest.source,
                    path,
                    f"sha256 {actual[:12]}... differs from the manifest's {sha[:12]}...",
                )
            )
        elif len(body) > limits.TEMPLATE_BODY_BYTES:
            problems.append(
                Problem(
                    manifest.source, path, f"{len(body)} bytes is over the 51,200-byte TemplateBody limit"
                )
            )
        else:
            out[path] = body.decode("utf-8")
    if problems:
        raise ManifestError(problems)
    return out
