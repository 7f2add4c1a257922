"""`--local`: an embedded moto server on 127.0.0.1 holding an organization shaped like the manifest's.

The organization and the emulated StackSets persist in a JSON state file between commands, so a newcomer
can plan, sync, sync again (a no-op), move an account and change a role, one command at a time.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path
from types import TracebackType
from typing import Any

from pipeline.aws.clients import Clients, make_clients
from pipeline.common.errors import UsageError
from pipeline.core.manifest import Manifest
from pipeline.emulator import seed as seeding
from pipeline.emulator.cfn_models import install as install_cfn_models
from pipeline.emulator.org_models import install as install_org_models
from pipeline.emulator.server import FidelityServer, MotoMaterializer, MotoOrgView
from pipeline.emulator.speedups import collector_paused
from pipeline.emulator.stacksets import StackSetService

STATE_VERSION = 1
CODE_BUCKET = "org-stacksets-local-code"  # created by `local serve` for `generator package --upload`
DEFAULT_STATE = Path(".local-sync/state.json")
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class LocalEnvironment:
    """Context manager: start the server, restore (or create) the organization, save it on the way out."""

    def __init__(self, manifest: Manifest, state_path: Path = DEFAULT_STATE, port: int = 0) -> None:
        self.manifest = manifest
        self.state_path = state_path
        self.management = manifest.org.management_account_id
        self.service = StackSetService(
            MotoOrgView(self.management),
            running_ticks=2,
            materializer=MotoMaterializer(),
            keeper=MotoMaterializer(),
        )
        self.server = FidelityServer(self.service, self.management, port=port)
        self.created = False
        self._unfreeze = False

    def __enter__(self) -> LocalEnvironment:
        self._unfreeze = not gc.get_freeze_count()  # whether the freeze below is this environment's to undo
        with collector_paused():  # no collections while moto's models and the state file are loaded
            self._build()
            self.server.start()
        return self

    def _build(self) -> None:
        from moto.core.base_backend import BackendDict

        BackendDict.reset()  # every command starts from the state file alone
        install_cfn_models()  # so stacks such as templates/org/pipeline.yaml can be created and restored
        install_org_models()  # so `local delete-ou` and `rename-ou` answer as Organizations does
        state = self._load()
        if state is None:
            seeding.seed(seeding.layout_from_manifest(self.manifest))
            self.created = True
        else:
            try:
                seeding.seed(seeding.OrgLayout.from_json(state["organization"]))
                self.service.load_json(state["stacksets"])
                _restore_stacks(self.management, state.get("stacks", []))
                for stack in state.get("stacks", []):
                    self.service.stack_drift.deployed(self.management, stack["region"], stack["name"])
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise self._corrupt(f"{type(exc).__name__}: {exc}") from exc

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.save()
        finally:
            self.server.stop()
            if self._unfreeze:
                gc.unfreeze()  # the heap __enter__ froze can be collected again

    @property
    def url(self) -> str:
        return self.server.url

    def clients(self, region: str = "us-east-1") -> Clients:
        """Clients of the product's one factory, aimed at this environment (few retries: it is local)."""
        return make_clients(
            region, component="local", endpoint_url=self.url, credentials=CREDENTIALS, max_attempts=3
        )

    def _load(self) -> dict[str, Any] | None:
        """The saved state; None when there is none, or it is of another version or organization (a new
        organization then replaces it). A file that is not a state file is refused, never overwritten."""
        if not self.state_path.is_file():
            return None
        try:
            data = json.loads(self.state_path.read_bytes())
        except (ValueError, OSError) as exc:
            raise self._corrupt("not JSON" if isinstance(exc, ValueError) else str(exc)) from exc
        if not isinstance(data, dict) or not isinstance(data.get("organization"), dict):
            raise self._corrupt("no organization in it")
        if (
            data.get("version") != STATE_VERSION
            or data["organization"].get("management_account") != self.management
        ):
            return None
        return data

    def _corrupt(self, why: str) -> UsageError:
        reset = "" if self.state_path == DEFAULT_STATE else f" --local-state {self.state_path}"
        return UsageError(
            f"{self.state_path} is not a --local state file ({why}): "
            f"start over with `python -m pipeline local reset{reset}`"
        )

    def save(self) -> None:
        data = {
            "version": STATE_VERSION,
            "organization": seeding.dump(self.management).to_json(),
            "stacksets": self.service.to_json(),
            "stacks": _stacks(self.management),
        }
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
        tmp.replace(self.state_path)

    def accounts_by_ou(self) -> dict[str, list[tuple[str, str, str, list[str]]]]:
        """For `local show`: per OU path, (account, name, status, StackSets with an instance there)."""
        layout = seeding.dump(self.management)
        roles: dict[str, list[str]] = {}
        for record in self.service.stacksets.values():
            if record.status == "ACTIVE":
                for inst in record.instances.values():
                    if inst.status == "CURRENT":
                        roles.setdefault(inst.account, []).append(record.name)
                    elif inst.detailed != "SKIPPED_SUSPENDED_ACCOUNT" and inst.status == "OUTDATED":
                        # Its stack keeps the template it had (a canary wave not reached yet, or failed).
                        word = "failed" if inst.detailed in ("FAILED", "CANCELLED") else "outdated"
                        roles.setdefault(inst.account, []).append(f"{record.name} ({word})")
        for stack in _stacks(self.management):
            roles.setdefault(self.management, []).append(f"stack {stack['name']}")
        out: dict[str, list[tuple[str, str, str, list[str]]]] = {"Root": []}
        for path in sorted(layout.ous):
            out[path] = []
        for a in layout.accounts:
            out.setdefault(a.path, []).append((a.id, a.name, a.status, sorted(roles.get(a.id, []))))
        return out

    def retained_stacks(self) -> list[tuple[str, str]]:
        return sorted((s.account, s.stackset) for s in self.service.stacks.values() if s.retained)


def _stacks(account: str) -> list[dict[str, Any]]:
    """The plain stacks (the management-account stack) moto holds for the account, to persist them."""
    from moto.cloudformation.models import cloudformation_backends

    out = []
    for region, backend in cloudformation_backends[account].items():
        for stack in backend.stacks.values():
            if stack.status.endswith("_COMPLETE") and not stack.status.startswith("DELETE"):
                params = {k: str(v) for k, v in stack.parameters.items() if not k.startswith("AWS::")}
                out.append(
                    {
                        "region": region,
                        "name": stack.name,
                        "template": stack.template,
                        "parameters": params,
                        "tags": stack.tags,
                    }
                )
    return sorted(out, key=lambda s: (s["region"], s["name"]))


def _restore_stacks(account: str, stacks: list[dict[str, Any]]) -> None:
    import warnings

    from moto.cloudformation.models import cloudformation_backends

    for s in stacks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            backend = cloudformation_backends[account][s["region"]]
            backend.create_stack(
                name=s["name"], template=s["template"], parameters=s["parameters"], tags=s["tags"]
            )
