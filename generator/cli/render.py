"""`python -m generator render`: every blueprint, deterministically, into the output folder (or --check it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from generator.cli.options import context, selected, shown
from pipeline.common.cli import RootPath
from pipeline.common.errors import EXIT_FAILED, EXIT_OK


def add_parser(sub: Any) -> None:
    render = sub.add_parser(
        "render",
        help="render every blueprint to templates/",
        description=(
            "Render every blueprint deterministically into the output folder. Nothing is written unless "
            "everything renders; the folder is replaced as a whole, atomically (an interruption leaves the "
            "old tree or the new one), one render at a time. Files in the folder that render did not write "
            "(not in its index.json) are refused, never deleted."
        ),
    )
    render.add_argument(
        "--out", metavar="DIR", default=RootPath("templates"), help="output folder (default: templates)"
    )
    render.add_argument(
        "--org", metavar="DIR", default=RootPath("org_roles"), help="organization folder (default: org_roles)"
    )
    render.add_argument(
        "--only",
        action="append",
        metavar="BLUEPRINT",
        help="render only this blueprint (repeatable): its files and the index are updated, the other "
        "blueprints' files stay as they are",
    )
    render.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 listing stale, missing and extra files"
    )
    render.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from generator.render import INDEX_FILE, check, keep_others, render_all, write_atomically

    rendered = render_all(context(args), selected(args.only))
    folder = Path(args.out).resolve()
    name = shown(args, folder)
    if args.check:
        if args.only:
            rendered = keep_others(folder, rendered, args.only)
        result = check(folder, rendered)
        if result.clean:
            print(f"{name}: {len(rendered)} files up to date")
            return EXIT_OK
        for label, paths in (("stale", result.stale), ("missing", result.missing), ("extra", result.extra)):
            for path in paths:
                print(f"{label}: {name}/{path}")
        print(f"{name} is out of date: run `python -m generator render`", file=sys.stderr)
        return EXIT_FAILED
    write_atomically(folder, rendered, only=args.only)
    if args.only:
        print(f"rendered {len(rendered) - 1} file(s) of {', '.join(args.only)} and {INDEX_FILE} to {name}")
    else:
        print(f"rendered {len(rendered)} files to {name}")
    return EXIT_OK
