"""Benchmark: the org sync on 500 OUs, 5,000 accounts and 10 role StackSets: first sync, no-op sync, and
one rollout per change.

Run: .venv/bin/python benchmarks/sync_bench.py
Against moto's server on 127.0.0.1 with the StackSet fidelity layer (operations finish on their next poll,
no real resources). Prints API calls by kind, wall time, and reads against the minimum a correct no-op can
make: one walk of the tree (DescribeOrganization, ListRoots, and per OU its pages of child OUs and of
accounts, 20 a page), ListStackSets (orphans), and per StackSet DescribeStackSet, the operation its hash
tag names (DescribeStackSetOperation: did the rollout that wrote the hash succeed?) and one
ListStackInstances per broken detailed status (FAILED, INOPERABLE, CANCELLED; a filter takes one value),
which finds what AutoDeployment left failed. A no-op sync must make zero writes and stay within 10% of that
minimum. Then one sync changing three StackSets at once (Role0's template, Role1's per-OU value, Role2's
targets) prints UpdateStackSet calls per changed StackSet and the instances each redeployed (goal: 1 for a
content change, none of its own for a change of targets), and a no-op after it. Then the plan's IAM review
(diff against the deployed templates, accounts per OU, Markdown), timed apart from the plan, for the no-op
and for Role0 (attached at the root) gaining s3:* on *. Last, the AWS time model (benchmarks/aws_time.py):
the estimated wall time on real AWS of a no-op (from the stored walk, and after an Organizations event), one
role change and a new role across the 5,000 accounts, from the no-op's measured walk, the Organizations
rate (--org-rate, default 5 calls/s) and the time of one stack (--stack-seconds, default 30), for this
project and for a sequential one-StackSet-at-a-time tool.

With --lambda it runs the sync Lambda through CodePipeline's continuation flow instead, on simulated time
with Organizations throttled to --org-rate (benchmarks/lambda_runs.py), at --ous / --accounts / --stacksets
or, without --ous, at 125, 500 and 2,000 OUs (10 accounts per OU): a table per size, or with --json one
JSON object (a list under "sizes" for several sizes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aws_time import report as aws_time_report
from moto.core.base_backend import BackendDict

from pipeline.aws.clients import make_clients
from pipeline.aws.retry import Backoff, PollPolicy
from pipeline.cli.files import load_manifest, load_templates
from pipeline.core.manifest import OperationPreferences
from pipeline.core.timing import Rates
from pipeline.emulator import seed as seeding
from pipeline.emulator.server import FidelityServer, MotoOrgView
from pipeline.emulator.stacksets import StackSetService
from pipeline.sync import SyncSession, apply_plan, plan_sync

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "tests" / "fixtures" / "sync" / "templates" / "org" / "roles" / "Developer.yaml"
MGMT, LOGIN = "111111111111", "222222222222"
TOP, PER_TOP, PER_OU = 10, 49, 10  # 10 top OUs with 49 children each: 500 OUs; 10 accounts each: 5,000
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
S3_ALL = (
    "      Policies:\n      - PolicyName: AllOfS3\n        PolicyDocument:\n          Statement:\n"
    "          - {Effect: Allow, Action: 's3:*', Resource: '*'}\n      Tags:\n"
)


def stackset_entry(r: int, body: str, targets: list[str]) -> dict[str, Any]:
    """One role StackSet of the manifest contract (templates/org/manifest.json's shape)."""
    rel = f"org/roles/Role{r}.yaml"
    return {
        "name": f"org-roles-Role{r}",
        "description": f"Role{r}",
        "kind": "role",
        "role": f"Role{r}",
        "template": rel,
        "template_sha256": hashlib.sha256(body.encode()).hexdigest(),
        "parameters": {"LoginAccountId": LOGIN, "MaxSessionDuration": "3600", "Project": "org-roles"},
        "capabilities": ["CAPABILITY_NAMED_IAM"],
        "regions": ["us-east-1"],
        "targets": [{"ou_path": t, "ou_id": None, "excluded_accounts": [], "source": ""} for t in targets],
        "account_targets": [],
        "parameter_overrides": [],
        "tags": {"ManagedBy": "org-stacksets", "Project": "org-roles"},
    }


def write_manifest(tmp: Path, paths: list[str], stacksets: list[dict[str, Any]]) -> None:
    """The benchmark's manifest.json: the service-managed sample settings, OUs by path, these StackSets."""
    manifest = {
        "generated_by": "benchmark",
        "manifest_version": 1,
        "org": {
            "management_account_id": MGMT,
            "login_account_id": LOGIN,
            "home_region": "us-east-1",
            "stackset_prefix": "org-roles",
            "permission_model": "SERVICE_MANAGED",
            "call_as": "SELF",
            "deletion": {
                "retain_stacks": True,
                "max_instance_deletions": 25,
                "max_instance_deletion_percentage": 10,
            },
            "tags": {"ManagedBy": "org-stacksets", "Project": "org-roles"},
        },
        "ous": [{"path": "Root", "ou_id": None}] + [{"path": p, "ou_id": None} for p in paths],
        "stacksets": stacksets,
        "management_account_stack": None,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest))


