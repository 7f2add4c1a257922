"""`python -m generator list`: every blueprint with its description and the templates it renders."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pipeline.common.errors import EXIT_OK


def add_parser(sub: Any) -> None:
    lst = sub.add_parser(
        "list",
        help="list blueprints and the templates they render",
        description="Every blueprint with a one-line description and its templates.",
    )
    lst.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    lst.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from generator.blueprints import BLUEPRINTS

    if args.format == "json":
        data = [
            {"name": b.name, "description": b.description, "outputs": list(b.outputs), "source": b.source}
            for b in BLUEPRINTS
        ]
        print(json.dumps(data, indent=2))
        return EXIT_OK
    width = max(len(b.name) for b in BLUEPRINTS)
    for b in BLUEPRINTS:
        print(f"{b.name:<{width}}  {b.description}")
        for output in b.outputs:
            print(f"{'':<{width}}    templates/{output}")
    return EXIT_OK
