"""The access graph (`python -m generator access`): exact outputs on the sample organization, every
principal kind and condition, the filters, and the access a git change gains and loses."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from generator.cli import main
from generator.org import access as a
from generator.org.loader import load_org
from generator.org.model import AccountTrust, Org, Trust
from generator.review import access_report as r

SAMPLE_TEXT = """\
7 access path(s) into 7 role(s)
Auditor: in Root (+11 below)
  <- login group arn:aws:iam::222222222222:group/org-roles-Auditor, policy org-roles-assume-Auditor, when MFA within 3600 s, role in organization o-a1b2c3d4e5
BillingViewer: in Root (+11 below), management account 111111111111
  <- login group arn:aws:iam::222222222222:group/org-roles-BillingViewer, policy org-roles-assume-BillingViewer, when MFA, role in organization o-a1b2c3d4e5
BreakGlass: in Root (+11 below), management account 111111111111
  <- login principal arn:aws:iam::222222222222:role/incident-commander, policy org-roles-assume-BreakGlass, when MFA within 900 s, source identity set, role in organization o-a1b2c3d4e5
Deployer: in Root/Infrastructure/SharedServices, Root/Workloads (+4 below)
  <- external principal arn:aws:iam::444444444444:role/ci-deployer, trust policy, when external id org-stacksets-deploy
Developer: in Root/Sandbox, Root/Workloads (+4 below)
  <- login group arn:aws:iam::222222222222:group/org-roles-Developer, policy org-roles-assume-Developer, when MFA, role in organization o-a1b2c3d4e5
NetworkAdmin: in Root/Infrastructure (+2 below)
  <- login group arn:aws:iam::222222222222:group/org-roles-NetworkAdmin, policy org-roles-assume-NetworkAdmin, when MFA within 3600 s, role in organization o-a1b2c3d4e5
ReadOnly: in Root/Infrastructure (+2 below), Root/Security, Root/Workloads (+4 below)
  <- login group arn:aws:iam::222222222222:group/org-roles-ReadOnly, policy org-roles-assume-ReadOnly, when MFA, role in organization o-a1b2c3d4e5
