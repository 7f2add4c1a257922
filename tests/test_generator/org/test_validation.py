"""Validation of org_roles/: every kind of mistake, with its exact message, file, key and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator.cli import main
from generator.errors import InputError
from generator.org.loader import load_org
from tests.support.paths import FIXTURES

MINIMAL = FIXTURES / "orgs" / "minimal"
ORG = (
    'management_account_id: "111111111111"\nlogin_account_id: "222222222222"\nhome_region: eu-west-1\n'
    "organization_id: o-a1b2c3d4e5\n"
)


def _role(body: str) -> str:
    return "description: extra role\n" + body


LOGIN = "trust:\n  login_account: {}\n"

CASES: dict[str, tuple[dict[str, str], list[str]]] = {
    "unknown key": (
        {"org.yaml": ORG + "home_regoin: x\n"},
        [
            "org_roles/org.yaml:5: home_regoin: unknown key 'home_regoin' (expected one of: call_as, deletion, "
            "home_region, login_account, login_account_id, management_account_id, notifications, "
            "operation_preferences, organization_id, permission_model, project, rollout, self_managed, stackset_prefix, tags)"
        ],
    ),
    "canary waves: unknown OU and an OU in two waves": (
        {"org.yaml": ORG + "rollout:\n  waves:\n    - [Root/Apps]\n    - [Root/Aps, Root/Apps]\n"},
        [
            "org_roles/org.yaml:8: rollout.waves[1][0]: unknown OU 'Root/Aps'; did you mean 'Root/Apps'?",
            "org_roles/org.yaml:8: rollout.waves[1][1]: OU Root/Apps is already in wave 1: an OU goes in one wave",
        ],
    ),
    "canary waves: an empty wave": (
        {"org.yaml": ORG + "rollout:\n  waves:\n    - []\n"},
        ["org_roles/org.yaml:7: rollout.waves[0]: [] should be non-empty"],
    ),
    "canary waves: not a list of lists": (
        {"org.yaml": ORG + "rollout:\n  waves: Root/Apps\n"},
        ["org_roles/org.yaml:6: rollout.waves: must be a list, not a string"],
    ),
    "empty tag value": (
        {"org.yaml": ORG + 'tags:\n  CostCenter: ""\n'},
        ["org_roles/org.yaml:6: tags.CostCenter: must not be empty"],
    ),
    "delegated admin of a self-managed StackSet": (
        {"org.yaml": ORG + "permission_model: self_managed\ncall_as: DELEGATED_ADMIN\n"},
        [
            "org_roles/org.yaml:6: call_as: DELEGATED_ADMIN is valid only with permission_model: "
            "service_managed (CloudFormation's CallAs); use SELF"
        ],
    ),
    "wrong type": (
        {"roles/Extra.yaml": _role("max_session_duration: long\n" + LOGIN)},
        ["org_roles/roles/Extra.yaml:2: max_session_duration: must be a whole number, not a string"],
    ),
    "unknown role": (
        {"Root/Apps/ou.yaml": "roles:\n  - role: Raeder\n"},
        ["org_roles/Root/Apps/ou.yaml:2: roles[0].role: unknown role 'Raeder'; did you mean 'Reader'?"],
    ),
    "attached where an ancestor attaches it": (
        {"Root/Apps/ou.yaml": "roles:\n  - role: Reader\n"},
        [
            "org_roles/Root/Apps/ou.yaml:2: roles[0].role: 'Reader' is already attached at Root "
            "(org_roles/Root/ou.yaml), which reaches this OU"
        ],
    ),
    "mistyped IAM action": (
        {
            "roles/Extra.yaml": _role(
                LOGIN + "statements:\n  - actions: [s3:GetObjet]\n    resources: ['*']\n"
            )
        },
        [
            "org_roles/roles/Extra.yaml:5: statements[0].actions[0]: unknown IAM action 's3:GetObjet'; "
            "did you mean 's3:GetObject'?"
        ],
    ),
    "unknown service prefix": (
        {
            "roles/Extra.yaml": _role(
                LOGIN + "statements:\n  - actions: [ec3:RunInstances]\n    resources: ['*']\n"
            )
        },
        [
            "org_roles/roles/Extra.yaml:5: statements[0].actions[0]: unknown IAM service prefix 'ec3' in "
            "'ec3:RunInstances'; did you mean 'ec2:RunInstances'?"
        ],
    ),
    "wildcard action matching nothing": (
        {"roles/Extra.yaml": _role(LOGIN + "statements:\n  - actions: ['s3:Fly*']\n    resources: ['*']\n")},
        ["org_roles/roles/Extra.yaml:5: statements[0].actions[0]: 's3:Fly*' matches no s3 action"],
    ),
    "wildcard principal": (
        {"roles/Extra.yaml": _role("trust:\n  login_account:\n    principals: ['*']\n")},
        [
            "org_roles/roles/Extra.yaml:4: trust.login_account.principals[0]: wildcard principal '*': "
            "name the roles or users that may assume it"
        ],
    ),
    "human trust without MFA": (
        {"roles/Extra.yaml": _role("trust:\n  login_account:\n    mfa: false\n")},
        [
            "org_roles/roles/Extra.yaml:4: trust.login_account.mfa: human-facing trust without MFA: "
            "keep mfa: true, or give mfa_opt_out_reason"
        ],
    ),
    "account trust without conditions": (
        {"roles/Extra.yaml": _role("trust:\n  accounts:\n    - account_id: '333333333333'\n")},
        [
            "org_roles/roles/Extra.yaml:4: trust.accounts[0]: trust without conditions: any principal in "
            "account 333333333333 could assume the role; add principals, external_id or mfa"
        ],
    ),
    "trust policy over 2,048": (
        {
            "roles/Extra.yaml": _role(
                "trust:\n  accounts:\n"
                + "".join(
                    f"    - account_id: '{300000000000 + i}'\n      external_id: secret-{i}\n"
                    for i in range(12)
                )
            )
        },
        ["org_roles/roles/Extra.yaml:2: trust: rendered trust policy is 2695 characters, over IAM's 2048"],
    ),
    "inline policy over 10,240": (
        {
            "roles/Extra.yaml": _role(
                LOGIN
                + "statements:\n  - actions: [s3:GetObject]\n    resources:\n"
                + "".join(f"      - arn:aws:s3:::bucket-with-a-long-name-{i:04d}/*\n" for i in range(260))
            )
        },
        [
            "org_roles/roles/Extra.yaml:4: statements: rendered inline policy is 12075 characters, "
            "over IAM's 10240 per role"
        ],
    ),
    "role name over 64": (
        {f"roles/{'A' * 65}.yaml": _role("trust:\n  services: [ec2.amazonaws.com]\n")},
        [f"org_roles/roles/{'A' * 65}.yaml:1: role name '{'A' * 40}'... is 65 characters, over IAM's 64"],
    ),
    "path over 512": (
        {"roles/Extra.yaml": _role("path: /" + "p/" * 256 + "\n" + LOGIN)},
        ["org_roles/roles/Extra.yaml:2: path: is 513 characters, over IAM's 512"],
    ),
    "more than 10 managed policies": (
        {
            "roles/Extra.yaml": _role(
                LOGIN
                + "managed_policies:\n"
                + "".join(f"  - arn:aws:iam::aws:policy/P{i}\n" for i in range(11))
            )
        },
        ["org_roles/roles/Extra.yaml:4: managed_policies: 11 managed policies, over IAM's 10 per role"],
    ),
    "OU depth over 5": (
        {f"Root/{'/'.join('ABCDEF'[: n + 1])}/ou.yaml": "" for n in range(6)},
        [
            "org_roles/Root/A/B/C/D/E/F: OU depth 6 is over the 5 levels AWS Organizations allows below the root"
        ],
    ),
    "organization id missing": (
        {"org.yaml": ORG.replace("organization_id: o-a1b2c3d4e5\n", "")},
        ["org_roles/org.yaml:1: missing required key: 'organization_id'"],
    ),
    "privilege-escalation set on everything": (
        {
            "roles/Extra.yaml": _role(
                LOGIN
                + "statements:\n  - actions: [s3:GetObject, lambda:UpdateFunctionConfiguration]\n"
                + '    resources: ["*"]\n'
                + "  - actions: [iam:UpdateAssumeRolePolicy]\n    resources: ['*']\n"
                + "  - actions: [sts:AssumeRole]\n    resources: ['*']\n"
            )
        },
        [
            "org_roles/roles/Extra.yaml:6: statements[0].resources: privilege escalation: "
            "lambda:UpdateFunctionConfiguration on '*' (add a layer that runs as any function's role); "
            "scope it to named resources (source: "
            "https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionConfiguration.html)",
            "org_roles/roles/Extra.yaml:8: statements[1].resources: privilege escalation: "
            "iam:UpdateAssumeRolePolicy + sts:AssumeRole on '*' (trust itself in any role, then assume it); "
            "scope it to named resources (source: "
            "https://rhinosecuritylabs.com/aws/aws-privilege-escalation-methods-mitigation/)",
        ],
    ),
    "invalid account id": (
        {"org.yaml": ORG.replace('"222222222222"', '"2222"')},
        ["org_roles/org.yaml:2: login_account_id: '2222' does not match a 12-digit AWS account id"],
    ),
    "parameter the role does not declare": (
        {"Root/Apps/Prod/ou.yaml": "parameters:\n  Reader:\n    Bukket: logs\n"},
        [
            "org_roles/Root/Apps/Prod/ou.yaml:3: parameters.Reader.Bukket: role Reader has no parameter "
            "'Bukket' (it has: Bucket, MaxSessionDuration)"
        ],
    ),
    "parameter value not allowed": (
        {"Root/Apps/Prod/ou.yaml": "parameters:\n  Reader:\n    Bucket: secrets\n"},
        [
            "org_roles/Root/Apps/Prod/ou.yaml:3: parameters.Reader.Bucket: 'secrets' is not one of the "
            "allowed values of Bucket: data, logs"
        ],
    ),
    "session length out of range": (
        {"Root/Apps/Prod/ou.yaml": "parameters:\n  Reader:\n    MaxSessionDuration: 60\n"},
        [
            "org_roles/Root/Apps/Prod/ou.yaml:3: parameters.Reader.MaxSessionDuration: '60' is not a "
            "session length in seconds from 3600 to 43200"
        ],
    ),
    "duplicate OU folder names": (
        {"Root/apps/ou.yaml": ""},
        [
            "org_roles/Root/apps: duplicate OU name under Root: 'apps' and 'Apps' "
            "(OU names are unique per parent, ignoring case)"
        ],
    ),
    "YAML syntax error": (
        {"Root/Apps/ou.yaml": "roles:\n  - role: [Reader\n"},
        ["org_roles/Root/Apps/ou.yaml:3: invalid YAML: expected ',' or ']', but got '<stream end>'"],
    ),
    "duplicate YAML key": (
        {"Root/Apps/ou.yaml": "roles: []\nroles: []\n"},
        ["org_roles/Root/Apps/ou.yaml:2: invalid YAML: duplicate key 'roles'"],
    ),
    "OU folder without ou.yaml": (
        {"Root/Apps/Empty/.keep": ""},
        ["org_roles/Root/Apps/Empty: missing ou.yaml: every OU folder needs one (it may be empty)"],
    ),
    "Action * without break_glass": (
        {"roles/Extra.yaml": _role(LOGIN + "statements:\n  - actions: ['*']\n    resources: ['*']\n")},
        [
            "org_roles/roles/Extra.yaml:5: statements[0].actions[0]: Action '*' is allowed only in a role "
            "marked break_glass: {reason: ...}"
        ],
    ),
    "iam:PassRole on *": (
        {
            "roles/Extra.yaml": _role(
                LOGIN + "statements:\n  - actions: [iam:PassRole]\n    resources: ['*']\n"
            )
        },
        [
            "org_roles/roles/Extra.yaml:6: statements[0].resources: iam:PassRole on '*': name the roles that may be passed"
        ],
    ),
    "unknown placeholder": (
        {
            "roles/Extra.yaml": _role(
                LOGIN
                + "statements:\n  - actions: [s3:GetObject]\n    resources: ['arn:aws:s3:::${Buckt}/*']\n"
            )
        },
        [
            "org_roles/roles/Extra.yaml:6: statements[0].resources[0]: '${Buckt}' is neither a parameter "
            "of this role nor an AWS pseudo parameter"
        ],
    ),
    "values for a role not attached above": (
        {
            "roles/Extra.yaml": _role("trust:\n  services: [ec2.amazonaws.com]\n"),
            "Root/Apps/ou.yaml": "parameters:\n  Extra:\n    MaxSessionDuration: 3600\n",
        },
        [
            "org_roles/Root/Apps/ou.yaml:2: parameters.Extra: 'Extra' is not attached at Root/Apps or above, "
            "so it has no values here"
        ],
    ),
    "reserved parameter name": (
        {"roles/Extra.yaml": _role(LOGIN + "parameters:\n  Project:\n    type: String\n")},
        [
            "org_roles/roles/Extra.yaml:5: parameters.Project: 'Project' is reserved (built in to every role template)"
        ],
    ),
    "stray file in the tree": (
        {"Root/Apps/ou.yml": ""},
        ["org_roles/Root/Apps/ou.yml: unexpected file: an OU folder holds only ou.yaml and OU folders"],
    ),
}


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    org = tmp_path / "org_roles"
    shutil.copytree(MINIMAL, org)
    for rel, text in files.items():
        target = org / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return org


def test_minimal_fixture_is_valid() -> None:
    org = load_org(MINIMAL)
    assert sorted(org.ous) == ["Root", "Root/Apps", "Root/Apps/Prod"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_mistake_has_its_exact_message(case: str, tmp_path: Path) -> None:
    files, expected = CASES[case]
    with pytest.raises(InputError) as raised:
        load_org(_tree(tmp_path, files), "org_roles")
    assert [str(p) for p in raised.value.problems] == expected


def test_three_mistakes_reported_in_one_run_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        **CASES["unknown role"][0],
        **CASES["mistyped IAM action"][0],
        **CASES["invalid account id"][0],
    }
    _tree(tmp_path, files)
    assert main(["--root", str(tmp_path), "render"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 3 problems in the input:\n")
    for case in ("unknown role", "mistyped IAM action", "invalid account id"):
        assert CASES[case][1][0] in err
    assert "Traceback" not in err
    assert not (tmp_path / "templates").exists()


def test_a_failed_render_leaves_existing_templates_untouched(tmp_path: Path) -> None:
    _tree(tmp_path, {})
    assert main(["--root", str(tmp_path), "render"]) == 0
    before = {p: p.read_bytes() for p in (tmp_path / "templates").rglob("*") if p.is_file()}
    (tmp_path / "org_roles" / "Root" / "Apps" / "ou.yaml").write_text("roles: [oops\n")
    assert main(["--root", str(tmp_path), "render"]) == 2
    after = {p: p.read_bytes() for p in (tmp_path / "templates").rglob("*") if p.is_file()}
    assert after == before


def test_missing_org_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(tmp_path), "render"]) == 2
    assert capsys.readouterr().err == "error: 1 problem in the input: org_roles: no such folder\n"
