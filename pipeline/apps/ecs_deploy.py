"""Event-driven ECS deploys: validate a deploy or rollback message, plan the task definition change, apply it.

Runs in AWS Lambda behind an SNS topic (standard library only; the handler builds the one boto3 client).
The CLI in pipeline.apps.app_deploy uses the same validation before it publishes.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.common.errors import excerpt

LOG = logging.getLogger(__name__)

DEPLOY = "deploy"
ROLLBACK = "rollback"
REQUIRED = {
    DEPLOY: ("action", "cluster", "service", "image", "tag"),
    ROLLBACK: ("action", "cluster", "service"),
}
OPTIONAL = {DEPLOY: ("container",), ROLLBACK: ("revision",)}

# Names as the ECS API accepts them: clusters and services take letters, digits, hyphens and underscores,
# up to 255 characters (CreateCluster, CreateService API references).
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
# A repository reference without tag or digest: [registry[:port]/]path, lowercase path components
# (the OCI distribution spec's name grammar).
IMAGE = re.compile(
    r"^(?:[A-Za-z0-9.-]+(?::[0-9]{1,5})?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
# Docker tag grammar: up to 128 characters, not starting with '.' or '-'.
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
CONTAINER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
# An SNS message is at most 256 KiB: "at most 256 KB in size (262,144 bytes, not 262,144 characters)"
# (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html). A valid deploy message is far smaller.
MESSAGE_BYTES = 262_144
# The longest value of each key: names as the ECS API takes them, a repository reference as the OCI
# distribution spec bounds it (255), a Docker tag (128).
MAX_CHARS = {"cluster": 255, "service": 255, "image": 255, "tag": 128, "container": 255}
MAX_REVISION = 2**31 - 1
# Messages quote at most an excerpt of a value; an image reference gets more room for its registry and name.
IMAGE_EXCERPT = 100
DOCKER_HUB = "docker.io"
TASK_DEFINITION = re.compile(r"(?:^|task-definition/)(?P<family>[A-Za-z0-9_-]+):(?P<revision>[0-9]+)$")


class MessageError(ValueError):
    """The message is malformed; it is rejected before any AWS call."""


class PlanError(Exception):
    """The message is valid but cannot be applied to the service as it is; nothing is changed."""


@dataclass(frozen=True)
class DeployRequest:
    cluster: str
    service: str
    image: str
    tag: str
    container: str | None = None

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{self.tag}"


@dataclass(frozen=True)
class RollbackRequest:
    cluster: str
    service: str
    revision: int | None = None


Request = DeployRequest | RollbackRequest


@dataclass(frozen=True)
class RegisterAndUpdate:
    """Register `registration` as a new revision, then point the service at it."""

    cluster: str
    service: str
    current: str
    container: str
    image: str
    registration: Mapping[str, Any]


@dataclass(frozen=True)
class UpdateService:
    """Point the service at an existing revision."""

    cluster: str
    service: str
    current: str
    target: str


@dataclass(frozen=True)
class NoChange:
    cluster: str
    service: str
    current: str
    reason: str


Plan = RegisterAndUpdate | UpdateService | NoChange


def _string(data: Mapping[str, Any], key: str, pattern: re.Pattern[str], what: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise MessageError(f"'{key}' must be a non-empty string ({what}), not {_type(value)}")
    if len(value) > MAX_CHARS[key]:
        raise MessageError(
            f"'{key}' {_quote(key, value)} is {len(value):,} characters, over the limit of {MAX_CHARS[key]}"
        )
    if not pattern.match(value):
        raise MessageError(f"'{key}' {_quote(key, value)} is not {what}")
    return value


def _quote(key: str, value: str) -> str:
    return excerpt(value, IMAGE_EXCERPT if key == "image" else 40)


def _type(value: Any) -> str:
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "true/false",
        int: "a number",
        float: "a number",
    }
    if isinstance(value, str) and not value:
        return "empty"
    return "null" if value is None else names.get(type(value), type(value).__name__)


def registry(image: str) -> str:
    """The registry host of an image reference: its first component when that names a host, else Docker Hub."""
    first, slash, _rest = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return DOCKER_HUB


def allowed_registries(account: str, region: str, extra: str = "") -> frozenset[str]:
    """This account's ECR registry in this region, plus the comma-separated `extra` (ALLOWED_REGISTRIES)."""
    own = f"{account}.dkr.ecr.{region}.amazonaws.com"
    return frozenset({own, *(r.strip().lower() for r in extra.split(",") if r.strip())})