"""

WORKLOADS = ["Root/Workloads", "Root/Workloads/Dev", "Root/Workloads/Prod", "Root/Workloads/Prod/Payments"]
DEPLOYER_JSON = {
    "schema_version": 1,
    "paths": [
        {
            "role": "Deployer",
            "kind": "external principal",
            "principal": "arn:aws:iam::444444444444:role/ci-deployer",
            "via": "trust policy",
            "conditions": ["external id org-stacksets-deploy"],
            "ous": [
                {"ou": ou, "exclude_accounts": []}
                for ou in ["Root/Infrastructure/SharedServices", *WORKLOADS, "Root/Workloads/Staging"]
            ],
        }
    ],
}


@pytest.fixture
def sample(root: Path) -> Org:
    return load_org(root / "org_roles", "org_roles")


def test_text_on_the_sample_org(
    monkeypatch: pytest.MonkeyPatch, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(root)
    assert main(["access"]) == 0
    assert capsys.readouterr().out == SAMPLE_TEXT


def test_json_of_one_role(
    monkeypatch: pytest.MonkeyPatch, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(root)
    assert main(["access", "--role", "Deployer", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == DEPLOYER_JSON


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--ou", "Root/Security"], ["Auditor", "BillingViewer", "BreakGlass", "ReadOnly"]),
        (["--ou", "Root/Suspended"], ["Auditor", "BillingViewer", "BreakGlass"]),
        (["--principal", "444444444444"], ["Deployer"]),
        (["--principal", "INCIDENT"], ["BreakGlass"]),
        (["--principal", "555555555555"], []),
        (["--role", "NetworkAdmin", "--ou", "Root/Security"], []),
    ],
)
def test_filters(sample: Org, argv: list[str], expected: list[str]) -> None:
    kwargs = {argv[i].lstrip("-"): argv[i + 1] for i in range(0, len(argv), 2)}
    paths = a.select(a.access_paths(sample), **kwargs)
    assert [p.role for p in paths] == expected
    if "ou" in kwargs:
        assert all(p.ous == ((kwargs["ou"], ()),) for p in paths)


def test_ou_filter_keeps_only_that_ou(
    monkeypatch: pytest.MonkeyPatch, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(root)
    assert main(["access", "--ou", "Root/Workloads/Prod", "--role", "Developer"]) == 0
    assert capsys.readouterr().out == (
        "1 access path(s) into 1 role(s)\n"
        "Developer: in Root/Workloads/Prod\n"
        "  <- login group arn:aws:iam::222222222222:group/org-roles-Developer, policy org-roles-assume-Developer, "
        "when MFA, role in organization o-a1b2c3d4e5\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--role", "Deplyer"], "error: no role 'Deplyer' in the catalog; did you mean 'Deployer'?\n"),
        (
            ["--ou", "Root/Prod"],
            "error: no OU 'Root/Prod' in the organization; did you mean 'Root/Workloads/Prod'?\n",
        ),
    ],
)
def test_unknown_role_or_ou_is_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    root: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(root)
    assert main(["access", *argv]) == 2
    assert capsys.readouterr().err == message


def _with_trust(org: Org, role: str, trust: Trust) -> Org:
    return dataclasses.replace(
        org, roles={**org.roles, role: dataclasses.replace(org.roles[role], trust=trust)}
    )


def test_external_account_services_and_mfa(sample: Org) -> None:
    trust = Trust(
        services=("ec2.amazonaws.com",),
        accounts=(
            AccountTrust("555555555555", mfa=True),
            AccountTrust("666666666666", ("user/ops",), "x-1", True),
        ),
    )
    paths = a.select(a.access_paths(_with_trust(sample, "NetworkAdmin", trust)), role="NetworkAdmin")
    assert [(p.kind, p.principal, p.via, p.conditions) for p in paths] == [
        ("external account", "arn:aws:iam::555555555555:root", "trust policy", ("MFA",)),
        (
            "external principal",
            "arn:aws:iam::666666666666:user/ops",
            "trust policy",
            ("MFA", "external id x-1"),
        ),
        ("service", "ec2.amazonaws.com", "trust policy", ()),
    ]


def test_login_account_without_groups_and_with_session_tags(sample: Org) -> None:
    settings = dataclasses.replace(sample.settings, create_login_groups=False, session_tag_keys=("team",))
    ou = sample.ous["Root/Security"]
    ous = {**sample.ous, ou.path: dataclasses.replace(ou, exclude_accounts=("999999999999",))}
    org = dataclasses.replace(sample, settings=settings, ous=ous)
    (path,) = a.select(a.access_paths(org), role="ReadOnly")
    assert (path.kind, path.principal, path.via) == (
        "login account",
        "arn:aws:iam::222222222222:root",
        "policy org-roles-assume-ReadOnly (attach it to users or roles)",
    )
    assert path.conditions == ("MFA", "role in organization o-a1b2c3d4e5", "session tag keys only team")
    assert r.ou_list(path.ous) == (
        "Root/Infrastructure (+2 below), Root/Security except 999999999999, Root/Workloads (+4 below)"
    )


def test_dot_has_principal_role_and_ou_edges(sample: Org) -> None:
    dot = r.format_graph_dot(a.select(a.access_paths(sample), role="Deployer"))
    assert dot.startswith("digraph access {\n") and dot.endswith("}\n")
    assert (
        '  "arn:aws:iam::444444444444:role/ci-deployer" -> "role:Deployer" '
        '[label="trust policy\\nexternal id org-stacksets-deploy"];'
    ) in dot.splitlines()
    assert '  "role:Deployer" -> "ou:Root/Workloads (+4 below)" [label=""];' in dot.splitlines()


def test_a_dropped_condition_is_lost_and_gained(sample: Org) -> None:
    login = sample.roles["Developer"].trust.login
    assert login is not None
    weaker = _with_trust(sample, "Developer", Trust(login=dataclasses.replace(login, mfa=False)))
    diff = a.diff_access(a.access_paths(sample), a.access_paths(weaker), "base", "head")
    assert [p.conditions for p in diff.gained] == [("role in organization o-a1b2c3d4e5",)]
    assert [p.conditions for p in diff.lost] == [("MFA", "role in organization o-a1b2c3d4e5")]
    assert a.diff_access(a.access_paths(sample), a.access_paths(sample), "b", "h").empty


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path, root: Path) -> Path:
    """A git repository whose second commit lets a partner account's role assume Developer."""
    shutil.copytree(root / "org_roles", tmp_path / "org_roles")
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "sample")
    role = tmp_path / "org_roles" / "roles" / "Developer.yaml"
    role.write_text(
        role.read_text().replace(
            "trust:\n",
            'trust:\n  accounts:\n    - account_id: "555555555555"\n      principals: [role/partner-dev]\n'
            "      external_id: partner-7\n",
            1,
        )
    )
    _git(tmp_path, "commit", "-qam", "partner developers")
    return tmp_path