def build(tmp: Path) -> tuple[Path, seeding.OrgLayout]:
    paths = []
    for i in range(TOP):
        top = f"Root/Unit{i:02d}"
        paths.append(top)
        paths += [f"{top}/Team{j:02d}" for j in range(PER_TOP)]
    (tmp / "templates" / "org" / "roles").mkdir(parents=True)
    stacksets = []
    for r in range(10):
        body = TEMPLATE.read_text().replace("Developer", f"Role{r}")
        rel = f"org/roles/Role{r}.yaml"
        (tmp / "templates" / rel).write_text(body)
        # Role 0 at the root, the others at one top OU each, one with a per-OU value below it.
        targets = ["Root"] if r == 0 else [f"Root/Unit{r:02d}"]
        entry = stackset_entry(r, body, targets)
        if r == 1:
            entry["parameter_overrides"] = [
                {
                    "ou_path": "Root/Unit01/Team00",
                    "ou_id": None,
                    "parameters": {"MaxSessionDuration": "7200"},
                    "source": "",
                }
            ]
        stacksets.append(entry)
    write_manifest(tmp, paths, stacksets)
    layout = seeding.OrgLayout(MGMT)
    for p in paths:
        layout.add_ou(p)
    layout.accounts.append(seeding.SeedAccount(MGMT, "management", "Root"))
    number = 100000000000
    for p in paths:
        for _ in range(PER_OU):
            layout.accounts.append(seeding.SeedAccount(f"{number:012d}", f"a{number}", p))
            number += 1
    return tmp, layout


def minimum_reads(layout: seeding.OrgLayout, stacksets: int) -> int:
    children: dict[str, int] = {"Root": 0}
    accounts: dict[str, int] = {"Root": 0}
    for p in layout.ous:
        children[p] = children.get(p, 0)
        parent = p.rsplit("/", 1)[0]
        children[parent] = children.get(parent, 0) + 1
    for a in layout.accounts:
        accounts[a.path] = accounts.get(a.path, 0) + 1
    pages = sum(max(1, math.ceil(n / 20)) for n in children.values())
    pages += sum(max(1, math.ceil(accounts.get(u, 0) / 20)) for u in children)
    return 2 + pages + 1 + stacksets * PER_STACKSET


# DescribeStackSet, DescribeStackSetOperation, and ListStackInstances for FAILED, INOPERABLE and CANCELLED.
PER_STACKSET = 5


def session(server: FidelityServer, manifest_dir: Path, run_id: str) -> SyncSession:
    m = load_manifest(manifest_dir / "manifest.json")
    clients = make_clients("us-east-1", endpoint_url=server.url, credentials=CREDS, max_attempts=3)
    return SyncSession(
        m,
        load_templates(m, manifest_dir / "templates"),
        clients,
        run_id=run_id,
        poll=PollPolicy(0, 0, 1, 500, lambda _s: None),
        backoff=Backoff(sleep=lambda _s: None),
    )


def run(server: FidelityServer, manifest_dir: Path, run_id: str) -> tuple[Any, float]:
    s = session(server, manifest_dir, run_id)
    t0 = time.perf_counter()
    report = apply_plan(s, plan_sync(s))
    return report, time.perf_counter() - t0


def grant_s3_to_role0(manifest_dir: Path) -> None:
    """Role0 (attached at the root) gains s3:* on *: an IAM change at every OU."""
    template = manifest_dir / "templates" / "org" / "roles" / "Role0.yaml"
    template.write_text(template.read_text().replace("      Tags:\n", S3_ALL))
    manifest = json.loads((manifest_dir / "manifest.json").read_text())
    manifest["stacksets"][0]["template_sha256"] = hashlib.sha256(template.read_bytes()).hexdigest()
    (manifest_dir / "manifest.json").write_text(json.dumps(manifest))


