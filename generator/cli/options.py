"""What the generator's commands share: the repository root (found from the current folder as git finds
it, or --root), paths shown relative to it, blueprint selection, and one AWS client factory for the
commands that call AWS."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.common.cli import repository_root
from pipeline.common.errors import UsageError

if TYPE_CHECKING:  # the blueprints are imported when a command needs them, not to parse arguments
    from generator.blueprints.base import Blueprint, RenderContext


def root(args: argparse.Namespace) -> Path:
    return repository_root(args.root)


def org_dir(args: argparse.Namespace) -> Path:
    """--org relative to the repository root when it is inside it (git revisions and messages need that)."""
    org = Path(args.org).resolve()  # a default is against the root already (RootPath), a typed one the cwd
    base = root(args)
    return org.relative_to(base) if org.is_relative_to(base) else org


def shown(args: argparse.Namespace, where: Path) -> str:
    """A path for messages: relative to the repository root when inside it, else absolute."""
    base = root(args)
    return where.relative_to(base).as_posix() if where.is_relative_to(base) else str(where)


def context(args: argparse.Namespace) -> RenderContext:
    from generator.blueprints.base import RenderContext

    return RenderContext(root=root(args), org_dir=org_dir(args))


def selected(names: Sequence[str] | None) -> tuple[Blueprint, ...]:
    from generator.blueprints import BLUEPRINTS

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