def validate(
    data: Any, allowed_cluster: str | None = None, registries: Collection[str] | None = None
) -> Request:
    """A typed request from a decoded message, or MessageError naming the first problem (quoting at most an
    excerpt of the value). With `registries`, the image must come from one of them."""
    if not isinstance(data, dict):
        raise MessageError(f"message must be a JSON object, not {type(data).__name__}")
    action = data.get("action")
    if action not in REQUIRED:
        raise MessageError(f"'action' must be one of {', '.join(sorted(REQUIRED))}, not {excerpt(action)}")
    missing = [k for k in REQUIRED[action] if k not in data]
    if missing:
        raise MessageError(f"{action} message lacks {', '.join(repr(k) for k in missing)}")
    unknown = sorted(set(data) - set(REQUIRED[action]) - set(OPTIONAL[action]))
    if unknown:
        raise MessageError(
            f"{action} message has unknown key(s) {', '.join(excerpt(k) for k in unknown[:5])}"
        )
    cluster = _string(data, "cluster", NAME, "an ECS cluster name")
    if allowed_cluster is not None and cluster != allowed_cluster:
        raise MessageError(
            f"cluster {excerpt(cluster)} is not the cluster this function deploys to ({excerpt(allowed_cluster)})"
        )
    service = _string(data, "service", NAME, "an ECS service name")
    if action == ROLLBACK:
        revision = data.get("revision")
        if revision is not None and (
            isinstance(revision, bool) or not isinstance(revision, int) or not 1 <= revision <= MAX_REVISION
        ):
            raise MessageError(f"'revision' must be a positive integer, not {excerpt(revision)}")
        return RollbackRequest(cluster, service, revision)
    return _deploy(data, cluster, service, registries)


def _deploy(
    data: Mapping[str, Any], cluster: str, service: str, registries: Collection[str] | None
) -> DeployRequest:
    image = data.get("image")
    if (
        isinstance(image, str)
        and len(image) <= MAX_CHARS["image"]
        and ("@" in image or ":" in image.rsplit("/", 1)[-1])
    ):
        raise MessageError(
            f"'image' {_quote('image', image)} must not carry a tag or digest: pass the tag in 'tag'"
        )
    image = _string(data, "image", IMAGE, "an image repository reference (registry/name)")
    if registries is not None and registry(image) not in registries:
        raise MessageError(
            f"'image' {_quote('image', image)} is from registry {registry(image)}, which this function does not deploy "
            f"from (allowed: {', '.join(sorted(registries))})"
        )
    tag = _string(data, "tag", TAG, "a Docker tag (letters, digits, '_', '.', '-'; at most 128)")
    container = None
    if "container" in data:
        container = _string(data, "container", CONTAINER, "a container name")
    return DeployRequest(cluster, service, image, tag, container)


