"""moto's server with the StackSet emulator in front: end-to-end tests and --local talk HTTP to it.

A small WSGI middleware takes the CloudFormation StackSet actions (query protocol) off the wire, parses them
with botocore's own service model, hands them to the emulator and serialises its answer as AWS would;
every other request goes on to moto untouched. A request without an account header is answered in the
account of its access key when the key is one moto's STS issued by AssumeRole (sts:AssumeRole into a member
account, e.g. the conformance kit's --member-role), else as the organization's management account. A
DeleteStack is also reported to the emulator (StackSetService.stack_deleted), so deleting a retained stack
in its account forgets it there too.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping
from contextlib import redirect_stdout
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import botocore.session
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from pipeline.emulator import speedups
from pipeline.emulator.drift import stack_roles
from pipeline.emulator.model import STACKSETS_PRINCIPAL, ApiError, OrgSnapshot
from pipeline.emulator.org_models import cached
from pipeline.emulator.org_models import install as install_org_models
from pipeline.emulator.stacksets import StackSetService
from pipeline.emulator.throttle import THROTTLE_MESSAGE, THROTTLED, Simulation

XMLNS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
ORGANIZATIONS_TARGET = "AWSOrganizationsV20161128."
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class MotoOrgView:
    """The organization as moto's Organizations backend holds it (read in-process, not over the API)."""

    def __init__(self, management_account: str) -> None:
        self.management_account = management_account
        install_org_models()  # its generation, which the snapshot cache is keyed on, counts every change

    def snapshot(self) -> OrgSnapshot | None:
        from moto.organizations.models import organizations_backends

        backend = organizations_backends[self.management_account]["aws"]
        if backend.org is None:
            return None
        # Built once per change of the organization: the emulator reads it on every StackSet request.
        return cached(backend, "snapshot", lambda: self._read(backend))

    def _read(self, backend: Any) -> OrgSnapshot:
        parents = {ou.id: ou.parent_id for ou in backend.ou}
        parents[backend.org.root_id] = None
        accounts = {a.id: (a.parent_id, a.state) for a in backend.accounts}
        admins = frozenset(
            a.account.id for a in backend.admins if STACKSETS_PRINCIPAL in getattr(a, "services", {})
        )
        return OrgSnapshot(self.management_account, parents, accounts, admins)


class MotoMaterializer:
    """Creates each stack instance as a real moto stack in its account, so IAM roles exist there."""

    def apply(
        self, account: str, region: str, stack: str, template: str, parameters: Mapping[str, str]
    ) -> str | None:
        from moto.cloudformation.models import cloudformation_backends

        speedups.cache_template_parsing()
        backend = cloudformation_backends[account][region]
        logging.getLogger("moto").setLevel(logging.ERROR)  # it logs each resource type it does not model
        try:
            # moto warns (and prints) about resource types it does not model, such as AWS::IAM::Group.
            with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                existing = next((s for s in backend.stacks.values() if s.name == stack), None)
                if existing is not None and existing.parameters == dict(parameters):
                    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
                    backend.update_stack(
                        name=stack, template=template, role_arn=None, parameters=params, tags=None
                    )
                    return None
                # moto's stack update diffs unresolved templates and misses parameter-only changes, so a
                # parameter change replaces the stack: its resources then reflect the new values.
                if existing is not None:
                    backend.delete_stack(stack)
                backend.create_stack(name=stack, template=template, parameters=dict(parameters), tags={})
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def roles(self, account: str, region: str, stack: str) -> dict[str, Any]:
        return dict(stack_roles(account, region, stack))

    def delete(self, account: str, region: str, stack: str) -> None:
        from moto.cloudformation.models import cloudformation_backends

        backend = cloudformation_backends[account][region]
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            backend.delete_stack(stack)


# --- query protocol on the server side ------------------------------------------------------------------


