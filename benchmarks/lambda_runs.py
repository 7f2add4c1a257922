"""The sync Lambda run as CodePipeline runs it, on simulated time: an organization of --ous OUs and --accounts
accounts, --stacksets role StackSets, Organizations throttled to --org-rate calls per second.

Each pipeline run is the org pipeline's two sync actions (generator/blueprints/org_pipeline.py): the Plan
action (mode plan, re-invoked with its continuation token until its walk is done; its ORG_WALK output variable
goes to the Sync action) and, after the approval, the Sync action, re-invoked with the continuation token
for as long as the job answers PutJobSuccessResult with one (CodePipeline: "Future jobs use this token",
API_PutJobSuccessResult). Three runs: the first sync (every StackSet created), then a change of three
StackSets (a template, a per-OU value, a new target), which must cost one rollout for the template change and
none for the others, then a no-op (nothing changed in git or in the organization), which the stored walk
answers without any Organizations call.

Time is the emulator's simulated clock (pipeline.emulator.throttle), kept per thread so that the walk's
workers and the StackSets' lanes wait side by side as they would on AWS: requests take --org-latency
seconds, StackSet operations take --stack-seconds per stack in waves their operation preferences allow, and
every sleep in this process (botocore's retry backoff, the job's poll interval) advances the sleeper's time
instead of waiting. The Lambda context's remaining time reads that clock, so an invocation's duration is
simulated. An invocation longer than the timeout is let run (Lambda would stop it) to show what it needs.

What is measured comes from outside the job, so it stays true whatever pipeline/job.py does: Organizations
calls as the server answered them (throttled ones apart), a walk per ListRoots, invocations and their
simulated durations, the longest continuation token, UpdateStackSet calls per changed StackSet.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from moto.core.base_backend import BackendDict

from pipeline.aws.clients import Clients, make_clients
from pipeline.aws.retry import Backoff, PollPolicy
from pipeline.aws.tokens import KmsSigner
from pipeline.emulator import seed as seeding
from pipeline.emulator.server import FidelityServer, MotoOrgView
from pipeline.emulator.stacksets import StackSetService
from pipeline.emulator.throttle import SimClock, Simulation, follow_threads
from pipeline.job import Deps, handle

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.support: the job events and artifact the Lambda tests use

from sync_bench import stackset_entry  # noqa: E402
from sync_bench import write_manifest as manifest_with  # noqa: E402  (benchmarks/, the script's folder)

from tests.support import lambda_job  # noqa: E402

TEMPLATE = ROOT / "tests" / "fixtures" / "sync" / "templates" / "org" / "roles" / "Developer.yaml"
PIPELINE_TEMPLATE = ROOT / "templates" / "org" / "pipeline.yaml"
MGMT = "111111111111"
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
MAX_INVOCATIONS = 5000
TOPS_PER_OUS = 50  # one top-level OU per 50 OUs, the rest below them


@dataclass(frozen=True)
class Size:
    ous: int
    accounts: int
    stacksets: int


@dataclass(frozen=True)
class World:
    """The simulated AWS of one size: clock and limits, the moto server with the fidelity layer."""

    sim: Simulation
    server: FidelityServer
    manifest_dir: Path


def lambda_timeout() -> int:
    """The sync Lambda's Timeout in the rendered org pipeline template (seconds)."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda _l, _s, _n: None)
    doc = yaml.load(PIPELINE_TEMPLATE.read_text(), Loader=Loader)
    return int(doc["Resources"]["SyncFunction"]["Properties"]["Timeout"])


