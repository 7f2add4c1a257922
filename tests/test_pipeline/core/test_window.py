"""What the plan says about the window between an account joining a target OU and the next sync."""

from __future__ import annotations

import dataclasses

from pipeline.cli.files import load_manifest
from pipeline.core.desired import window_notes
from pipeline.core.manifest import Override
from tests.support.paths import ROOT

SAMPLE = load_manifest(ROOT / "templates" / "org" / "manifest.json")


def test_the_plan_names_the_values_that_apply_in_the_window() -> None:
    assert window_notes(SAMPLE.stackset("org-roles-Developer")) == (
        "between syncs, accounts that join a target OU get the StackSet-level values AllowedRegion=us-east-1, "
        "AppBucketPrefix=app, MaxSessionDuration=3600 (AutoDeployment ignores per-OU values) until the next "
        "sync sets the per-OU ones (AllowedRegion at Root/Workloads/Prod/Payments; AppBucketPrefix at "
        "Root/Sandbox, Root/Workloads/Prod/Payments; MaxSessionDuration at Root/Sandbox, Root/Workloads, "
        "Root/Workloads/Dev)",
    )
    assert window_notes(SAMPLE.stackset("org-roles-ReadOnly")) == ()


def test_a_window_broader_than_an_ou_is_called_out() -> None:
    spec = SAMPLE.stackset("org-roles-Developer")
    broad = dataclasses.replace(
        spec,
        parameters={**spec.parameters, "MaxSessionDuration": "28800"},
        parameter_overrides=(Override("Root/Workloads/Prod", {"MaxSessionDuration": "3600"}),),
    )
    assert window_notes(broad)[1] == (
        "window broader than the OU: StackSet-level MaxSessionDuration 28800 is longer than at "
        "Root/Workloads/Prod (3600); render the manifest with the generator, which takes the shortest"
    )
