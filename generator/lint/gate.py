"""Run cfn-lint once over many templates with the project's rules appended, and format the findings."""

from __future__ import annotations

import contextlib
import gc
import json
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from generator import __version__
from generator.lint.cache import CACHE_FOLDER, LintCache, RawFinding, salt
from pipeline.common.progress import Progress

RULES_DIR = Path(__file__).parent / "rules"

# Checks switched off, each with its reason. Both are experimental cfn-lint rules about an optional
# "Context" Metadata block (an authoring convention for documenting architecture intent); experimental
# rules are not enabled here anyway, the entries keep the decision explicit should that change.
IGNORED_CHECKS: dict[str, str] = {
    "I4010": "experimental: asks every resource for a Metadata Context block; a convention we do not use",
    "W4011": "experimental: asks that Context block for a 'why'; same convention",
}
# Include informational checks (I...) as well as errors and warnings.
INCLUDED_CHECKS = ("I",)
# IAM is global and the blueprints use no regional-only resource types beyond us-east-1's set.
LINT_REGIONS = ("us-east-1",)

SEVERITY_BY_PREFIX = {"E": "error", "W": "warning", "I": "informational"}


def cache_settings() -> str:
    """The gate's settings that decide findings, for the cache key."""
    return json.dumps([INCLUDED_CHECKS, sorted(IGNORED_CHECKS), LINT_REGIONS])


def repository_cache(root: Path) -> LintCache:
    """The lint cache of the repository at `root` (in its ignored .cache folder)."""
    return LintCache(root / CACHE_FOLDER, salt(RULES_DIR, cache_settings()))


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    column: int
    rule: str
    severity: str
    message: str
    description: str = ""
    source_url: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.rule} [{self.severity}] {self.message}"