def org_paths(ous: int) -> list[str]:
    """`ous` OU paths: one top OU per 50 (at least 2), the others spread below them, in creation order."""
    tops = max(2, ous // TOPS_PER_OUS)
    paths = [f"Root/Unit{i:03d}" for i in range(tops)]
    paths += [f"Root/Unit{j % tops:03d}/Team{j // tops:03d}" for j in range(ous - tops)]
    return sorted(paths, key=lambda p: (p.count("/"), p))


def write_manifest(tmp: Path, paths: list[str], targets: list[list[str]]) -> None:
    """manifest.json and one template per StackSet under tmp/templates; StackSet r targets targets[r]."""
    (tmp / "templates" / "org" / "roles").mkdir(parents=True, exist_ok=True)
    stacksets = []
    for r, where in enumerate(targets):
        body = TEMPLATE.read_text().replace("Developer", f"Role{r}")
        (tmp / "templates" / "org" / "roles" / f"Role{r}.yaml").write_text(body)
        stacksets.append(stackset_entry(r, body, where))
    manifest_with(tmp, paths, stacksets)


def layout_for(paths: list[str], accounts: int) -> seeding.OrgLayout:
    """The organization: the OUs, the management account at the root, `accounts` members round robin."""
    layout = seeding.OrgLayout(MGMT)
    for p in paths:
        layout.add_ou(p)
    layout.accounts.append(seeding.SeedAccount(MGMT, "management", "Root"))
    for n in range(accounts):
        number = 100000000000 + n
        layout.accounts.append(seeding.SeedAccount(f"{number:012d}", f"a{number}", paths[n % len(paths)]))
    return layout


def build(tmp: Path, size: Size) -> seeding.OrgLayout:
    """StackSet 0 at the root, the others at one top OU each (round robin)."""
    paths = org_paths(size.ous)
    tops = [p for p in paths if p.count("/") == 1]
    targets = [["Root"]] + [[tops[(r - 1) % len(tops)]] for r in range(1, size.stacksets)]
    write_manifest(tmp, paths, targets)
    return layout_for(paths, size.accounts)


def change_three(manifest_dir: Path) -> list[str]:
    """Role0's template changes, Role1 gains a per-OU value, Role2 a target; their StackSet names."""
    manifest = json.loads((manifest_dir / "manifest.json").read_text())
    template = manifest_dir / "templates" / manifest["stacksets"][0]["template"]
    template.write_text(template.read_text().replace("Role0", "Role0 (changed)", 1))
    manifest["stacksets"][0]["template_sha256"] = hashlib.sha256(template.read_bytes()).hexdigest()
    second = manifest["stacksets"][1 % len(manifest["stacksets"])]
    second["parameter_overrides"].append(
        {
            "ou_path": second["targets"][0]["ou_path"],
            "ou_id": None,
            "parameters": {"MaxSessionDuration": "7200"},
            "source": "",
        }
    )
    third = manifest["stacksets"][2 % len(manifest["stacksets"])]
    held = [t["ou_path"] for t in third["targets"]]
    spare = next(
        o["path"]
        for o in manifest["ous"]
        if o["path"] != "Root" and not any(o["path"] == h or o["path"].startswith(h + "/") for h in held)
    )
    third["targets"].append({"ou_path": spare, "ou_id": None, "excluded_accounts": [], "source": ""})
    (manifest_dir / "manifest.json").write_text(json.dumps(manifest))
    return sorted({s["name"] for s in manifest["stacksets"][:3]})


@dataclass
class Recorder:
    """CodePipeline's job API as the Lambda sees it (moto has none): the results it reported."""

    results: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def put_job_success_result(self, **kwargs: Any) -> None:
        self.results.append(("success", kwargs))

    def put_job_failure_result(self, **kwargs: Any) -> None:
        self.results.append(("failure", kwargs))


class Context:
    """The Lambda context: remaining time on the simulated clock, from the invocation's start."""

    def __init__(self, clock: SimClock, timeout: float) -> None:
        self.clock, self.deadline = clock, clock.now() + timeout
        self.aws_request_id = f"req-{clock.now():.3f}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self.clock.now()) * 1000))


@dataclass
class RunFigures:
    """One pipeline run (Plan, then Sync until done), as seen from outside the job."""

    outcome: str = ""
    invocations: int = 0
    durations: list[float] = field(default_factory=list)
    token_chars: list[int] = field(default_factory=list)
    org_calls: int = 0
    org_throttled: int = 0
    walks: int = 0
    simulated_s: float = 0.0
    updates: dict[str, int] = field(default_factory=dict)

    def to_dict(self, timeout: float) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "invocations": self.invocations,
            "walks": self.walks,
            "longest_invocation_s": round(max(self.durations, default=0.0), 1),
            "invocations_over_timeout": sum(1 for d in self.durations if d > timeout),
            "token_chars_max": max(self.token_chars, default=0),
            "org_calls": self.org_calls,
            "org_throttled": self.org_throttled,
            "simulated_s": round(self.simulated_s, 1),
        }


