"""Run cfn-lint once over many templates with the project's rules appended, and format the findings."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from generator import __version__

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


def lint_templates(paths: Sequence[Path], root: Path | None = None) -> list[Finding]:
    """Every finding for `paths`, sorted by file, line, column and rule; file names relative to root."""
    # Imported here: cfn-lint takes about a second to import, and `render` does not need it.
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    if not paths:
        return []
    config = ConfigMixIn(
        ["--append-rules", str(RULES_DIR)],
        templates=[str(p) for p in sorted(paths)],
        include_checks=list(INCLUDED_CHECKS),
        ignore_checks=sorted(IGNORED_CHECKS),
        regions=list(LINT_REGIONS),
    )
    findings = []
    for match in Runner(config).run():
        filename = Path(match.filename) if match.filename else Path()
        if root is not None and filename.is_absolute() and filename.is_relative_to(root):
            filename = filename.relative_to(root)
        rule = match.rule
        findings.append(
            Finding(
                file=filename.as_posix(),
                line=int(match.linenumber or 0),
                column=int(match.columnnumber or 0),
                rule=rule.id,
                severity=SEVERITY_BY_PREFIX.get(rule.id[:1], "unknown"),
                message=str(match.message),
                description=str(getattr(rule, "shortdesc", "")),
                source_url=str(getattr(rule, "source_url", "")),
            )
        )
    return sorted(set(findings))


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