def lint_templates(
    paths: Sequence[Path],
    root: Path | None = None,
    *,
    cache: LintCache | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> list[Finding]:
    """Every finding for `paths`, sorted by file, line, column and rule; file names relative to root.

    The same findings as one cfn-lint process over all of `paths` with the gate's settings: cfn-lint checks
    each template on its own, so the templates a `cache` does not already know are split across `jobs`
    worker processes (default: one per available core), forked after cfn-lint's rules are loaded once.
    """
    raw: dict[Path, list[RawFinding]] = {}
    keys: dict[Path, str] = {}
    for path in paths:
        if cache is not None:
            keys[path] = cache.key(path.read_bytes())
            hit = cache.get(keys[path])
            if hit is not None:
                raw[path] = hit
    if progress is not None:
        progress.advance(len(raw), "cached" if raw else "")
    misses = [p for p in paths if p not in raw]
    for path, (findings, cacheable) in _lint_uncached(misses, jobs, progress).items():
        raw[path] = findings
        if cache is not None and cacheable:
            cache.put(keys[path], findings)
    if cache is not None and misses:
        cache.prune()
    return sorted({_finding(path, item, root) for path, items in raw.items() for item in items})


def _finding(path: Path, raw: RawFinding, root: Path | None) -> Finding:
    line, column, rule, message, description, source_url = raw
    if root is not None and path.is_absolute() and path.is_relative_to(root):
        path = path.relative_to(root)
    return Finding(
        file=path.as_posix(),
        line=line,
        column=column,
        rule=rule,
        severity=SEVERITY_BY_PREFIX.get(rule[:1], "unknown"),
        message=message,
        description=description,
        source_url=source_url,
    )


def _lint_uncached(
    paths: Sequence[Path], jobs: int | None, progress: Progress | None
) -> dict[Path, tuple[list[RawFinding], bool]]:
    """{path: (raw findings, whether they may be cached)}, from cfn-lint, in parallel where it pays."""
    if not paths:
        return {}
    enabled = gc.isenabled()
    gc.disable()  # see _lint_one; cfn-lint's import and rule loading gain as much
    try:
        return _lint_in_workers(paths, jobs, progress)
    finally:
        if enabled:
            gc.enable()


def _lint_in_workers(
    paths: Sequence[Path], jobs: int | None, progress: Progress | None
) -> dict[Path, tuple[list[RawFinding], bool]]:
    # Imported here: cfn-lint takes about a second to import, and neither `render` nor a warm cache needs it.
    from cfnlint.runner import Runner

    from generator.lint import speedups

    runner = Runner(_config([]))  # the rules, loaded once; forked workers inherit them
    speedups.install(runner.rules)
    _WORKER["runner"] = runner
    # Everything allocated so far (cfn-lint's modules, rules and schemas) into the collector's permanent
    # generation, as Python's gc documentation advises before fork: the workers share those pages untouched,
    # and the first collection once the collector is on again does not walk them all (0.07 s). They go back to
    # the oldest generation when done, to be collected as usual. A freeze already in place is its maker's to
    # undo and covers these too.
    froze = not gc.get_freeze_count()
    if froze:
        gc.freeze()
    order = sorted(paths, key=lambda p: (-p.stat().st_size, p))  # largest first balances the workers
    jobs = min(len(order), jobs if jobs is not None else available_cores())
    results: dict[Path, tuple[list[RawFinding], bool]] = {}
    context = _fork_context() if jobs > 1 else None
    names = [str(p) for p in order]
    try:
        with contextlib.ExitStack() as stack:
            outcomes: Iterator[tuple[str, list[RawFinding], bool]] = (
                map(_lint_one, names)
                if context is None
                else stack.enter_context(context.Pool(jobs)).imap_unordered(_lint_one, names)
            )
            for name, findings, cacheable in outcomes:
                results[Path(name)] = (findings, cacheable)
                if progress is not None:
                    progress.advance()
    finally:
        _WORKER.clear()
        if froze:
            gc.unfreeze()
    return {p: results[p] for p in paths}


# The Runner a forked worker inherits from the process that loaded the rules.
_WORKER: dict[str, Any] = {}


def _config(templates: list[str]) -> Any:
    from cfnlint.config import ConfigMixIn

    return ConfigMixIn(
        ["--append-rules", str(RULES_DIR)],
        templates=templates,
        include_checks=list(INCLUDED_CHECKS),
        ignore_checks=sorted(IGNORED_CHECKS),
        regions=list(LINT_REGIONS),
    )


def _lint_one(name: str) -> tuple[str, list[RawFinding], bool]:
    """One template through the loaded rules, as cfn-lint's own runner does it for each file it is given."""
    runner = _WORKER["runner"]
    runner.config = _config([name])
    # cfn-lint allocates many short-lived objects and few cycles; the collector's passes over them cost a
    # fifth of the time, so it is off while cfn-lint runs (a worker inherits that) and on again after.
    gc.disable()
    matches = list(runner.run())
    findings = [
        (
            int(m.linenumber or 0),
            int(m.columnnumber or 0),
            str(m.rule.id),
            str(m.message),
            str(getattr(m.rule, "shortdesc", "")),
            str(getattr(m.rule, "source_url", "")),
        )
        for m in matches
    ]
    # Findings are cached without their file name: only when they name no file but this one.
    cacheable = all(m.filename == name and name not in str(m.message) for m in matches)
    return name, findings, cacheable


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _fork_context() -> Any:
    """Forked workers share the loaded rules; where fork is missing, lint in this process."""
    try:
        return multiprocessing.get_context("fork")
    except ValueError:
        return None


def format_text(findings: Sequence[Finding], checked: int) -> str:
    lines = [str(f) for f in findings]
    noun = "template" if checked == 1 else "templates"
    lines.append(f"{len(findings)} finding(s) in {checked} {noun}")
    return "\n".join(lines) + "\n"


def format_json(findings: Sequence[Finding], checked: int) -> str:
    payload = {"templates_checked": checked, "findings": [asdict(f) for f in findings]}
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"


_SARIF_LEVEL = {"error": "error", "warning": "warning", "informational": "note"}


def format_sarif(findings: Sequence[Finding], checked: int) -> str:
    """SARIF 2.1.0, as GitHub code scanning reads it."""
    rules: dict[str, dict[str, object]] = {}
    for f in findings:
        rules.setdefault(
            f.rule,
            {
                "id": f.rule,
                "shortDescription": {"text": f.description or f.rule},
                **({"helpUri": f.source_url} if f.source_url else {}),
            },
        )
    results = [
        {
            "ruleId": f.rule,
            "level": _SARIF_LEVEL.get(f.severity, "warning"),
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.file},
                        "region": {"startLine": max(f.line, 1), "startColumn": max(f.column, 1)},
                    }
                }
            ],
        }
        for f in findings
    ]
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "org-stacksets lint",
                        "version": __version__,
                        "rules": [rules[k] for k in sorted(rules)],
                    }
                },
                "results": results,
                "properties": {"templatesChecked": checked},
            }
        ],
    }
    return json.dumps(sarif, indent=2, sort_keys=True) + "\n"


FORMATTERS = {"text": format_text, "json": format_json, "sarif": format_sarif}