def start_world(tmp: Path, size: Size, sim: Simulation) -> World:
    BackendDict.reset()
    seeding.seed(build(tmp, size))
    service = StackSetService(MotoOrgView(MGMT), running_ticks=1)
    server = FidelityServer(service, MGMT, simulation=sim)
    server.start()
    return World(sim, server, tmp)


def clients(world: World, region: str = "us-east-1") -> Clients:
    """Clients of the emulator whose every request carries its caller's simulated time."""
    made = make_clients(region, endpoint_url=world.server.url, credentials=CREDS)
    world.sim.attach(made.session.events)
    return made


def lambda_deps(world: World, codepipeline: Recorder, kms_key: str) -> Deps:
    """The Lambda's Deps as Deps.from_environment builds them in AWS (default retries and poll policy,
    SYNC_STEP_SECONDS unset), against the emulator, every sleep and clock on simulated time."""
    clock = world.sim.clock
    local = clients(world)
    return Deps(
        env=dict(lambda_job.GUARDRAIL_ENV),
        codepipeline=codepipeline,
        sns=local.client("sns"),
        sync_clients=lambda region: clients(world, region),
        s3=lambda _creds: local.client("s3"),
        poll=PollPolicy(sleep=clock.sleep),
        backoff=Backoff(sleep=clock.sleep),
        clock=clock.now,
        sleep=clock.sleep,
        signer=KmsSigner(local.client("kms"), kms_key),
    )


def invoke(world: World, deps: Deps, event: dict[str, Any], timeout: float, figures: RunFigures) -> None:
    clock = world.sim.clock
    started = clock.now()
    handle(event, Context(clock, timeout), deps)
    figures.invocations += 1
    figures.durations.append(clock.now() - started)


def plan_action(
    world: World, deps: Deps, recorder: Recorder, execution: str, timeout: float, figures: RunFigures
) -> str:
    """The Plan action with its continuations, as CodePipeline runs it; its ORG_WALK output variable,
    which the pipeline hands to the Sync action (`#{PlanVariables.ORG_WALK}` in its UserParameters)."""
    token: str | None = None
    while figures.invocations < MAX_INVOCATIONS:
        job = lambda_job.job(
            token, job_id=f"{execution}-plan-{figures.invocations}", mode="plan", execution=execution
        )
        invoke(world, deps, job, timeout, figures)
        kind, result = recorder.results[-1]
        token = result.get("continuationToken") if kind == "success" else None
        if not token:
            break
        figures.token_chars.append(len(token))
    return str(recorder.results[-1][1].get("outputVariables", {}).get("ORG_WALK", "cached"))


def pipeline_run(world: World, execution: str, timeout: float, kms_key: str) -> RunFigures:
    """The Plan action, then the Sync action with its continuations, on the artifact of manifest_dir."""
    figures = RunFigures()
    sim, service = world.sim, world.server.service
    org_before, throttled_before = sum(sim.org_calls.values()), sum(sim.org_throttled.values())
    roots_before, calls_before, t0 = sim.org_calls["ListRoots"], len(service.calls), sim.clock.now()
    data = lambda_job.artifact(world.manifest_dir)
    clients(world).client("s3").put_object(Bucket=lambda_job.BUCKET, Key=lambda_job.KEY, Body=data)
    recorder = Recorder()
    deps = lambda_deps(world, recorder, kms_key)
    org_walk = plan_action(world, deps, recorder, execution, timeout, figures)
    kind, result = recorder.results[-1]
    token: str | None = None
    while kind == "success" and figures.invocations < MAX_INVOCATIONS:
        job = lambda_job.job(
            token, approve=data, job_id=f"{execution}-sync-{figures.invocations}", org_walk=org_walk
        )
        invoke(world, deps, job, timeout, figures)
        kind, result = recorder.results[-1]
        token = result.get("continuationToken")
        if not token:
            break
        figures.token_chars.append(len(token))
    figures.outcome = kind if not token else "unfinished"
    figures.org_calls = sum(sim.org_calls.values()) - org_before
    figures.org_throttled = sum(sim.org_throttled.values()) - throttled_before
    figures.walks = sim.org_calls["ListRoots"] - roots_before
    figures.simulated_s = sim.clock.now() - t0
    figures.updates = dict(Counter(n for a, n in service.calls[calls_before:] if a == "UpdateStackSet"))
    return figures


