"""What the generator's commands share: the repository root, the output folder, blueprint selection,
and one AWS client factory for the commands that call AWS."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from generator.blueprints import BLUEPRINTS
from generator.blueprints.base import Blueprint, RenderContext
from pipeline.common.errors import UsageError


def context(args: argparse.Namespace) -> RenderContext:
    root = Path(args.root).resolve()
    return RenderContext(root=root, org_dir=Path(args.org))


def out_dir(args: argparse.Namespace) -> Path:
    out = Path(args.out)
    return out if out.is_absolute() else Path(args.root).resolve() / out


def selected(names: Sequence[str] | None) -> tuple[Blueprint, ...]:
    if not names:
        return BLUEPRINTS
    known = {b.name: b for b in BLUEPRINTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"unknown blueprint '{unknown[0]}' (see `python -m generator list`)")
    return tuple(b for b in BLUEPRINTS if b.name in names)


def aws_client(args: argparse.Namespace, service: str) -> Any:
    """A client from the product's one factory, with --profile, --region and --endpoint-url."""
    from pipeline.aws.clients import make_clients

    clients = make_clients(
        args.region, component="generator", profile=args.profile, endpoint_url=args.endpoint_url
    )
    return clients.client(service)
