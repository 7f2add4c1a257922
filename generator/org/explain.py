"""`explain`: the effective roles at an OU, or the OUs a role reaches, and the file each value comes from."""

from __future__ import annotations

import difflib
from typing import Any

from generator.errors import GeneratorError
from generator.org.model import EffectiveRole, Org


def _closest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _role_entry(r: EffectiveRole, at: str) -> dict[str, Any]:
    return {
        "role": r.role,
        "attached_at": r.attached_at,
        "inherited": r.attached_at != at,
        "source": r.source,
        "exclude_accounts": list(r.exclude_accounts),
        "include_management_account": r.include_management_account,
        "parameters": {k: {"value": v.value, "origin": v.origin} for k, v in sorted(r.parameters.items())},
    }


def explain_ou(org: Org, path: str) -> dict[str, Any]:
    path = path.strip("/")
    if path not in org.ous:
        raise GeneratorError(f"no OU '{path}' in the organization{_closest(path, sorted(org.ous))}")
    ou = org.ous[path]
    return {
        "ou": path,
        "file": ou.file,
        "ou_id": ou.ou_id,
        "roles": [_role_entry(r, path) for r in org.effective_roles(path)],
    }


def explain_role(org: Org, name: str) -> dict[str, Any]:
    if name not in org.roles:
        raise GeneratorError(f"no role '{name}' in the catalog{_closest(name, sorted(org.roles))}")
    role = org.roles[name]
    return {
        "role": name,
        "file": role.file,
        "ous": [{"ou": path, **_role_entry(r, path)} for path, r in org.reach(name)],
    }


def _parameter_lines(entry: dict[str, Any], indent: str) -> list[str]:
    width = max((len(k) for k in entry["parameters"]), default=0)
    return [f"{indent}{k:<{width}} = {v['value']}  ({v['origin']})" for k, v in entry["parameters"].items()]


def format_ou(data: dict[str, Any]) -> str:
    lines = [f"{data['ou']}  ({data['file']})", f"{len(data['roles'])} effective role(s):"]
    for r in data["roles"]:
        where = f"inherited from {r['attached_at']}" if r["inherited"] else "attached here"
        lines.append(f"  {r['role']}: {where}, {r['source']}")
        if r["exclude_accounts"]:
            lines.append(f"      excluded accounts: {', '.join(r['exclude_accounts'])}")
        if r["include_management_account"]:
            lines.append("      also in the management account")
        lines += _parameter_lines(r, "      ")
    return "\n".join(lines) + "\n"


def format_role(data: dict[str, Any]) -> str:
    lines = [f"{data['role']}  ({data['file']})", f"reaches {len(data['ous'])} OU(s):"]
    for o in data["ous"]:
        where = f"inherited from {o['attached_at']}" if o["inherited"] else f"attached here, {o['source']}"
        lines.append(f"  {o['ou']}: {where}")
        if o["exclude_accounts"]:
            lines.append(f"      excluded accounts: {', '.join(o['exclude_accounts'])}")
        lines += _parameter_lines(o, "      ")
    return "\n".join(lines) + "\n"
