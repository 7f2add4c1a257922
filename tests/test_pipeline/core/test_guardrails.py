"""The trusted side's guardrails (pipeline/core/guardrails.py): every rule refuses exactly what it should, with
the template, the key and the reason; the sample organization passes; values resolve through the parameters
the manifest deploys; whatever cannot be resolved or parsed one way only is refused."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.core import guardrails as g
from tests.support.paths import ROOT

RULES = g.Guardrails(
    login_account_id="222222222222",
    trusted_accounts=frozenset({"444444444444"}),
    break_glass_roles=frozenset({"BreakGlass"}),
    max_session_seconds=14400,
)
SUB_LOGIN = {"Fn::Sub": "arn:${AWS::Partition}:iam::${LoginAccountId}:root"}
ADMIN = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]


def role(
    principal: Any = None, *, name: str = "Developer", statements: Any = None, **props: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "RoleName": name,
        "AssumeRolePolicyDocument": {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": principal or {"AWS": [SUB_LOGIN]},
                }
            ]
        },
        **props,
    }
    if statements is not None:
        body["Policies"] = [{"PolicyName": "p", "PolicyDocument": {"Statement": statements}}]
    return {"Type": "AWS::IAM::Role", "Properties": body}


def problems(*resources: tuple[str, dict[str, Any]], params: dict[str, set[str]] | None = None) -> list[str]:
    doc = {"Resources": dict(resources)}
    given = {k: frozenset(v) for k, v in (params or {"LoginAccountId": {"222222222222"}}).items()}
    return g.check_template("org/roles/X.yaml", doc, given, RULES)


AT = "org/roles/X.yaml: Resources.Role"
TRUST = f"{AT}.AssumeRolePolicyDocument.Statement[0]"
ONLY = " (only the break-glass roles ['BreakGlass'] may)"

CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "login account through a parameter": (role(), []),
    "trusted account, literal id": (role({"AWS": "444444444444"}), []),
    "service principal": (role({"Service": "lambda.amazonaws.com"}), []),
    "another account": (
        role({"AWS": "arn:aws:iam::999999999999:root"}),
        [
            f"{TRUST}: trusts account 999999999999, which is neither the login account (222222222222) nor in "
            "the trusted accounts (the pipeline stack's TrustedAccountIds)"
        ],
    ),
    "wildcard principal": (role("*"), [f"{TRUST}: trusts the wildcard principal '*'"]),
    "wildcard AWS principal": (role({"AWS": "*"}), [f"{TRUST}: trusts the wildcard principal '*'"]),
    "wildcard inside an ARN": (
        role({"AWS": "arn:aws:iam::*:root"}),
        [f"{TRUST}: trusts the wildcard principal 'arn:aws:iam::*:root'"],
    ),
    "the target account itself": (
        role({"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}),
        [
            f"{TRUST}: trusts 'arn:aws:iam::<the target account>:root', which is not an account id or an IAM ARN"
        ],
    ),
    "federated non-ARN": (
        role({"Federated": "accounts.google.com"}),
        [f"{TRUST}: trusts the federated principal 'accounts.google.com', which is not an IAM provider ARN"],
    ),
    "principal from an unresolvable function": (
        role({"AWS": {"Fn::ImportValue": "x"}}),
        [
            f"{TRUST}: Principal.AWS {{'Fn::ImportValue': 'x'}} cannot be resolved to literal values, so it cannot be checked"
        ],
    ),
    "Action * outside break-glass": (
        role(statements=ADMIN),
        [f"{AT}.Policies[0].Statement[0]: grants Action '*'{ONLY}"],
    ),
    "*:* outside break-glass": (
        role(statements=[{"Effect": "Allow", "Action": ["s3:GetObject", "*:*"], "Resource": "*"}]),
        [f"{AT}.Policies[0].Statement[0]: grants Action '*:*'{ONLY}"],
    ),
    "NotAction in an Allow": (
        role(statements=[{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]),
        [f"{AT}.Policies[0].Statement[0]: NotAction in an Allow grants every other action{ONLY}"],
    ),
    "Action * on break-glass": (role(name="BreakGlass", statements=ADMIN), []),
    "Action * in a Deny": (role(statements=[{"Effect": "Deny", "Action": "*", "Resource": "*"}]), []),
    "AdministratorAccess": (
        role(ManagedPolicyArns=["arn:aws:iam::aws:policy/AdministratorAccess"]),
        [f"{AT}: attaches arn:aws:iam::aws:policy/AdministratorAccess, which grants every action{ONLY}"],
    ),
    "customer managed policy": (
        role(ManagedPolicyArns=[{"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:policy/Admin"}]),
        [
            f"{AT}: attaches 'arn:aws:iam::<the target account>:policy/Admin', a policy the sync cannot read "
            f"to check{ONLY}"
        ],
    ),
    "policy document as JSON text": (
        {
            "Type": "AWS::IAM::Role",
            "Properties": {
                **role()["Properties"],
                "Policies": [
                    {
                        "PolicyName": "p",
                        "PolicyDocument": '{"Statement": [{"Effect": "Allow", "Action": "*"}]}',
                    }
                ],
            },
        },
        [f"{AT}.Policies[0].Statement[0]: grants Action '*'{ONLY}"],
    ),
    "policy document from a parameter": (
        role(statements=None, Policies=[{"PolicyName": "p", "PolicyDocument": {"Ref": "Doc"}}]),
        [f"{AT}.Policies[0]: policy document {{'Ref': 'Doc'}} cannot be checked{ONLY}"],
    ),
    "trust document that is not JSON": (
        {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": "{nope"}},
        [f"{AT}.AssumeRolePolicyDocument (a policy document that is not JSON) cannot be checked"],
    ),
    "session over the limit": (
        role(MaxSessionDuration=43200),
        [
            f"{AT}: MaxSessionDuration '43200' is over the 14400 seconds the pipeline stack allows "
            "(MaxSessionDurationSeconds)"
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_rule_refuses_exactly_what_it_should(case: str) -> None:
    resource, expected = CASES[case]
    assert problems(("Role", resource)) == expected


def test_values_resolve_over_every_parameter_value_deployed() -> None:
    """A per-OU override that sets another account or a longer session is caught, not just the default."""
    params = {"LoginAccountId": {"222222222222", "999999999999"}, "Session": {"3600", "43200"}}
    got = problems(("Role", role(MaxSessionDuration={"Ref": "Session"})), params=params)
    assert [p.split(": ", 2)[2][:40] for p in got] == [
        "trusts account 999999999999, which is ne",
        "MaxSessionDuration '43200' is over the 1",
    ]


def test_a_policy_resource_counts_for_everything_it_attaches_to() -> None:
    policy = {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {"PolicyDocument": {"Statement": ADMIN}, "Roles": [{"Ref": "Role"}]},
    }
    assert problems(("Role", role()), ("Admin", policy)) == [
        f"org/roles/X.yaml: Resources.Admin.PolicyDocument.Statement[0]: grants Action '*'{ONLY}"
    ]
    assert problems(("Role", role(name="BreakGlass")), ("Admin", policy)) == []
    policy["Properties"]["Users"] = ["someone"]
    assert problems(("Role", role(name="BreakGlass")), ("Admin", policy)) == [
        "org/roles/X.yaml: Resources.Admin: attaches to Users, which the org sync never deploys"
    ]


def test_other_resource_types_and_transforms_are_refused() -> None:
    doc = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {}}},
    }
    assert g.check_template("t.yaml", doc, {}, RULES) == [
        "t.yaml: Transform 'AWS::Serverless-2016-10-31' would rewrite the template after this check",
        "t.yaml: Resources.Fn: type 'AWS::Lambda::Function' is not one the org sync deploys",
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a: &x 1\nb: *x\n", "YAML anchors and aliases are not accepted"),
        ("a: !Ref x\n", "the YAML tag !Ref is not accepted"),
        ("a: 1\na: 2\n", "duplicate key a"),
    ],
)
def test_yaml_that_could_read_two_ways_is_refused(text: str, error: str) -> None:
    with pytest.raises(Exception, match=error):
        g.load_template(text)


def test_the_sample_organization_passes_its_own_guardrails() -> None:
    from pipeline.core.manifest import check_templates, loads_manifest

    templates = ROOT / "templates"
    manifest = loads_manifest((templates / "org/manifest.json").read_bytes(), "templates/org/manifest.json")
    paths = [s.template for s in manifest.stacksets] + [manifest.management_account_stack.template]  # type: ignore[union-attr]
    bodies = check_templates(manifest, {p: (templates / p).read_bytes() for p in paths})
    sample = g.Guardrails("222222222222", frozenset({"444444444444"}), frozenset({"BreakGlass"}), 43200)
    assert g.check(manifest, bodies, sample) == []
    # The login account is the stack's, not the repository's.
    other = g.Guardrails("333333333333", frozenset({"444444444444"}), frozenset({"BreakGlass"}), 43200)
    assert g.check(manifest, bodies, other)[0] == (
        "templates/org/manifest.json: org.login_account_id 222222222222 is not the login account the "
        "pipeline stack names (333333333333)"
    )


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({}, "GUARDRAIL_LOGIN_ACCOUNT_ID is not set"),
        ({g.ENV_LOGIN_ACCOUNT: "12"}, "GUARDRAIL_LOGIN_ACCOUNT_ID is '12'"),
        ({g.ENV_LOGIN_ACCOUNT: "222222222222", g.ENV_TRUSTED_ACCOUNTS: "1,2"}, "'1' is not a 12-digit"),
        ({g.ENV_LOGIN_ACCOUNT: "222222222222", g.ENV_MAX_SESSION: "99999"}, "'99999' is not a number"),
    ],
)
def test_settings_that_are_missing_or_wrong_are_refused(env: dict[str, str], error: str) -> None:
    with pytest.raises(g.GuardrailError, match=error):
        g.from_settings(env)


def test_settings_from_the_environment() -> None:
    env = {
        g.ENV_LOGIN_ACCOUNT: "222222222222",
        g.ENV_TRUSTED_ACCOUNTS: "444444444444, 555555555555",
        g.ENV_BREAK_GLASS: "BreakGlass,Emergency",
        g.ENV_MAX_SESSION: "7200",
    }
    assert g.from_settings(env) == g.Guardrails(
        "222222222222",
        frozenset({"444444444444", "555555555555"}),
        frozenset({"BreakGlass", "Emergency"}),
        7200,
    )
