"""Resource attributes the blueprints share: checkov skip metadata and the Condition of optional resources."""

from __future__ import annotations

from typing import Any


def checkov_skips(*checks: tuple[str, str]) -> dict[str, Any]:
    """Resource Metadata that skips checkov checks, each (id, reason); the reason says why it does not apply."""
    for check_id, reason in checks:
        if not check_id.startswith("CKV") or len(reason) < 20:
            raise ValueError(
                f"checkov skip {check_id!r} needs a CKV id and a reason of at least 20 characters"
            )
    return {"checkov": {"skip": [{"id": check_id, "comment": reason} for check_id, reason in checks]}}


def created_if(condition: str | None) -> dict[str, Any]:
    """The Condition attribute of a resource that exists only under `condition`; none when it is None."""
    return {"Condition": condition} if condition else {}