def parse_message(
    text: str, allowed_cluster: str | None = None, registries: Collection[str] | None = None
) -> Request:
    """Decode and validate one message body; one over SNS's size limit is refused before decoding."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MESSAGE_BYTES:
        raise MessageError(f"message is {size:,} bytes, over SNS's limit of {MESSAGE_BYTES:,}")
    try:
        data = json.loads(text)
    except RecursionError:
        raise MessageError("message is not JSON this function accepts: nested too deeply") from None
    except (TypeError, ValueError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise MessageError(f"message is not JSON: {excerpt(reason, 80)[1:-1]}") from None
    return validate(data, allowed_cluster, registries)


def to_message(request: Request) -> dict[str, Any]:
    """The JSON message for a request: the inverse of validate()."""
    if isinstance(request, DeployRequest):
        body: dict[str, Any] = {
            "action": DEPLOY,
            "cluster": request.cluster,
            "service": request.service,
            "image": request.image,
            "tag": request.tag,
        }
        if request.container is not None:
            body["container"] = request.container
        return body
    body = {"action": ROLLBACK, "cluster": request.cluster, "service": request.service}
    if request.revision is not None:
        body["revision"] = request.revision
    return body


def family_revision(task_definition: str) -> tuple[str, int]:
    """(family, revision) from a task definition ARN or 'family:revision'."""
    match = TASK_DEFINITION.search(task_definition)
    if not match:
        raise PlanError(
            f"cannot read family and revision from task definition {excerpt(task_definition, 120)}"
        )
    return match["family"], int(match["revision"])


def _repository(image: str) -> str:
    """An image reference without its tag or digest."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


def _pick_container(request: DeployRequest, containers: Sequence[Mapping[str, Any]]) -> str:
    names = [str(c.get("name")) for c in containers]
    if request.container is not None:
        if request.container not in names:
            raise PlanError(
                f"task definition has no container {excerpt(request.container)} (it has {', '.join(names)})"
            )
        return request.container
    same_repo = [
        str(c.get("name")) for c in containers if _repository(str(c.get("image", ""))) == request.image
    ]
    if len(same_repo) == 1:
        return same_repo[0]
    if not same_repo and len(names) == 1:
        return names[0]
    raise PlanError(
        f"cannot tell which container runs {request.image} (containers: {', '.join(names)}); "
        "name it with 'container'"
    )


def _check_registration(registration: Mapping[str, Any], family_prefix: str) -> None:
    """What IAM cannot limit, limited here: ecs:RegisterTaskDefinition has no resource type and no
    condition key on the family or on `privileged` in the Service Authorization Reference (Amazon Elastic
    Container Service, https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html),
    so the function's role holds it on '*'. The function registers only revisions of the families it was
    given (TASK_FAMILY_PREFIX) and never a privileged container ("privileged": root on the host,
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html)."""
    family = str(registration.get("family", ""))
    if not family.startswith(family_prefix):
        raise PlanError(
            f"task definition family {excerpt(family)} is not one this function may register "
            f"(families start with {excerpt(family_prefix)})"
        )
    privileged = [
        str(c.get("name")) for c in registration.get("containerDefinitions", []) if c.get("privileged")
    ]
    if privileged:
        raise PlanError(
            f"task definition {excerpt(family)} runs privileged container(s) {', '.join(privileged)}; "
            "this function never registers one"
        )


def plan_deploy(
    request: DeployRequest,
    current: Mapping[str, Any],
    tags: Sequence[Mapping[str, str]],
    registerable: Collection[str],
    family_prefix: str = "",
) -> RegisterAndUpdate | NoChange:
    """A new revision equal to `current` except for one container's image; NoChange if it already runs it.

    `registerable` is the set of RegisterTaskDefinition request fields: every field of the described
    task definition that the API accepts is copied, so fields ECS adds later are carried over too. A family
    outside `family_prefix`, or a privileged container, is refused (PlanError).
    """
    arn = str(current["taskDefinitionArn"])
    containers = current.get("containerDefinitions") or []
    name = _pick_container(request, containers)
    if any(c.get("name") == name and c.get("image") == request.image_ref for c in containers):
        return NoChange(
            request.cluster, request.service, arn, f"container {name!r} already runs {request.image_ref}"
        )
    registration = {k: copy.deepcopy(v) for k, v in current.items() if k in registerable and k != "tags"}
    _check_registration(registration, family_prefix)
    for container in registration["containerDefinitions"]:
        if container.get("name") == name:
            container["image"] = request.image_ref
    if tags and "tags" in registerable:
        registration["tags"] = [dict(t) for t in tags]
    return RegisterAndUpdate(request.cluster, request.service, arn, name, request.image_ref, registration)