def change_three(manifest_dir: Path) -> None:
    """Role1's per-OU value changes, and Role2 gains a target (Role0's template changes apart)."""
    manifest = json.loads((manifest_dir / "manifest.json").read_text())
    manifest["stacksets"][1]["parameter_overrides"][0]["parameters"]["MaxSessionDuration"] = "5400"
    manifest["stacksets"][2]["targets"].append(
        {"ou_path": "Root/Unit03", "ou_id": None, "excluded_accounts": [], "source": ""}
    )
    (manifest_dir / "manifest.json").write_text(json.dumps(manifest))


def rollout_rows(server: FidelityServer, manifest_dir: Path) -> bool:
    """One sync changing three StackSets: UpdateStackSet calls and the instances they redeployed, per
    StackSet; then a no-op. True when the content change took exactly one rollout, the others none of
    their own beyond a tag-only update of one instance, and the no-op wrote nothing."""
    since = len(server.service.calls)
    s = session(server, manifest_dir, "bench-3")
    changes = plan_sync(s)
    report = apply_plan(s, changes)
    ex = s.executor()
    # redeployed: instances the UpdateStackSet calls deployed; all ops: instances every operation deployed.
    print(
        f"{'changed StackSet':<18} {'change':<10} {'UpdateStackSet':>14} {'redeployed':>10} {'all ops':>9}  kinds"
    )
    ok = report.outcome == "success"
    for name, change in (
        ("org-roles-Role0", "template"),
        ("org-roles-Role1", "overrides"),
        ("org-roles-Role2", "targets"),
    ):
        plan = next(p for p in changes.stacksets if p.name == name)
        record = server.service.record(name)
        updates = sum(1 for a, n in server.service.calls[since:] if a == "UpdateStackSet" and n == name)
        redeployed = sum(
            len(record.operations[ex.operation_id(op)].targets)
            for op in plan.ops
            if op.kind in ("update-stackset", "commit")
        )
        touched = sum(len(record.operations[ex.operation_id(op)].targets) for op in plan.ops)
        kinds = ", ".join(sorted({op.kind for op in plan.ops}))
        print(f"{name:<18} {change:<10} {updates:>14} {redeployed:>10} {touched:>9}  {kinds}")
        if change == "template":
            ok = ok and updates == 1 and redeployed == len(record.instances)
        elif change == "targets":
            ok = ok and updates == 0
        else:
            ok = ok and updates == 1 and redeployed == 1
    print(
        "rollouts (UpdateStackSet on every instance) per changed StackSet: 1 for the template change, 0 else"
    )
    after = session(server, manifest_dir, "bench-4")
    again = apply_plan(after, plan_sync(after))
    reads, writes = again.calls["reads"], again.calls["writes"]
    print(
        f"no-op after the changes: {', '.join(f'{v} {k}' for k, v in again.counts().items())}, {reads} reads, "
        f"{writes} writes"
    )
    return ok and writes == 0 and again.counts() == {"unchanged": 10}


def review_row(server: FidelityServer, manifest_dir: Path, name: str) -> str:
    """A plan, then its IAM review (python -m pipeline plan's extra work) timed on its own."""
    from pipeline.cli.review import render_plan, review_session
    from pipeline.sync import plan_report

    s = session(server, manifest_dir, "bench-plan")
    t0 = time.perf_counter()
    plan = plan_sync(s)
    report = plan_report(s, plan)
    t1 = time.perf_counter()
    markdown = render_plan(report, review_session(s, plan, "manifest"), "markdown")
    t2 = time.perf_counter()
    reads = report.calls["reads"]
    iam = markdown.splitlines()[0].split("; IAM: ", 1)[1]
    return f"{name:<12} {reads:>6} {t1 - t0:>8.1f} {t2 - t1:>8.2f} {len(markdown):>9,}  {iam}"