GAINED = (
    "+ Developer <- external principal arn:aws:iam::555555555555:role/partner-dev, trust policy, "
    "when external id partner-7; in Root/Sandbox, Root/Workloads (+4 below)"
)


def test_base_shows_the_access_an_external_trust_gains(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(repo), "access", "--base", "HEAD~1", "--exit-code"]) == 1
    assert (
        capsys.readouterr().out
        == f"Access: HEAD~1 -> working tree\n1 access path(s) gained, 0 lost\n{GAINED}\n"
    )
    assert (
        main(["--root", str(repo), "access", "--base", "HEAD", "--head", "HEAD~1", "--format", "json"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert (data["base"], data["head"], data["gained"]) == ("HEAD", "HEAD~1", [])
    assert [(p["principal"], [o["ou"] for o in p["ous"]]) for p in data["lost"]] == [
        ("arn:aws:iam::555555555555:role/partner-dev", ["Root/Sandbox", *WORKLOADS, "Root/Workloads/Staging"])
    ]
    assert main(["--root", str(repo), "access", "--base", "HEAD", "--exit-code"]) == 0
    assert capsys.readouterr().out == "Access: HEAD -> working tree\nNo access gained or lost.\n"


def test_base_with_filters_and_dot(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(repo), "access", "--base", "HEAD~1", "--principal", "444", "--exit-code"]) == 0
    assert "No access gained or lost." in capsys.readouterr().out
    assert main(["--root", str(repo), "access", "--base", "HEAD~1", "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith("digraph access_diff {\n")
    assert (
        '"arn:aws:iam::555555555555:role/partner-dev" -> "role:Developer"' in dot and "color=darkgreen" in dot
    )


def test_the_markdown_review_has_the_access_section(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["--root", str(repo), "diff", "--base", "HEAD~1", "--head", "HEAD", "--format", "markdown"]) == 0
    )
    out = capsys.readouterr().out
    section = out[out.index("### Access gained and lost") :]
    assert section == (
        "### Access gained and lost: `HEAD~1` → `HEAD`\n\n**1 access path(s) gained, 0 lost**\n\n"
        f"```diff\n{GAINED}\n```\n"
    )
    assert out.index("| `Root/Sandbox` | Developer | changed | **broadened** |") < out.index(section)


def test_the_readme_shows_what_the_command_prints(root: Path) -> None:
    readme = (root / "README.md").read_text()
    section = readme.split("### `python -m generator access", 1)[1].split("\n## ", 1)[0]
    assert "$ .venv/bin/python -m generator access --base HEAD~1\nAccess: HEAD~1 -> working tree\n" in section
    assert f"1 access path(s) gained, 0 lost\n{GAINED}\n```" in section
    deployer = "\n".join(SAMPLE_TEXT.splitlines()[7:9])
    assert f"--role Deployer\n1 access path(s) into 1 role(s)\n{deployer}\n```" in section


def test_a_role_removed_since_base_is_a_good_filter(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "org_roles" / "roles" / "Deployer.yaml").unlink()
    (repo / "org_roles" / "Root" / "Infrastructure" / "SharedServices" / "ou.yaml").write_text("# no roles\n")
    workloads = repo / "org_roles" / "Root" / "Workloads" / "ou.yaml"
    workloads.write_text(workloads.read_text().replace("  - role: Deployer\n", ""))
    _git(repo, "commit", "-qam", "no more Deployer")
    assert main(["--root", str(repo), "access", "--base", "HEAD~1", "--role", "Deployer"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1:] == [
        "0 access path(s) gained, 1 lost",
        "- Deployer <- external principal arn:aws:iam::444444444444:role/ci-deployer, trust policy, when external id "
        "org-stacksets-deploy; in Root/Infrastructure/SharedServices, Root/Workloads (+4 below)",
    ]
    assert main(["--root", str(repo), "access", "--role", "Deployer"]) == 2
    assert capsys.readouterr().err == "error: no role 'Deployer' in the catalog; did you mean 'Developer'?\n"
