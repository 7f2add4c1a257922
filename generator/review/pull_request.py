"""The review in the pull request: `python -m generator.review.pull_request --base REF` renders (--check),
lints, and writes one comment body with the per-OU IAM diff and the access gained and lost since the
merge base; `--post` creates or updates that one comment on the pull request. Exit 1 on findings (stale
templates, lint findings) and on broadened access unless the pull request carries the approval label.

.github/workflows/org-roles-review.yml only calls this module.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import GeneratorError
from pipeline.common.cli import Parser, repository_root, run, write_file
from pipeline.common.errors import EXIT_FAILED, EXIT_OK, UsageError

APPROVAL_LABEL = "org-roles/access-approved"
MARKER = "<!-- org-roles-review -->"
# GitHub refuses comments over 65,536 characters; the IAM diff gets most of it, the rest what follows.
COMMENT_LIMIT = 65_536
_DIFF_ROOM = COMMENT_LIMIT - 12_000
_OUTPUT_ROOM = 3_000


@dataclass(frozen=True)
class Check:
    name: str
    command: str
    code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.code == 0


@dataclass(frozen=True)
class Review:
    body: str
    findings: bool
    broadened: bool
    approved: bool

    @property
    def passed(self) -> bool:
        return not self.findings and (not self.broadened or self.approved)


def merge_base(root: Path, base: str, head: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(root), "merge-base", base, head], check=False, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise GeneratorError(f"no merge base of '{base}' and '{head}' in {root}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def run_checks(root: Path) -> list[Check]:
    """`generator render --check` and `generator lint` on the checked-out tree, as separate processes."""
    checks = []
    for name, args in (("render", ["render", "--check"]), ("lint", ["lint"])):
        argv = [sys.executable, "-m", "generator", "--root", str(root), *args]
        proc = subprocess.run(argv, check=False, capture_output=True, text=True, cwd=root)
        output = (proc.stdout + proc.stderr).strip()
        checks.append(Check(name, f"python -m generator {' '.join(args)}", proc.returncode, output))
    return checks


def _check_rows(checks: Sequence[Check]) -> list[str]:
    rows = ["| Check | Result |", "| --- | --- |"]
    rows += [f"| `{c.command}` | {'passed' if c.ok else f'**failed** (exit {c.code})'} |" for c in checks]
    return rows


def _outputs(checks: Sequence[Check]) -> list[str]:
    blocks = []
    for c in checks:
        if c.ok:
            continue
        text = c.output if len(c.output) <= _OUTPUT_ROOM else c.output[:_OUTPUT_ROOM] + "\n... (cut)"
        blocks.append(f"<details><summary>{c.command}</summary>\n\n```\n{text}\n```\n</details>\n")
    return blocks


def build_review(
    root: Path, org_dir: str, base: str, checks: Sequence[Check], labels: Sequence[str]
) -> Review:
    """The comment body for the working tree of `root` against revision `base`, and the verdict."""
    from generator.org.access import access_paths, diff_access
    from generator.review.access_report import format_diff_markdown
    from generator.review.diff import diff_orgs
    from generator.review.report import format_markdown
    from generator.review.revisions import org_at

    old, old_label = org_at(root, base, org_dir)
    new, new_label = org_at(root, None, org_dir)
    report = diff_orgs(old, new, old_label, new_label)
    access = diff_access(access_paths(old), access_paths(new), old_label, new_label)
    findings = any(not c.ok for c in checks)
    broadened = report.summary.broadened > 0 or bool(access.gained)
    approved = APPROVAL_LABEL in labels
    review = Review("", findings, broadened, approved)
    if broadened:
        gate = f"broadened; label `{APPROVAL_LABEL}` {'present' if approved else 'absent'}"
    else:
        gate = "not broadened"
    reasons = [f"{sum(not c.ok for c in checks)} check(s) failed"] if findings else []
    if broadened and not approved:
        reasons.append(f"access broadened without the `{APPROVAL_LABEL}` label (a maintainer adds it)")
    verdict = "**Passed.**" if review.passed else f"**Failed:** {'; '.join(reasons)}."
    parts = [
        MARKER,
        "## Org roles review",
        "",
        *_check_rows(checks),
        f"| Access | {gate} |",
        "",
        verdict,
        "",
        format_markdown(report, limit=_DIFF_ROOM),
        format_diff_markdown(access),
        *_outputs(checks),
    ]
    body = "\n".join(parts)
    if len(body) > COMMENT_LIMIT - 200:
        body = (
            body[: COMMENT_LIMIT - 200]
            + "\n\n_Truncated at GitHub's comment limit; run the commands locally._\n"
        )
    return Review(body, findings, broadened, approved)


def _github(
    api: str, token: str, method: str, url: str, data: dict[str, str] | None = None
) -> tuple[Any, str]:
    """One GitHub REST call: the decoded JSON and the Link header (pagination)."""
    request = urllib.request.Request(
        url if url.startswith("http") else api + url,
        data=json.dumps(data).encode() if data is not None else None,
        method=method,
        headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "X-GitHub-Api-Version": "2022-11-28",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null"), response.headers.get("Link", "")
    except OSError as exc:  # HTTPError and URLError are OSErrors
        raise GeneratorError(f"GitHub {method} {url} failed: {exc}") from exc


def _next_page(link: str) -> str | None:
    for part in link.split(","):
        if 'rel="next"' in part:
            return part.split(";")[0].strip().strip("<>")
    return None


def post_comment(api: str, token: str, repository: str, number: int, body: str) -> str:
    """Update this review's comment on the pull request (the bot comment starting with MARKER), or create
    it: one comment per pull request, updated on every push. Returns 'updated' or 'created'.

    GitHub REST: issue comments (list, create, update) serve pull requests too,
    https://docs.github.com/en/rest/issues/comments."""
    url: str | None = f"/repos/{repository}/issues/{number}/comments?per_page=100"
    while url:
        comments, link = _github(api, token, "GET", url)
        for c in comments:
            if str(c.get("body", "")).startswith(MARKER) and c.get("user", {}).get("type") == "Bot":
                _github(api, token, "PATCH", f"/repos/{repository}/issues/comments/{c['id']}", {"body": body})
                return "updated"
        url = _next_page(link)
    _github(api, token, "POST", f"/repos/{repository}/issues/{number}/comments", {"body": body})
    return "created"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m generator.review.pull_request",
        description="The pull-request review of org_roles/: render --check, lint, the IAM diff and the access "
        "gained and lost since the merge base, as one comment. Exit 1 on findings, or on broadened access "
        f"without the '{APPROVAL_LABEL}' label.",
    )
    parser.add_argument(
        "--base", required=True, help="the target branch, e.g. origin/main (its merge base is used)"
    )
    parser.add_argument("--root", help="repository root (default: found from the current folder)")
    parser.add_argument(
        "--org", metavar="DIR", default="org_roles", help="organization folder (default: org_roles)"
    )
    parser.add_argument("--labels", default="", help="the pull request's labels, comma-separated")
    parser.add_argument("--output", metavar="FILE", help="also write the comment body to FILE")
    parser.add_argument(
        "--post", action="store_true", help="create or update the comment on the pull request"
    )
    parser.add_argument("--repository", help="owner/name (with --post; default: $GITHUB_REPOSITORY)")
    parser.add_argument("--pr", type=int, help="pull request number (with --post)")
    parser.add_argument("--api-url", help="GitHub API (default: $GITHUB_API_URL or https://api.github.com)")
    parser.set_defaults(func=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    root = repository_root(args.root)
    repository = args.repository or os.environ.get("GITHUB_REPOSITORY")
    token = os.environ.get("GITHUB_TOKEN", "")
    if args.post and not (repository and args.pr and token):
        raise UsageError("--post needs --repository (or $GITHUB_REPOSITORY), --pr and $GITHUB_TOKEN")
    base = merge_base(root, args.base, "HEAD")
    labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    # A 12-digit prefix names the commit as well and reads better in the comment.
    review = build_review(root, args.org, base[:12], run_checks(root), labels)
    if args.output:
        write_file(Path(args.output), review.body.encode())
    sys.stdout.write(review.body)
    if args.post:
        api = (args.api_url or os.environ.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
        done = post_comment(api, token, str(repository), args.pr, review.body)
        print(f"review comment {done} on {repository}#{args.pr}", file=sys.stderr)
    return EXIT_OK if review.passed else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
