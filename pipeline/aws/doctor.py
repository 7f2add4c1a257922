"""Reads what `python -m pipeline doctor` judges (pipeline.core.checks): read-only calls on clients passed
in. A read AWS refuses becomes an error string on the facts, never an exception, so one missing permission
fails one check, not the whole doctor. Only GetCallerIdentity must succeed (without it nothing is known).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.aws.clients import Clients
from pipeline.aws.organizations import read_org
from pipeline.aws.retry import Backoff, call_with_backoff, describe_error, error_code, paginate
from pipeline.core.checks import (
    EMULATOR_LACKS,
    INSTANCES_QUOTA_NAME,
    STACKSETS_PRINCIPAL,
    STACKSETS_QUOTA_NAME,
    WATCHER_REGION,
    Decision,
    Facts,
    Quotas,
    Statement,
    Trail,
    admin_role_name,
)
from pipeline.core.errors import OrgReadError
from pipeline.core.manifest import CallAs, Manifest, PermissionModel

T = TypeVar("T")


@dataclass
class Reader:
    """Collects facts; `read` runs one read and files its error under a key instead of raising."""

    backoff: Backoff
    errors: dict[str, str] = field(default_factory=dict)

    def read(self, key: str, call: Callable[[], T]) -> T | None:
        try:
            return call()
        except (ClientError, BotoCoreError, OrgReadError) as exc:  # reported on its check, not raised
            self.errors[key] = describe_error(exc)
            return None


def principal_arn(caller_arn: str, iam: Any, reader: Reader) -> str | None:
    """The IAM ARN SimulatePrincipalPolicy takes for the caller: an assumed-role session becomes its role
    (with the role's path, read by iam:GetRole: SSO roles live under /aws-reserved/...); None for root."""
    parts = caller_arn.split(":", 5)
    if len(parts) < 6:
        return None
    account, resource = parts[4], parts[5]
    if resource == "root":
        return None
    if resource.startswith("assumed-role/"):
        role = resource.split("/")[1]
        got = reader.read("role", lambda: iam.get_role(RoleName=role)["Role"]["Arn"])
        return str(got) if got else f"arn:{parts[1]}:iam::{account}:role/{role}"
    return caller_arn


def simulate(
    iam: Any, principal: str, statements: Sequence[Statement], backoff: Backoff
) -> tuple[Decision, ...]:
    """One SimulatePrincipalPolicy per statement and resource: every action the sync calls, on the ARNs it
    will use (https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html)."""
    out: list[Decision] = []
    for st in statements:
        for resource in st.simulate:
            pages = paginate(
                iam,
                "simulate_principal_policy",
                "EvaluationResults",
                backoff,
                {"PolicySourceArn": principal, "ActionNames": list(st.actions), "ResourceArns": [resource]},
            )
            for r in pages:
                denied_by = tuple(
                    sorted({s.get("SourcePolicyId", "?") for s in r.get("MatchedStatements", [])})
                    if r["EvalDecision"] == "explicitDeny"
                    else ()
                )
                out.append(Decision(r["EvalActionName"], resource, r["EvalDecision"], denied_by))
    return tuple(out)


def read_quotas(client: Any, backoff: Backoff) -> Quotas:
    """CloudFormation's StackSet quotas from Service Quotas, by name; the documented defaults when Service
    Quotas cannot be read (https://docs.aws.amazon.com/servicequotas/latest/APIReference/API_ListServiceQuotas.html)."""
    values = {
        q["QuotaName"]: int(q["Value"])
        for q in paginate(client, "list_service_quotas", "Quotas", backoff, {"ServiceCode": "cloudformation"})
    }
    defaults = Quotas()
    if STACKSETS_QUOTA_NAME not in values and INSTANCES_QUOTA_NAME not in values:
        return defaults
    return Quotas(
        values.get(STACKSETS_QUOTA_NAME, defaults.stacksets),
        values.get(INSTANCES_QUOTA_NAME, defaults.instances),
        "Service Quotas",
    )


def read_trails(client: Any, backoff: Backoff) -> tuple[Trail, ...]:
    trails = call_with_backoff(client.describe_trails, backoff, includeShadowTrails=True)["trailList"]
    out = []
    for t in trails:
        status = call_with_backoff(client.get_trail_status, backoff, Name=t["TrailARN"])
        out.append(
            Trail(
                t["Name"],
                bool(t.get("IsOrganizationTrail")),
                bool(t.get("IsMultiRegionTrail")),
                t.get("HomeRegion", ""),
                bool(status.get("IsLogging")),
            )
        )
    return tuple(sorted(out, key=lambda t: t.name))


def forwarding_rule(client: Any, home: str, backoff: Backoff) -> bool:
    """A rule in us-east-1 matching Organizations events with a target on an event bus in the home region."""
    for rule in paginate(client, "list_rules", "Rules", backoff, {}):
        pattern = json.loads(rule.get("EventPattern") or "{}")
        if "aws.organizations" not in pattern.get("source", []):
            continue
        targets = call_with_backoff(client.list_targets_by_rule, backoff, Rule=rule["Name"])["Targets"]
        if any(t["Arn"].startswith(f"arn:aws:events:{home}:") for t in targets):
            return True
    return False


def _call_as(m: Manifest) -> dict[str, str]:
    return {"CallAs": m.org.call_as} if m.org.call_as != CallAs.SELF else {}


def _organization(r: Reader, clients: Clients, m: Manifest, emulated: bool) -> dict[str, Any]:
    """The organization: who manages it, delegated administrators, trusted access (or the administration
    role), the OU tree, and the watcher's trail and forwarding rule."""
    b, org = r.backoff, clients.organizations
    described = r.read(
        "organization", lambda: call_with_backoff(org.describe_organization, b)["Organization"]
    )
    out: dict[str, Any] = {
        "management_account": (described or {}).get("MasterAccountId"),
        "organization_id": (described or {}).get("Id"),
    }
    if m.org.call_as == CallAs.DELEGATED_ADMIN:
        # Callable from the management account or a delegated administrator:
        # https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListDelegatedAdministrators.html
        params = {"ServicePrincipal": STACKSETS_PRINCIPAL}
        out["delegated_admins"] = r.read(
            "delegated_admins",
            lambda: tuple(
                a["Id"]
                for a in paginate(org, "list_delegated_administrators", "DelegatedAdministrators", b, params)
            ),
        )
    if m.org.permission_model == PermissionModel.SERVICE_MANAGED:
        # https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAWSServiceAccessForOrganization.html
        out["service_access"] = r.read(
            "service_access",
            lambda: tuple(
                s["ServicePrincipal"]
                for s in paginate(
                    org, "list_aws_service_access_for_organization", "EnabledServicePrincipals", b, {}
                )
            ),
        )
        if not emulated:  # moto does not implement DescribeOrganizationsAccess
            cfn = clients.cloudformation
            out["organizations_access"] = r.read(
                "organizations_access",
                lambda: call_with_backoff(cfn.describe_organizations_access, b, **_call_as(m))["Status"],
            )
    else:
        out["admin_role"] = r.read("admin_role", lambda: _role_exists(clients.client("iam"), m))
    out["tree"] = r.read("tree", lambda: read_org(org, b))
    out["trails"] = r.read("trails", lambda: read_trails(clients.client("cloudtrail", WATCHER_REGION), b))
    if m.org.home_region != WATCHER_REGION:
        events = clients.client("events", WATCHER_REGION)
        out["forwarding_rule"] = r.read(
            "forwarding_rule", lambda: forwarding_rule(events, m.org.home_region, b)
        )
    return out


def _permissions(
    r: Reader, clients: Clients, arn: str, sts: Sequence[Statement], role_arn: str | None, emulated: bool
) -> dict[str, Any]:
    if emulated:
        r.errors["decisions"] = EMULATOR_LACKS
        return {"principal": role_arn}
    iam = clients.client("iam")
    principal = role_arn or principal_arn(arn, iam, r)
    if principal is None:
        r.errors["decisions"] = (
            f"{arn} is the root user, which IAM cannot simulate (and should not run the sync)"
        )
        return {"principal": None}
    return {
        "principal": principal,
        "decisions": r.read("decisions", lambda: simulate(iam, principal, sts, r.backoff)),
    }


def _quotas(r: Reader, clients: Clients, emulated: bool) -> Quotas:
    if emulated:
        return Quotas()
    got = r.read("quotas", lambda: read_quotas(clients.client("service-quotas"), r.backoff))
    if got is None:
        return Quotas(source=f"documented defaults; Service Quotas unreadable: {r.errors['quotas']}")
    return got


def gather(
    clients: Clients,
    m: Manifest,
    statements: Callable[[str], Sequence[Statement]],
    *,
    role_arn: str | None = None,
    emulated: bool = False,
    backoff: Backoff | None = None,
) -> Facts:
    """Every fact the checks need. `statements(account)` gives the sync role's statements for the account;
    `emulated` leaves out what the --local emulator lacks (the checks then say so)."""
    r = Reader(backoff or Backoff())
    ident = call_with_backoff(clients.sts.get_caller_identity, r.backoff)
    account, arn = str(ident["Account"]), str(ident["Arn"])
    org = _organization(r, clients, m, emulated)
    perms = _permissions(r, clients, arn, statements(account), role_arn, emulated)
    quotas = _quotas(r, clients, emulated)
    live = r.read(
        "live_stacksets",
        lambda: tuple(
            s["StackSetName"]
            for s in paginate(
                clients.cloudformation,
                "list_stack_sets",
                "Summaries",
                r.backoff,
                {"Status": "ACTIVE", **_call_as(m)},
            )
        ),
    )
    region = clients.region or m.org.home_region
    return Facts(
        account, arn, region, **org, **perms, quotas=quotas, live_stacksets=live, errors=dict(r.errors)
    )


def _role_exists(iam: Any, m: Manifest) -> bool:
    try:
        iam.get_role(RoleName=admin_role_name(m))
    except Exception as exc:
        if error_code(exc) == "NoSuchEntity":
            return False
        raise
    return True
