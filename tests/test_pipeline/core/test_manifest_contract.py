"""The manifest as a declared contract: one schema, one set of records and defaults, used by the generator
that writes it and the sync that reads it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from generator.blueprints import org_roles
from generator.org.loader import load_org
from generator.org.model import OrgSettings as OrgYamlSettings
from pipeline.core import manifest as contract

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = json.loads((ROOT / "pipeline" / "core" / "manifest.schema.json").read_text())
ORG_SCHEMA = json.loads((ROOT / "generator" / "schemas" / "org.schema.json").read_text())
MANIFESTS = {
    "sample": ROOT / "templates" / "org" / "manifest.json",
    "minimal": ROOT / "tests" / "golden" / "minimal" / "org" / "manifest.json",
    "selfmanaged": ROOT / "tests" / "golden" / "selfmanaged" / "org" / "manifest.json",
}


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_every_rendered_manifest_follows_the_schema(name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(json.loads(MANIFESTS[name].read_text()), SCHEMA)


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_reading_then_writing_gives_back_the_same_document(name: str) -> None:
    document = json.loads(MANIFESTS[name].read_text())
    assert contract.to_document(contract.parse_manifest(document)) == document


def test_the_generator_writes_the_manifest_from_the_contract_records() -> None:
    org = load_org(ROOT / "org_roles", "org_roles")
    written = org_roles.build_org(org)[org_roles.MANIFEST]
    parsed = contract.parse_manifest(written.data)  # type: ignore[union-attr]
    assert written.data == contract.to_document(parsed)  # type: ignore[union-attr]
    assert parsed.org.deletion == org.settings.deletion
    assert parsed.org.operation_preferences == org.settings.operation_preferences.to_api()


def _default_values(schema_properties: dict[str, Any]) -> dict[str, Any]:
    return {k: v["default"] for k, v in schema_properties.items() if "default" in v}


def test_defaults_are_written_once_and_the_schemas_agree_with_them() -> None:
    org_yaml = ORG_SCHEMA["properties"]
    manifest_org = SCHEMA["$defs"]["org"]["properties"]
    deletion = {f.name: f.default for f in fields(contract.DeletionPolicy)}
    preferences = {f.name: f.default for f in fields(contract.OperationPreferences)}
    assert _default_values(org_yaml["deletion"]["properties"]) == deletion
    assert _default_values(manifest_org["deletion"]["properties"]) == deletion
    assert _default_values(org_yaml["operation_preferences"]["properties"]) == preferences
    api_defaults = contract.OperationPreferences().to_api()
    assert _default_values(manifest_org["operation_preferences"]["properties"]) == api_defaults
    # org.yaml's settings hold the contract's records, not copies of their fields.
    settings = {f.name: f.type for f in fields(OrgYamlSettings)}
    assert settings["deletion"] == "DeletionPolicy"
    assert settings["operation_preferences"] == "OperationPreferences"


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.pop(key)


BAD: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("no org", _drop("org")),
    ("version 2", lambda d: d.update(manifest_version=2)),
    ("unknown top-level key", lambda d: d.update(extra=1)),
    ("kind unknown", lambda d: d["stacksets"][0].update(kind="stack")),
    (
        "role StackSet targeting accounts",
        lambda d: d["stacksets"][0].update(account_targets=["123456789012"]),
    ),
    ("sha256 not hex", lambda d: d["stacksets"][0].update(template_sha256="xyz")),
    ("template outside templates/", lambda d: d["stacksets"][0].update(template="../secret.yaml")),
    ("reserved hash tag", lambda d: d["stacksets"][0]["tags"].update(OrgStackSetsHash="v1")),
    ("non-string parameter", lambda d: d["stacksets"][0]["parameters"].update(MaxSessionDuration=3600)),
    ("bad account id", lambda d: d["org"].update(login_account_id="2222")),
]


@pytest.mark.parametrize(("name", "change"), BAD, ids=[b[0] for b in BAD])
def test_the_schema_and_the_reader_both_refuse_a_broken_manifest(
    name: str, change: Callable[[dict[str, Any]], None]
) -> None:
    document = copy.deepcopy(json.loads(MANIFESTS["sample"].read_text()))
    change(document)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)
    with pytest.raises(contract.ManifestError):
        contract.parse_manifest(document)


def test_the_reader_knows_the_same_keys_as_the_schema() -> None:
    defs = {"manifest": SCHEMA, **SCHEMA["$defs"]}
    defs["deletion"] = defs["org"]["properties"]["deletion"]
    defs["notifications"] = defs["org"]["properties"]["notifications"]
    assert {kind: set(defs[kind]["properties"]) for kind in contract.KEYS} == {
        kind: set(keys) for kind, keys in contract.KEYS.items()
    }


def test_a_mistyped_key_is_named_not_ignored() -> None:
    document = json.loads(MANIFESTS["minimal"].read_text())
    document["stacksets"][0]["regoins"] = document["stacksets"][0]["regions"]
    document["org"]["deletion"]["retain_stack"] = False
    with pytest.raises(contract.ManifestError) as caught:
        contract.parse_manifest(document, "m.json")
    assert [str(p) for p in caught.value.problems] == [
        "m.json: org.deletion.retain_stack: is not a key of the manifest (version 1)",
        "m.json: stacksets[0].regoins: is not a key of the manifest (version 1)",
    ]
