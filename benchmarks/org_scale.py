"""Benchmark: load, validate and render an organization of 2,000 OUs (depth 5) with 100 roles.

Run: .venv/bin/python benchmarks/org_scale.py [--ous 2000] [--roles 100]
Prints seconds per phase and peak memory (tracemalloc) of load + render.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import tracemalloc
from pathlib import Path

from generator.blueprints import org_roles
from generator.blueprints.base import RenderContext
from generator.org.loader import load_org
from generator.render import render_all

ACTIONS = ["s3:GetObject", "s3:PutObject", "sqs:SendMessage", "logs:GetLogEvents", "ecs:UpdateService"]


def generate(root: Path, ous: int, roles: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    org = root / "org_roles"
    (org / "roles").mkdir(parents=True)
    (org / "org.yaml").write_text(
        'management_account_id: "111111111111"\nlogin_account_id: "222222222222"\nhome_region: us-east-1\n'
    )
    for i in range(roles):
        actions = ", ".join(rng.sample(ACTIONS, 3))
        (org / "roles" / f"Role{i:03d}.yaml").write_text(
            f"description: generated role {i}\ntrust:\n  login_account: {{}}\n"
            f"statements:\n  - actions: [{actions}]\n    resources: ['arn:aws:s3:::${{Bucket}}/*']\n"
            "parameters:\n  Bucket:\n    type: String\n    default: data\n"
        )
    paths = ["Root"]
    frontier = ["Root"]
    while len(paths) < ous:
        parent = frontier.pop(0)
        if parent.count("/") >= 5:
            continue
        for _ in range(6):
            if len(paths) >= ous:
                break
            child = f"{parent}/OU{len(paths):04d}"
            paths.append(child)
            frontier.append(child)
    attachments: dict[str, list[str]] = {p: [] for p in paths}
    overrides: dict[str, list[str]] = {p: [] for p in paths}
    for i in range(roles):
        at = rng.choice(paths[1:200])
        attachments[at].append(f"Role{i:03d}")
        below = [p for p in paths if p.startswith(at + "/")]
        for p in rng.sample(below, min(3, len(below))):
            overrides[p].append(f"Role{i:03d}")
    for p in paths:
        folder = org / p
        folder.mkdir(parents=True, exist_ok=True)
        text = ""
        if attachments[p]:
            text += "roles:\n" + "".join(f"  - role: {r}\n" for r in attachments[p])
        if overrides[p]:
            text += "parameters:\n" + "".join(f"  {r}:\n    Bucket: b-{p.count('/')}\n" for r in overrides[p])
        (folder / "ou.yaml").write_text(text)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ous", type=int, default=2000)
    parser.add_argument("--roles", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        paths = generate(root, args.ous, args.roles)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        org = load_org(root / "org_roles")
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        rendered = render_all(RenderContext(root=root), [org_roles.BLUEPRINT])
        t_render = time.perf_counter() - t0
        # Memory in a second pass: tracemalloc slows Python down several times, so it is not timed.
        tracemalloc.start()
        render_all(RenderContext(root=root), [org_roles.BLUEPRINT])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    depth = max(p.count("/") for p in paths)
    size = sum(len(v) for v in rendered.values())
    print(
        f"organization: {len(org.ous)} OUs (max depth {depth}), {len(org.roles)} roles, {len(org.attachments())} attachments"
    )
    print(f"generate files:            {t_gen:7.2f} s")
    print(f"load + validate:           {t_load:7.2f} s")
    print(f"render (load + templates):  {t_render:7.2f} s  ({len(rendered)} files, {size / 1e6:.1f} MB)")
    print(f"peak traced memory:        {peak / 2**20:7.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