def measure(size: Size, org_rate: float, org_latency: float, stack_seconds: float) -> dict[str, Any]:
    """Both pipeline runs at one size: the figures of each, and the worst of the two at the top."""
    timeout = lambda_timeout()
    began = time.perf_counter()
    sim = Simulation(SimClock(), org_rate, org_latency, org_latency, stack_seconds)
    with tempfile.TemporaryDirectory() as tmp, follow_threads(sim.clock):
        sim.clock.set(0.0)
        world = start_world(Path(tmp), size, sim)
        try:
            local = clients(world)
            local.client("s3").create_bucket(Bucket=lambda_job.BUCKET)
            kms_key = lambda_job.token_key(local.client("kms"))
            first = pipeline_run(world, "first", timeout, kms_key)
            changed = change_three(world.manifest_dir)
            change = pipeline_run(world, "change", timeout, kms_key)
            noop = pipeline_run(world, "noop", timeout, kms_key)
        finally:
            world.server.stop()
    runs = {"first": first.to_dict(timeout), "change": change.to_dict(timeout), "noop": noop.to_dict(timeout)}
    both = list(runs.values())
    return {
        "ous": size.ous,
        "accounts": size.accounts,
        "stacksets": size.stacksets,
        "org_rate": org_rate,
        "timeout_s": timeout,
        "completed": all(r["outcome"] == "success" for r in both),
        "pipeline_runs": len(both),
        "walks": sum(r["walks"] for r in both),
        "walks_per_run_max": max(r["walks"] for r in both),
        "invocations": sum(r["invocations"] for r in both),
        "longest_invocation_s": max(r["longest_invocation_s"] for r in both),
        "invocations_over_timeout": sum(r["invocations_over_timeout"] for r in both),
        "token_chars_max": max(r["token_chars_max"] for r in both),
        "org_calls": sum(r["org_calls"] for r in both),
        "org_throttled": sum(r["org_throttled"] for r in both),
        "rollouts_per_changed_stackset": {n: change.updates.get(n, 0) for n in changed},
        "runs": runs,
        "wall_s": round(time.perf_counter() - began, 1),  # real seconds this size took here
    }


COLUMNS = (
    ("run", "{:<8}"),
    ("outcome", "{:<10}"),
    ("walks", "{:>5}"),
    ("invocations", "{:>11}"),
    ("longest_invocation_s", "{:>10}"),
    ("invocations_over_timeout", "{:>12}"),
    ("token_chars_max", "{:>11}"),
    ("org_calls", "{:>9}"),
    ("org_throttled", "{:>9}"),
    ("simulated_s", "{:>9}"),
)
HEADINGS = (
    "run",
    "outcome",
    "walks",
    "invocations",
    "longest s",
    "over timeout",
    "token max",
    "org calls",
    "throttled",
    "sim s",
)


def table(result: dict[str, Any]) -> str:
    """One size's figures, a row per pipeline run."""
    lines = [
        f"{result['ous']} OUs, {result['accounts']} accounts, {result['stacksets']} StackSets, Organizations at "
        f"{result['org_rate']:g} calls/s, Lambda timeout {result['timeout_s']} s",
        " ".join(fmt.format(h) for (_k, fmt), h in zip(COLUMNS, HEADINGS, strict=True)),
    ]
    for name, run in result["runs"].items():
        row = {"run": name, **run}
        lines.append(" ".join(fmt.format(row[k]) for k, fmt in COLUMNS))
    rollouts = ", ".join(f"{n} {c}" for n, c in result["rollouts_per_changed_stackset"].items())
    lines.append(f"rollouts (UpdateStackSet) per changed StackSet: {rollouts}")
    return "\n".join(lines)