def plan_rollback(
    request: RollbackRequest, current: str, active_revisions: Iterable[int]
) -> UpdateService | NoChange:
    """The service's previous ACTIVE revision of its family, or the one the message names.

    ECS refuses to point a service at an INACTIVE (deregistered) revision, so only ACTIVE ones qualify.
    """
    family, revision = family_revision(current)
    active = sorted(set(active_revisions))
    if request.revision is not None:
        if request.revision == revision:
            return NoChange(
                request.cluster, request.service, current, f"service already runs {family}:{revision}"
            )
        if request.revision not in active:
            raise PlanError(f"{family}:{request.revision} is not an ACTIVE revision of {family}")
        return UpdateService(request.cluster, request.service, current, f"{family}:{request.revision}")
    earlier = [r for r in active if r < revision]
    if not earlier:
        raise PlanError(f"{family} has no ACTIVE revision before {revision} to roll back to")
    return UpdateService(request.cluster, request.service, current, f"{family}:{earlier[-1]}")


# --- adapter: the ECS calls, with the client passed in -------------------------------------------------


def current_task_definition(ecs: Any, cluster: str, service: str) -> str:
    response = ecs.describe_services(cluster=cluster, services=[service])
    services = [s for s in response.get("services", []) if s.get("status") == "ACTIVE"]
    if not services:
        raise PlanError(f"service {excerpt(service)} is not an ACTIVE service of cluster {excerpt(cluster)}")
    return str(services[0]["taskDefinition"])


def active_revisions(ecs: Any, family: str) -> list[int]:
    revisions = []
    for page in ecs.get_paginator("list_task_definitions").paginate(familyPrefix=family, status="ACTIVE"):
        for arn in page.get("taskDefinitionArns", []):
            found_family, revision = family_revision(arn)
            if found_family == family:
                revisions.append(revision)
    return sorted(revisions)


def registerable_fields(ecs: Any) -> frozenset[str]:
    """The request fields of RegisterTaskDefinition, from the client's own service model."""
    return frozenset(ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape.members)


def plan(request: Request, ecs: Any, family_prefix: str = "") -> Plan:
    current = current_task_definition(ecs, request.cluster, request.service)
    if isinstance(request, RollbackRequest):
        family, _ = family_revision(current)
        return plan_rollback(request, current, active_revisions(ecs, family))
    described = ecs.describe_task_definition(taskDefinition=current, include=["TAGS"])
    return plan_deploy(
        request,
        described["taskDefinition"],
        described.get("tags") or [],
        registerable_fields(ecs),
        family_prefix,
    )


def apply(step: Plan, ecs: Any) -> dict[str, Any]:
    """Carry out a plan; the result says what changed, for the log and the caller."""
    result: dict[str, Any] = {"cluster": step.cluster, "service": step.service, "from": step.current}
    if isinstance(step, NoChange):
        return {**result, "status": "unchanged", "to": step.current, "reason": step.reason}
    target = step.target if isinstance(step, UpdateService) else ""
    if isinstance(step, RegisterAndUpdate):
        registered = ecs.register_task_definition(**step.registration)["taskDefinition"]
        target = str(registered["taskDefinitionArn"])
        result.update(container=step.container, image=step.image)
    ecs.update_service(cluster=step.cluster, service=step.service, taskDefinition=target)
    return {**result, "status": "updated", "to": target}


@dataclass(frozen=True)
class Limits:
    """What one function may do, from its environment: the cluster, the image registries, the task
    families, and the one topic its messages must come from (None: not checked, for the CLI's dry runs)."""

    cluster: str | None = None
    registries: Collection[str] | None = None
    family_prefix: str = ""
    topic_arn: str | None = None