def org_calls(by_kind: dict[str, int]) -> int:
    """The calls a run made to Organizations (the walk), from its calls by operation."""
    org = make_clients("us-east-1", credentials=CREDS).organizations.meta.service_model.operation_names
    return sum(n for k, n in by_kind.items() if k in org)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--org-rate", type=float, default=5.0, help="Organizations calls per second (model)")
    parser.add_argument("--stack-seconds", type=float, default=30.0, help="one stack's deployment (model)")
    parser.add_argument(
        "--lambda", dest="lambda_", action="store_true", help="CodePipeline continuation flow"
    )
    parser.add_argument("--ous", type=int, help="--lambda: OUs (default: 125, 500 and 2,000)")
    parser.add_argument("--accounts", type=int, help="--lambda: member accounts (default: 10 per OU)")
    parser.add_argument("--stacksets", type=int, default=50, help="--lambda: role StackSets")
    parser.add_argument("--org-latency", type=float, default=0.05, help="--lambda: seconds per request")
    parser.add_argument("--json", action="store_true", help="--lambda: one JSON object")
    args = parser.parse_args(argv)
    if args.lambda_:
        return lambda_main(args)
    by_kind: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        manifest_dir, layout = build(Path(tmp))
        BackendDict.reset()
        seeding.seed(layout)
        server = FidelityServer(StackSetService(MotoOrgView(MGMT), running_ticks=1), MGMT)
        server.start()
        try:
            ous, accounts = len(layout.ous), len(layout.accounts) - 1
            minimum = minimum_reads(layout, 10)
            print(f"organization: {ous} OUs, {accounts} member accounts, 10 role StackSets")
            print(
                f"minimum reads for a no-op: {minimum} (one walk of the tree, ListStackSets, and per StackSet "
                f"{PER_STACKSET}: DescribeStackSet, the operation its hash names, and ListStackInstances for "
                "FAILED, INOPERABLE and CANCELLED)"
            )
            print()
            print(f"{'run':<10} {'result':<28} {'reads':>6} {'writes':>6} {'seconds':>8} {'reads/min':>9}")
            ok = True
            for name, run_id in (("first", "bench-1"), ("no-op", "bench-2")):
                report, seconds = run(server, manifest_dir, run_id)
                reads, writes = report.calls["reads"], report.calls["writes"]
                ratio = reads / minimum
                result = ", ".join(f"{v} {k}" for k, v in report.counts().items())
                print(f"{name:<10} {result:<28} {reads:>6} {writes:>6} {seconds:>8.1f} {ratio:>9.3f}")
                if name == "no-op":
                    ok = writes == 0 and ratio <= 1.10 and report.outcome == "success"
                    by_kind = dict(report.calls["by_operation"])
                    print()
                    print(
                        "no-op calls by operation: "
                        + ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items()))
                    )
            instances = sum(len(r.instances) for r in server.service.stacksets.values())
            print(f"stack instances after the first sync: {instances}")
            print("no-op within bounds (0 writes, reads <= 1.10 x minimum):", "yes" if ok else "NO")
            print()
            print(f"{'plan':<12} {'reads':>6} {'seconds':>8} {'review':>8} {'markdown':>9}  IAM")
            print(review_row(server, manifest_dir, "no-op"))
            grant_s3_to_role0(manifest_dir)
            print(review_row(server, manifest_dir, "role change"))
            print()
            change_three(manifest_dir)
            rolled = rollout_rows(server, manifest_dir)
            print("one rollout per change:", "yes" if rolled else "NO")
            print()
            prefs = load_manifest(manifest_dir / "manifest.json").org.operation_preferences
            rates = Rates(org_calls_per_s=args.org_rate, stack_s=args.stack_seconds)
            walks = by_kind.get("ListRoots", 0)
            model = aws_time_report(
                org_calls(by_kind), walks, accounts, rates, prefs or OperationPreferences().to_api()
            )
            return 0 if ok and rolled and model["default_is_fastest_within_tolerance"] else 1
        finally:
            server.stop()


def lambda_main(args: argparse.Namespace) -> int:
    """--lambda: the continuation flow at one size or three; 0 when every pipeline run succeeded."""
    from lambda_runs import Size, measure, table

    if args.ous is not None and (args.ous < 2 or args.stacksets < 1):
        print("sync_bench: --ous must be at least 2 and --stacksets at least 1", file=sys.stderr)
        return 2
    sizes = [args.ous] if args.ous is not None else [125, 500, 2000]
    results = []
    for ous in sizes:
        accounts = args.accounts if args.accounts is not None else 10 * ous
        size = Size(ous, accounts, args.stacksets)
        result = measure(size, args.org_rate, args.org_latency, args.stack_seconds)
        results.append(result)
        if not args.json:
            print(table(result), flush=True)
            print()
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else {"sizes": results}, sort_keys=True))
    return 0 if all(r["completed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
