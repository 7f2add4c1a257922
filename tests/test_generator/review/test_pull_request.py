"""The review in the pull request (generator/review/pull_request.py and the workflow that calls it): the
comment body from a git range, the verdict and its label, and one comment created then updated."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from generator.cli import main as generator_main
from generator.review import pull_request as pr

PARTNER = (
    "+ Developer <- external principal arn:aws:iam::555555555555:role/partner-dev, trust policy, "
    "when external id partner-7; in Root/Sandbox, Root/Workloads (+4 below)"
)
PASSED = [
    pr.Check("render", "python -m generator render --check", 0, ""),
    pr.Check("lint", "python -m generator lint", 0, ""),
]


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return proc.stdout.strip()


def _add_partner_trust(repo: Path) -> None:
    role = repo / "org_roles" / "roles" / "Developer.yaml"
    role.write_text(
        role.read_text().replace(
            "trust:\n",
            'trust:\n  accounts:\n    - account_id: "555555555555"\n      principals: [role/partner-dev]\n'
            "      external_id: partner-7\n",
            1,
        )
    )


@pytest.fixture
def org_repo(tmp_path: Path, root: Path) -> Path:
    """main holds the sample org_roles/; the branch `partner` lets a partner's role assume Developer."""
    shutil.copytree(root / "org_roles", tmp_path / "org_roles")
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "sample")
    _git(tmp_path, "checkout", "-qb", "partner")
    _add_partner_trust(tmp_path)
    _git(tmp_path, "commit", "-qam", "partner developers")
    return tmp_path


def test_the_comment_from_a_git_range(org_repo: Path) -> None:
    base = pr.merge_base(org_repo, "main", "HEAD")
    assert base == _git(org_repo, "rev-parse", "main")
    review = pr.build_review(org_repo, "org_roles", base[:12], PASSED, [])
    assert (review.findings, review.broadened, review.approved, review.passed) == (False, True, False, False)
    body = review.body
    assert body.startswith(pr.MARKER + "\n## Org roles review\n")
    assert (
        "| `python -m generator render --check` | passed |\n| `python -m generator lint` | passed |\n" in body
    )
    assert f"| Access | broadened; label `{pr.APPROVAL_LABEL}` absent |" in body
    assert (
        f"**Failed:** access broadened without the `{pr.APPROVAL_LABEL}` label (a maintainer adds it)."
        in body
    )
    assert f"### Org roles: `{base[:12]}` → `working tree`" in body
    assert "| `Root/Sandbox` | Developer | changed | **broadened** | trust-widened |" in body
    assert f"**1 access path(s) gained, 0 lost**\n\n```diff\n{PARTNER}\n```" in body


def test_the_label_lets_broadened_access_pass_but_not_findings(org_repo: Path) -> None:
    approved = pr.build_review(org_repo, "org_roles", "main", PASSED, ["other", pr.APPROVAL_LABEL])
    assert approved.passed and "**Passed.**" in approved.body
    assert f"| Access | broadened; label `{pr.APPROVAL_LABEL}` present |" in approved.body
    stale = [
        pr.Check(
            "render", "python -m generator render --check", 1, "templates/org/roles/Developer.yaml is stale"
        )
    ]
    failed = pr.build_review(org_repo, "org_roles", "main", stale + PASSED[1:], [pr.APPROVAL_LABEL])
    assert not failed.passed and "**Failed:** 1 check(s) failed." in failed.body
    assert "| `python -m generator render --check` | **failed** (exit 1) |" in failed.body
    assert (
        "<summary>python -m generator render --check</summary>\n\n```\ntemplates/org/roles/Developer.yaml is stale\n```"
        in failed.body
    )


def test_no_change_passes(org_repo: Path) -> None:
    review = pr.build_review(org_repo, "org_roles", "HEAD", PASSED, [])
    assert review.passed and not review.broadened
    assert "| Access | not broadened |" in review.body and "**No access gained or lost.**" in review.body