def _from_topic(i: int, record: Mapping[str, Any], sns: Mapping[str, Any], topic_arn: str | None) -> None:
    """An SNS-delivered record names its topic in Sns.TopicArn (Invoking Lambda functions with Amazon SNS
    notifications, event shape: https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html). A message from
    any other topic, or an event that is not an SNS delivery, is refused. (The invoke permission admits only
    the own topic; this check also refuses a hand-made event from someone allowed to invoke the function,
    and the sample roles deny invoking it at all.)"""
    if topic_arn is None:
        return
    if record.get("EventSource") != "aws:sns":
        raise MessageError(
            f"record {i} is not an SNS delivery (EventSource {excerpt(record.get('EventSource'))})"
        )
    if sns.get("TopicArn") != topic_arn:
        raise MessageError(
            f"record {i} comes from topic {excerpt(sns.get('TopicArn'), 120)}, not this function's topic"
        )


def handle(
    event: Any,
    ecs: Any,
    allowed_cluster: str | None = None,
    registries: Collection[str] | None = None,
    limits: Limits | None = None,
) -> list[dict[str, Any]]:
    """Validate every SNS record first (a bad one rejects the event untouched), then plan and apply each."""
    limits = limits or Limits(allowed_cluster, registries)
    allowed_cluster, registries = limits.cluster, limits.registries
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        raise MessageError("event has no SNS Records")
    requests = []
    for i, record in enumerate(records):
        sns = record.get("Sns") if isinstance(record, dict) else None
        if not isinstance(sns, dict) or not isinstance(sns.get("Message"), str):
            raise MessageError(f"record {i} is not an SNS notification")
        _from_topic(i, record, sns, limits.topic_arn)
        message_id = sns.get("MessageId", i)
        try:
            requests.append((str(message_id), parse_message(sns["Message"], allowed_cluster, registries)))
        except MessageError as exc:
            raise MessageError(f"message {excerpt(str(message_id))[1:-1]} rejected: {exc}") from None
    results = []
    for message_id, request in requests:
        result = {
            "message_id": message_id,
            "action": DEPLOY if isinstance(request, DeployRequest) else ROLLBACK,
        }
        result.update(apply(plan(request, ecs, limits.family_prefix), ecs))
        LOG.info("%s", json.dumps(result, sort_keys=True))
        results.append(result)
    return results


def _own_registries(context: Any, region: str, clients: Any) -> frozenset[str]:
    """The function's own account and region (from its ARN; from STS when invoked without a context)."""
    arn = str(getattr(context, "invoked_function_arn", "") or "")
    parts = arn.split(":")
    if len(parts) > 4 and parts[4]:
        account, region = parts[4], parts[3]
    else:
        account = str(clients.client("sts").get_caller_identity()["Account"])
    return allowed_registries(account, region, os.environ.get("ALLOWED_REGISTRIES", ""))


def handler(event: Any, context: Any) -> list[dict[str, Any]]:
    """Lambda entry point: one ECS client, and from its environment the cluster this function may touch, the
    registries it may deploy from (its own account's ECR, plus ALLOWED_REGISTRIES), the task families it
    may register (TASK_FAMILY_PREFIX) and the topic its messages must come from (TOPIC_ARN)."""
    from pipeline.aws.clients import make_clients

    clients = make_clients(component="ecs-deploy")
    ecs = clients.client("ecs")
    try:
        limits = Limits(
            cluster=os.environ.get("CLUSTER_NAME") or None,
            registries=_own_registries(context, ecs.meta.region_name, clients),
            family_prefix=os.environ.get("TASK_FAMILY_PREFIX", ""),
            # Set by the template; a function deployed without it accepts no message at all.
            topic_arn=os.environ.get("TOPIC_ARN", "arn:none"),
        )
        return handle(event, ecs, limits=limits)
    except (MessageError, PlanError) as exc:
        # Fail the invocation so the error alarm fires and the event lands in the dead-letter queue.
        LOG.error("%s", exc)
        raise