def _parse(shape: Any, params: Mapping[str, str], prefix: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            key = f"{prefix}.{wire}" if prefix else wire
            if key in params or any(k.startswith(key + ".") for k in params):
                out[name] = _parse(member, params, key)
        return out
    if kind == "list":
        if params.get(prefix) == "":
            return []  # the query protocol sends an empty list as "Name="
        item = shape.member.serialization.get("name", "member")
        out_list = []
        i = 1
        while f"{prefix}.{item}.{i}" in params or any(k.startswith(f"{prefix}.{item}.{i}.") for k in params):
            out_list.append(_parse(shape.member, params, f"{prefix}.{item}.{i}"))
            i += 1
        return out_list
    if kind == "map":
        out_map = {}
        i = 1
        while f"{prefix}.entry.{i}.key" in params:
            out_map[params[f"{prefix}.entry.{i}.key"]] = _parse(
                shape.value, params, f"{prefix}.entry.{i}.value"
            )
            i += 1
        return out_map
    value = params[prefix]
    if kind == "boolean":
        return value == "true"
    if kind in ("integer", "long"):
        return int(value)
    return value


def _xml(shape: Any, value: Any, name: str) -> str:
    kind = shape.type_name
    if kind == "structure":
        inner = "".join(
            _xml(member, value[m], member.serialization.get("name", m))
            for m, member in shape.members.items()
            if value.get(m) is not None
        )
        return f"<{name}>{inner}</{name}>"
    if kind == "list":
        item = shape.member.serialization.get("name", "member")
        return f"<{name}>" + "".join(_xml(shape.member, v, item) for v in value) + f"</{name}>"
    if kind == "map":
        entries = "".join(
            f"<entry>{_xml(shape.key, k, 'key')}{_xml(shape.value, v, 'value')}</entry>"
            for k, v in value.items()
        )
        return f"<{name}>{entries}</{name}>"
    if kind == "boolean":
        text = "true" if value else "false"
    elif kind == "timestamp":
        text = value.isoformat() if isinstance(value, datetime) else str(value)
    else:
        text = str(value)
    return f"<{name}>{escape(text)}</{name}>"


# Stack actions after which a plain stack's roles are its expected state (pipeline.emulator.stack_drift).
DEPLOYS = frozenset({"CreateStack", "UpdateStack", "ExecuteChangeSet"})


class StackSetMiddleware:
    """WSGI: StackSet actions to the emulator, everything else to moto."""

    def __init__(
        self,
        app: WSGIApp,
        service: StackSetService,
        default_account: str,
        simulation: Simulation | None = None,
    ) -> None:
        self.app = app
        self.service = service
        self.default_account = default_account
        self.simulation = simulation
        self.model = botocore.session.get_session().get_service_model("cloudformation")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        environ.setdefault("HTTP_X_MOTO_ACCOUNT_ID", self._account(auth))
        if self.simulation is not None and not self._simulate(environ):
            return _json_error(start_response, THROTTLED, THROTTLE_MESSAGE)
        if environ.get("REQUEST_METHOD") == "POST" and "/cloudformation/aws4_request" in auth:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
            action = form.get("Action", "")
            if action in self.service.actions:
                region = auth.split("Credential=")[1].split("/")[2]
                return self._answer(start_response, environ["HTTP_X_MOTO_ACCOUNT_ID"], region, action, form)
            if action == "DeleteStack" and form.get("StackName"):
                region = auth.split("Credential=")[1].split("/")[2]
                self.service.stack_deleted(environ["HTTP_X_MOTO_ACCOUNT_ID"], region, form["StackName"])
            environ["wsgi.input"] = io.BytesIO(body)
            if action in DEPLOYS and form.get("StackName"):
                # moto deploys within the request: afterwards the stack's roles are what drift compares with.
                answer = self.app(environ, start_response)
                region = auth.split("Credential=")[1].split("/")[2]
                self.service.stack_drift.deployed(
                    environ["HTTP_X_MOTO_ACCOUNT_ID"], region, form["StackName"]
                )
                return answer
        return self.app(environ, start_response)

    def _simulate(self, environ: dict[str, Any]) -> bool:
        """The request's simulated latency and, for Organizations, its rate limit: False when throttled."""
        assert self.simulation is not None
        charged = self.simulation.receive(environ.get("HTTP_X_SIMULATED_TIME"))
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith(ORGANIZATIONS_TARGET):
            return self.simulation.organizations(target[len(ORGANIZATIONS_TARGET) :], charged=charged)
        self.simulation.request(charged=charged)
        return True

    def _account(self, auth: str) -> str:
        """The account of an access key moto issued by AssumeRole; the management account for any other."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.iam.models import get_account_id_from

        if "Credential=" not in auth:
            return self.default_account
        found = get_account_id_from(auth.split("Credential=")[1].split("/", maxsplit=1)[0])
        return self.default_account if found == DEFAULT_ACCOUNT_ID else found

    def _answer(
        self, start_response: Callable[..., Any], account: str, region: str, action: str, form: dict[str, str]
    ) -> Iterable[bytes]:
        op = self.model.operation_model(action)
        request_id = str(uuid.uuid4())
        try:
            params = _parse(op.input_shape, form, "") if op.input_shape is not None else {}
            result = self.service.handle(account, region, action, params)
            out = op.output_shape
            inner = ""
            if out is not None:
                wrapper = out.serialization.get("resultWrapper", f"{action}Result")
                inner = _xml(out, result, wrapper)
            body = (
                f'<{action}Response xmlns="{XMLNS}">{inner}'
                f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
            )
            status = "200 OK"
        except ApiError as err:
            body = (
                f'<ErrorResponse xmlns="{XMLNS}"><Error><Type>Sender</Type><Code>{err.code}</Code>'
                f"<Message>{escape(err.message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            )
            status = f"{err.status} Bad Request"
        data = body.encode()
        start_response(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(data)))])
        return [data]


def _json_error(start_response: Callable[..., Any], code: str, message: str) -> Iterable[bytes]:
    """An error of a JSON-protocol service (Organizations): HTTP 400 with __type and Message."""
    data = json.dumps({"__type": code, "Message": message}).encode()
    start_response(
        "400 Bad Request",
        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))],
    )
    return [data]


class FidelityServer(ThreadedMotoServer):
    """ThreadedMotoServer on 127.0.0.1 (a free port by default) with the StackSet emulator in front; with a
    `simulation` (pipeline.emulator.throttle), requests take simulated time and Organizations is throttled
    at its rate (the service's operations then run on the same clock)."""

    def __init__(
        self,
        service: StackSetService,
        management_account: str,
        port: int = 0,
        *,
        simulation: Simulation | None = None,
    ) -> None:
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        install_org_models()  # Organizations answers as AWS does (State, OU rules) wherever the emulator runs
        speedups.list_moto_modules_once()
        speedups.remember_regions()
        self.service = service
        self.management_account = management_account
        self.simulation = simulation
        if simulation is not None:
            service.simulation = simulation

    def _server_entry(self) -> None:
        # werkzeug logs every request at INFO; the sync's own progress is what people want to read.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        app = StackSetMiddleware(
            DomainDispatcherApplication(create_backend_app),
            self.service,
            self.management_account,
            self.simulation,
        )
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        # stop() waits for the loop to notice: every 0.5 s by default, half a second of every command.
        self._server.serve_forever(poll_interval=0.02)

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"


def start(management_account: str, *, running_ticks: int = 3, materialize: bool = False) -> FidelityServer:
    """A started server whose emulator sees moto's organization of `management_account`; retained stacks
    are real moto stacks in their accounts either way (the keeper)."""
    service = StackSetService(
        MotoOrgView(management_account),
        running_ticks=running_ticks,
        materializer=MotoMaterializer() if materialize else None,
        keeper=MotoMaterializer(),
    )
    server = FidelityServer(service, management_account)
    server.start()
    return server