class _FakeGitHub(http.server.BaseHTTPRequestHandler):
    """The three issue-comment calls, on 127.0.0.1, two comments per page."""

    comments: ClassVar[list[dict[str, Any]]] = []
    calls: ClassVar[list[tuple[str, str]]] = []

    def _reply(self, data: Any, link: str = "") -> None:
        raw = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        if link:
            self.send_header("Link", link)
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        self.calls.append(("GET", self.path))
        assert self.headers["Authorization"] == "Bearer t0ken"
        page = int(self.path.split("page=")[-1]) if "&page=" in self.path else 1
        more = len(self.comments) > page * 2
        base = f"http://127.0.0.1:{self.server.server_port}/repos/o/r/issues/7/comments?per_page=100"
        link = f'<{base}&page={page + 1}>; rel="next"' if more else ""
        self._reply(self.comments[(page - 1) * 2 : page * 2], link)

    def _body(self) -> dict[str, Any]:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_POST(self) -> None:
        self.calls.append(("POST", self.path))
        self.comments.append(
            {"id": 100 + len(self.comments), "body": self._body()["body"], "user": {"type": "Bot"}}
        )
        self._reply(self.comments[-1])

    def do_PATCH(self) -> None:
        self.calls.append(("PATCH", self.path))
        cid = int(self.path.rsplit("/", 1)[1])
        comment = next(c for c in self.comments if c["id"] == cid)
        comment["body"] = self._body()["body"]
        self._reply(comment)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def github() -> Iterator[str]:
    _FakeGitHub.comments = [
        {"id": 1, "body": "looks good", "user": {"type": "User"}},
        {"id": 2, "body": pr.MARKER + " quoted by a person", "user": {"type": "User"}},
        {"id": 3, "body": "lgtm", "user": {"type": "User"}},
    ]
    _FakeGitHub.calls = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _FakeGitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_one_comment_created_then_updated(github: str) -> None:
    assert pr.post_comment(github, "t0ken", "o/r", 7, pr.MARKER + "\nfirst") == "created"
    assert [c for c, _ in _FakeGitHub.calls] == ["GET", "GET", "POST"]
    assert pr.post_comment(github, "t0ken", "o/r", 7, pr.MARKER + "\nsecond") == "updated"
    assert _FakeGitHub.calls[-1] == ("PATCH", "/repos/o/r/issues/comments/103")
    assert [c["body"] for c in _FakeGitHub.comments] == [
        "looks good",
        pr.MARKER + " quoted by a person",
        "lgtm",
        pr.MARKER + "\nsecond",
    ]


def test_the_workflow_only_calls_the_tested_module(root: Path) -> None:
    workflow = yaml.safe_load((root / ".github" / "workflows" / "org-roles-review.yml").read_text())
    trigger = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert trigger["pull_request"]["paths"] == ["org_roles/**"]
    assert {"labeled", "unlabeled", "synchronize"} <= set(trigger["pull_request"]["types"])
    runs = [s["run"] for s in workflow["jobs"]["review"]["steps"] if "run" in s]
    assert runs == [
        "python -m pip install -q -e .",
        'python -m generator.review.pull_request --base "origin/$BASE_REF" --labels "$PR_LABELS" --post --pr "$PR_NUMBER"',
    ]
    assert "${{" not in runs[1]  # event values reach the script through env only (no script injection)
    readme = (root / "README.md").read_text()
    assert f"`{pr.APPROVAL_LABEL}`" in readme


def _copy_repository(root: Path, dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for name in files:
        if (root / name).is_file() and not name.startswith("tests/"):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, dest / name)


@pytest.mark.slow
def test_the_script_end_to_end(tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A clean clone: render and lint run for real; a rendered partner trust fails without the label,
    passes with it; the same change left unrendered fails even with it."""
    _copy_repository(root, tmp_path)
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "clone")
    _git(tmp_path, "checkout", "-qb", "partner")
    _add_partner_trust(tmp_path)
    assert generator_main(["--root", str(tmp_path), "render"]) == 0
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "partner developers")
    capsys.readouterr()
    body = tmp_path / "comment.md"
    argv = ["--root", str(tmp_path), "--base", "main", "--output", str(body)]
    assert pr.main(argv) == 1
    assert PARTNER in body.read_text() and "| `python -m generator lint` | passed |" in body.read_text()
    assert pr.main([*argv, "--labels", pr.APPROVAL_LABEL]) == 0
    role = tmp_path / "org_roles" / "roles" / "Developer.yaml"
    role.write_text(role.read_text().replace("max_session_duration: 28800", "max_session_duration: 14400"))
    assert pr.main([*argv, "--labels", pr.APPROVAL_LABEL]) == 1
    assert "| `python -m generator render --check` | **failed** (exit 1) |" in body.read_text()
    proc = subprocess.run(
        [sys.executable, "-m", "generator.review.pull_request", "--post", "--base", "main"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: --post needs --repository")
