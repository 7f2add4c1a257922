"""CloudFormation resource types moto's stack engine lacks, mapped onto moto's own service backends.

moto (5.x) parses AWS::CodeBuild::Project, AWS::CodePipeline::Pipeline, AWS::SNS::Subscription,
AWS::SNS::TopicPolicy and AWS::S3::BucketPolicy as "not supported" (a warning, and a Ref or GetAtt on
them fails), and creates AWS::KMS::Key with Tags in the wrong shape. So a stack such as
templates/org/pipeline.yaml cannot be created in moto as it can in AWS. Each class below creates the
resource through the moto backend of its service, with the Ref and GetAtt values the CloudFormation
resource reference documents (Ref of a project or pipeline is its name; Project.Arn is its ARN).

Test and --local use only: `install()` registers them with moto's CloudFormation parser.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Self

from moto.core.common_models import CloudFormationModel

from pipeline.emulator import speedups


def _camel(value: Any, keep: frozenset[str] = frozenset({"Configuration", "EnvironmentVariables"})) -> Any:
    """CloudFormation's PascalCase properties as the API's camelCase, except free-form maps."""
    if isinstance(value, list):
        return [_camel(v, keep) for v in value]
    if isinstance(value, dict):
        return {(k[:1].lower() + k[1:]): (v if k in keep else _camel(v, keep)) for k, v in value.items()}
    return value


class _Model:
    """Shared behaviour; each resource class also subclasses CloudFormationModel directly, because
    moto finds models through CloudFormationModel.__subclasses__() (direct subclasses only).

    moto's stack engine calls the *_from_cloudformation_json class methods; a model says only how
    it creates its resource (`create_in_backend`) and, when the backend keeps it by name, how it
    deletes it (`delete_in_backend`). An update deletes and creates again. (Not named `delete`:
    moto calls a model's own `delete(account_id, region)` when it has one.)
    """

    # The resource type, and the property that names the resource ("" where none does).
    TYPE: ClassVar[str]
    NAME_PROPERTY: ClassVar[str] = ""

    def __init__(self, name: str, arn: str = "") -> None:
        self.name = name
        self.arn = arn

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return self.arn
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_in_backend(
        cls, name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Self:
        """Create the resource from its template Properties in the moto backend. `name` is its physical
        name: the NAME_PROPERTY value when the template gives one, otherwise a name moto generates."""
        raise NotImplementedError

    @classmethod
    def delete_in_backend(cls, name: str, account_id: str, region_name: str) -> None:
        """Remove the resource from the moto backend; nothing to remove by default."""

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        return cls.create_in_backend(
            resource_name, cloudformation_json["Properties"], account_id, region_name
        )

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        cls.delete_in_backend(original_resource.name, account_id, region_name)
        return cls.create_in_backend(
            new_resource_name, cloudformation_json["Properties"], account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        cls.delete_in_backend(resource_name, account_id, region_name)

    def is_created(self) -> bool:
        return True


class CodeBuildProject(_Model, CloudFormationModel):
    TYPE = "AWS::CodeBuild::Project"
    NAME_PROPERTY = "Name"

    @classmethod
    def create_in_backend(
        cls, name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Self:
        from moto.codebuild.models import codebuild_backends

        backend = codebuild_backends[account_id][region_name]
        backend.create_project(
            name,
            properties.get("Description"),
            _camel(properties["Source"]),
            _camel(properties["Artifacts"]),
            _camel(properties["Environment"]),
            properties["ServiceRole"],
            [{"key": t["Key"], "value": t["Value"]} for t in properties.get("Tags", [])],
            None,
            properties.get("TimeoutInMinutes"),
            None,
            None,
            _camel(properties.get("LogsConfig")),
            None,
        )
        return cls(name, f"arn:aws:codebuild:{region_name}:{account_id}:project/{name}")

    @classmethod
    def delete_in_backend(cls, name: str, account_id: str, region_name: str) -> None:
        from moto.codebuild.models import codebuild_backends

        codebuild_backends[account_id][region_name].codebuild_projects.pop(name, None)


class CodePipelinePipeline(_Model, CloudFormationModel):
    TYPE = "AWS::CodePipeline::Pipeline"
    NAME_PROPERTY = "Name"

    @classmethod
    def create_in_backend(
        cls, name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Self:
        from moto.codepipeline.models import CodePipeline, codepipeline_backends

        pipeline = {
            "name": name,
            "roleArn": properties["RoleArn"],
            "artifactStore": _camel(properties["ArtifactStore"]),
            "stages": _camel([s for s in properties["Stages"] if s]),
            "pipelineType": properties.get("PipelineType", "V1"),
        }
        # Not backend.create_pipeline: moto's role check reads Principal.Service as one string and
        # refuses the list form (["codepipeline.amazonaws.com"]) that IAM accepts.
        model = CodePipeline(account_id, region_name, pipeline)
        model.tags.update({t["Key"]: t["Value"] for t in properties.get("Tags", [])})
        codepipeline_backends[account_id][region_name].pipelines[name] = model
        return cls(name, f"arn:aws:codepipeline:{region_name}:{account_id}:{name}")

    @classmethod
    def delete_in_backend(cls, name: str, account_id: str, region_name: str) -> None:
        from moto.codepipeline.models import codepipeline_backends

        codepipeline_backends[account_id][region_name].pipelines.pop(name, None)


class SnsSubscription(_Model, CloudFormationModel):
    TYPE = "AWS::SNS::Subscription"

    @classmethod
    def create_in_backend(
        cls, name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Self:
        from moto.sns.models import sns_backends

        sub = sns_backends[account_id][region_name].subscribe(
            properties["TopicArn"], properties["Endpoint"], properties["Protocol"]
        )
        return cls(sub.arn, sub.arn)


class SnsTopicPolicy(_Model, CloudFormationModel):
    TYPE = "AWS::SNS::TopicPolicy"

    @classmethod
    def create_in_backend(
        cls, name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Self:
        from moto.sns.models import sns_backends

        for topic in properties["Topics"]:
            sns_backends[account_id][region_name].set_topic_attribute(
                topic, "Policy", json.dumps(properties["PolicyDocument"])
            )
        return cls(name)


class S3BucketPolicy(_Model, CloudFormationModel):
    TYPE = "AWS::S3::BucketPolicy"

    @classmethod
    def create_in_backend(
        cls, name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Self:
        from moto.s3.models import s3_backends

        s3_backends[account_id]["aws"].put_bucket_policy(
            properties["Bucket"], json.dumps(properties["PolicyDocument"]).encode()
        )
        return cls(name)


_installed = False


class EventBusPolicy(_Model, CloudFormationModel):
    """AWS::Events::EventBusPolicy with a Statement: the bus policy through moto's PutPermission (Policy)."""

    TYPE = "AWS::Events::EventBusPolicy"

    @classmethod
    def create_in_backend(
        cls, name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Self:
        from moto.events.models import events_backends

        statement = {**properties["Statement"], "Sid": properties["StatementId"]}
        # Ref of an AWS::Events::EventBus is its name; moto's resource map hands over the bus itself.
        bus = properties.get("EventBusName", "default")
        events_backends[account_id][region_name].put_permission(
            getattr(bus, "name", bus),
            "",
            "",
            "",
            {},
            json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )
        return cls(name)


def install() -> None:
    """Register the models with moto's CloudFormation parser and fix KMS key tags; idempotent."""
    global _installed  # noqa: PLW0603 - one-time patch of a third-party module
    if _installed:
        return
    speedups.remember_regions()  # before moto's CloudFormation parser imports its EC2 models
    speedups.cache_template_parsing()
    from moto.cloudformation import parsing
    from moto.kms import models as kms_models

    original = kms_models.Key.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def key_with_tags(
        cls: Any, name: str, cfn: dict[str, Any], account_id: str, region: str, **kw: Any
    ) -> Any:
        # moto hands CloudFormation's {Key, Value} tags to an API that wants {TagKey, TagValue}.
        props = dict(cfn.get("Properties", {}))
        props["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props.get("Tags", [])]
        props["KeyPolicy"] = (
            json.dumps(props["KeyPolicy"])
            if isinstance(props.get("KeyPolicy"), dict)
            else props.get("KeyPolicy")
        )
        return original(cls, name, {**cfn, "Properties": props}, account_id, region, **kw)

    kms_models.Key.create_from_cloudformation_json = classmethod(key_with_tags)  # type: ignore[method-assign,assignment]
    _install_update_fixes()
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    _installed = True


def _install_update_fixes() -> None:
    """moto's stack update (5.x) as CloudFormation behaves, for redeploying a stack such as org-pipeline
    with a new SyncCodeKey (`generator deploy` through a change set):

    - Parameters: moto compares the new values with only those given at creation, so every parameter
      left at its default looks changed and nearly every resource is "modified"; and a change set's list
      of changes ignores parameters. Here both compare against the previous values, defaults included.
    - Resources whose moto model has no update handler (AWS::KMS::Key, AWS::SNS::Topic, AWS::Logs::
      LogGroup...) became None on "modify", so a later GetAtt on them failed ("Fn::GetAtt references
      undefined resource PipelineKey"). Here such a resource is kept as it is: a moto limitation (it
      has no way to change them in place), so their changed properties keep their old values locally.
    - An executed change set removes every change set of the stack, as CloudFormation does: "After you
      execute a change set, CloudFormation removes all change sets associated with the stack"
      (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-changesets-execute.html).
    """
    from moto.cloudformation import models, parsing

    original_diff = parsing.ResourceMap.build_resource_diff
    original_update = parsing.parse_and_update_resource
    original_execute = models.CloudFormationBackend.execute_change_set

    def resource_diff(self: Any, template: dict[str, Any], parameters: Any = None) -> dict[str, Any]:
        diff: dict[str, Any] = original_diff(self, template, None)
        if not parameters:
            return diff
        old = self._resource_json_map
        previous = {
            name: _param_text(spec["Default"])
            for name, spec in (self._template.get("Parameters") or {}).items()
            if "Default" in spec
        } | {name: _param_text(value) for name, value in self.input_parameters.items()}
        changed = {name for name, value in parameters.items() if previous.get(name) != _param_text(value)}
        for name, resource in template["Resources"].items():
            if name in old and old[name] == resource and changed & _references(resource):
                diff["Modify"].append(name)
        return diff

    def update_resource(logical_id: str, resource_json: dict[str, Any], resources: Any, **kw: Any) -> Any:
        updated = original_update(logical_id, resource_json, resources, **kw)
        return resources[logical_id] if updated is None else updated

    def change_set_diff(self: Any) -> list[Any]:
        actions = self.stack.resource_map.build_resource_diff(self.template_dict, self.parameters)
        old = self.stack.resource_map._resource_json_map
        return [
            models.Change(
                action=action,
                logical_resource_id=name,
                resource_type=(self.template_dict["Resources"].get(name) or old[name])["Type"],
            )
            for action, names in actions.items()
            for name in names
        ]

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        original_execute(self, change_set_name, stack_name)
        executed = next(
            c for key, c in self.change_sets.items() if change_set_name in (key, c.change_set_name)
        )
        for key in [k for k, c in self.change_sets.items() if c.stack_id == executed.stack_id]:
            del self.change_sets[key]

    parsing.ResourceMap.build_resource_diff = resource_diff  # type: ignore[method-assign,assignment]
    parsing.parse_and_update_resource = update_resource  # type: ignore[assignment]
    models.ChangeSet.diff = change_set_diff  # type: ignore[method-assign]
    models.CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]


def _param_text(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _references(resource: Any) -> set[str]:
    """Parameter and resource names a resource refers to: Ref, and ${Name} inside Fn::Sub."""
    if isinstance(resource, dict):
        found = {resource["Ref"]} if isinstance(resource.get("Ref"), str) else set()
        sub = resource.get("Fn::Sub")
        text = sub[0] if isinstance(sub, list) and sub else sub
        if isinstance(text, str):
            found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
        return found.union(*(_references(v) for v in resource.values()))
    if isinstance(resource, list):
        return set().union(*(_references(v) for v in resource))
    return set()
