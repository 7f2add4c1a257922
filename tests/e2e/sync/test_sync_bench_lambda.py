"""benchmarks/sync_bench.py --lambda at a small size: the JSON it prints has the figures issue 16 asks for,
and they agree with each other (counts only: timings are the benchmark's to report, not a test's)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.paths import ROOT

KEYS = {
    "walks",
    "invocations",
    "longest_invocation_s",
    "timeout_s",
    "token_chars_max",
    "org_calls",
    "rollouts_per_changed_stackset",
}


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "benchmarks/sync_bench.py", "--lambda", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_lambda_benchmark_prints_consistent_figures() -> None:
    done = _bench("--ous", "12", "--accounts", "48", "--stacksets", "4", "--org-rate", "5", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) >= KEYS
    runs = result["runs"]
    assert set(runs) == {"first", "change", "noop"} and all(r["outcome"] == "success" for r in runs.values())
    # Nothing changed since the change run's walk: the stored walk answers, no Organizations call at all.
    noop = runs["noop"]
    assert noop["walks"] == 0 and noop["org_calls"] == 0
    assert result["completed"] is True
    assert result["pipeline_runs"] == 3 and result["walks_per_run_max"] == 1
    for key in ("walks", "invocations", "org_calls", "org_throttled"):
        assert result[key] == sum(r[key] for r in runs.values())
    assert result["longest_invocation_s"] == max(r["longest_invocation_s"] for r in runs.values())
    for run in (runs["first"], runs["change"]):
        # Each run walks the organization once (the Plan action; the Sync action takes its ORG_WALK) and
        # runs a Plan job and at least one Sync job.
        assert run["walks"] == 1 and run["invocations"] >= 2
        # A walk reads DescribeOrganization, ListRoots and per unit (12 OUs and the root) two lists.
        assert run["org_calls"] >= run["walks"] * (2 + 2 * 13)
        assert run["longest_invocation_s"] <= run["simulated_s"]
    assert result["timeout_s"] == 300  # the sync function's Timeout in templates/org/pipeline.yaml
    assert 0 < result["token_chars_max"] <= 2048  # CodePipeline's continuation token limit
    assert result["rollouts_per_changed_stackset"] == {
        "org-roles-Role0": 1,  # a template change: one rollout
        "org-roles-Role1": 1,  # a per-OU value: the override, then the hash tag on one instance
        "org-roles-Role2": 0,  # a new target: instances for it, no rollout of the others
    }


def test_the_lambda_benchmark_refuses_a_size_it_cannot_build() -> None:
    done = _bench("--ous", "1", "--json")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "sync_bench: --ous must be at least 2 and --stacksets at least 1\n"
