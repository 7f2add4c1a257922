"""Blueprint: a small web service on ECS-on-EC2 (nginx, app, MySQL) with a persistent EBS volume, secrets,
a budget, billing alarms and a tag-based operator policy, all reproducible from parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import awacs.autoscaling as autoscaling_actions
import awacs.cloudwatch as cloudwatch_actions
import awacs.ec2 as ec2_actions
import awacs.ecs as ecs_actions
import awacs.logs as logs_actions
import awacs.route53 as route53_actions
import awacs.secretsmanager as secretsmanager_actions
import awacs.ssm as ssm_actions
import awacs.sts as sts_actions
from awacs.aws import (
    Action,
    Allow,
    Condition,
    ForAllValuesStringEquals,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import (
    Base64,
    Equals,
    GetAtt,
    If,
    Not,
    Output,
    Parameter,
    Ref,
    Sub,
    Tags,
    Template,
    autoscaling,
    budgets,
    ec2,
    ecs,
    iam,
    logs,
    secretsmanager,
    sns,
)
from troposphere.policies import AutoScalingRollingUpdate, UpdatePolicy

from generator.blueprints.base import (
    PROJECT_PARAMETER,
    Blueprint,
    RenderContext,
    apply_tags,
    new_template,
    standard_tags,
)
from generator.blueprints.parts import ecs_web_service_boot as boot
from generator.blueprints.parts import operator_guards as guards
from generator.blueprints.parts.alerts import BILLING_REGION, add_alert_topic, add_billing_alarm
from generator.blueprints.parts.iam import role_with_policy, service_trust
from generator.blueprints.parts.kms_logs import add_log_group, log_retention_parameter
from generator.blueprints.parts.metadata import checkov_skips

PATH = "app/ecs-web-service.yaml"

ECS_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
ECS_INSTANCE_POLICY = "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
CIDR_PATTERN = r"^(\d{1,3}\.){3}\d{1,3}/(\d|[12]\d|3[0-2])$"
WSGI_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$"
IN_BILLING_REGION = "InBillingRegion"
HAS_SSH = "AllowSsh"
HAS_KEY_PAIR = "HasKeyPair"

# The generated database password: 51 characters, without the characters that break a MySQL URL
# (@ / : ? # %), a shell or an environment file (quotes, backslash, backtick, $, !, &, ;, |, <, >, space).
DB_PASSWORD_LENGTH = 51
DB_PASSWORD_EXCLUDED = "\"'`\\@/:?#%$!&;|<> "
DB_PORT = 3306

# Host folders on the persistent volume, as (volume name, path under the mount point).
HOST_VOLUMES = (
    ("mysql-data", "mysql"),
    ("static", "static"),
    ("nginx-conf", "nginx/conf.d"),
    ("nginx-certs", "nginx/certs"),
)
STATIC_ROOT = "/srv/static"


@dataclass(frozen=True)
class AppSecret:
    """One key of the generic key/value secret, filled from a NoEcho parameter."""

    key: str
    parameter: str
    description: str
    min_length: int
    default: str | None = None


APP_SECRETS = (
    AppSecret("SECRET_KEY", "AppSecretKey", "Django SECRET_KEY (at least 50 characters)", 50),
    AppSecret(
        "EMAIL_HOST_PASSWORD",
        "EmailHostPassword",
        "SMTP password the app sends mail with; empty for none",
        0,
        "",
    ),
)
# The key/value secret is JSON built with Fn::Sub, so its values may not hold a quote or a backslash.
SECRET_VALUE_PATTERN = r'^[^"\\]*$'

# Percentages of the monthly budget, as (notification type, threshold).
BUDGET_NOTIFICATIONS = (("ACTUAL", 85), ("FORECASTED", 100), ("ACTUAL", 100))

# The migration and static steps run on every start, then gunicorn replaces the shell (PID 1 gets signals).
APP_COMMAND = (
    "python manage.py migrate --noinput && python manage.py collectstatic --noinput && "
    "exec gunicorn --bind 0.0.0.0:$APP_PORT --workers ${AppWorkers} ${AppWsgiModule}"
)


@dataclass(frozen=True)
class OperatorGrant:
    """Actions a project's operators may take, on one resource type, only where Project=<name>."""

    sid: str
    actions: tuple[Action, ...]
    resource: str


# Each statement names one resource type's ARNs in this account and region and requires Project=<name>
# on the resource. It fails closed: where a request carries no aws:ResourceTag, StringEquals is false.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/access_tags.html
OPERATOR_GRANTS = (
    OperatorGrant(
        "EcsServices",
        (ecs_actions.DescribeServices, ecs_actions.UpdateService),
        "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:service/*",
    ),
    OperatorGrant(
        "EcsTasks",
        (ecs_actions.DescribeTasks, ecs_actions.StopTask),
        "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/*",
    ),
    OperatorGrant(
        "Instances",
        (ec2_actions.RebootInstances, ec2_actions.StartInstances, ec2_actions.StopInstances),
        "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*",
    ),
    OperatorGrant(
        "AutoScalingGroups",
        (autoscaling_actions.SetDesiredCapacity, autoscaling_actions.UpdateAutoScalingGroup),
        "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/*",
    ),
    OperatorGrant(
        "Secrets",
        (
            secretsmanager_actions.DescribeSecret,
            secretsmanager_actions.GetSecretValue,
            secretsmanager_actions.PutSecretValue,
        ),
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*",
    ),
    # Session Manager shells on the project's instances (ssm:StartSession is authorized on the instance).
    OperatorGrant(
        "Sessions",
        (ssm_actions.StartSession,),
        "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*",
    ),
    OperatorGrant(
        "Alarms",
        (cloudwatch_actions.DisableAlarmActions, cloudwatch_actions.EnableAlarmActions),
        "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*",
    ),
)


@dataclass(frozen=True)
class _Number:
    """A Number parameter from `low` to `high` (no upper bound when None)."""

    name: str
    default: int
    low: int
    high: int | None
    description: str

    def parameter(self) -> Parameter:
        bounds = {"MinValue": self.low} | ({"MaxValue": self.high} if self.high is not None else {})
        return Parameter(
            self.name, Type="Number", Default=self.default, Description=self.description, **bounds
        )


@dataclass(frozen=True)
class _Text:
    """A String parameter matching `pattern` (required when `default` is None); `extra` adds properties."""

    name: str
    default: str | None
    pattern: str
    description: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def parameter(self) -> Parameter:
        kwargs = dict(self.extra)
        if self.default is not None:
            kwargs["Default"] = self.default
        return Parameter(
            self.name, Type="String", AllowedPattern=self.pattern, Description=self.description, **kwargs
        )


@dataclass(frozen=True)
class _Typed:
    """A parameter of an AWS-specific type (the console offers the account's values)."""

    name: str
    aws_type: str
    description: str
    default: str | None = None

    def parameter(self) -> Parameter:
        kwargs = {"Default": self.default} if self.default is not None else {}
        return Parameter(self.name, Type=self.aws_type, Description=self.description, **kwargs)


def _secret(secret: AppSecret) -> _Text:
    return _Text(
        secret.parameter,
        secret.default,
        SECRET_VALUE_PATTERN,
        f"{secret.description}; stored in the app secret under {secret.key}",
        {
            "NoEcho": True,
            "MinLength": secret.min_length,
            "ConstraintDescription": "no double quote or backslash",
        },
    )


_SIZE = "Auto Scaling group {}: 1 runs the service, 0 stops it (one volume fits one instance)"

# The blueprint's parameters (besides Project, LogRetentionDays, AlertEmail) by console group.
PARAMETER_GROUPS: tuple[tuple[str, tuple[_Number | _Text | _Typed, ...]], ...] = (
    (
        "Network",
        (
            _Text("VpcCidr", "10.0.0.0/27", CIDR_PATTERN, "CIDR block of the VPC"),
            _Text("PublicSubnetCidr", "10.0.0.0/28", CIDR_PATTERN, "CIDR of the public subnet"),
            _Text("PrivateSubnetCidr", "10.0.0.16/28", CIDR_PATTERN, "CIDR of the private subnet"),
            _Typed(
                "AvailabilityZone",
                "AWS::EC2::AvailabilityZone::Name",
                "Availability Zone of both subnets: the persistent volume's, or it cannot attach",
            ),
            _Text("SshCidr", "", "^$|" + CIDR_PATTERN, "CIDR allowed to SSH (22); empty: no SSH at all"),
            _Text("KeyPairName", "", r"^$|^[\x20-\x7E]{1,255}$", "EC2 key pair for SSH; empty for none"),
        ),
    ),
    (
        "Instance",
        (
            _Text("InstanceType", "t3a.micro", r"^[a-z0-9-]+\.[a-z0-9]+$", "EC2 instance type"),
            _Typed(
                "EcsAmiId",
                "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
                "SSM parameter holding the ECS-optimized AMI id (public Amazon Linux 2023 by default)",
                default=ECS_AMI_PARAMETER,
            ),
            _Number("RootVolumeSize", 30, 30, 16384, "GiB of the encrypted gp3 root volume"),
            _Number("MinSize", 1, 0, 1, _SIZE.format("MinSize")),
            _Number("MaxSize", 1, 0, 1, _SIZE.format("MaxSize")),
            _Number("DesiredCapacity", 1, 0, 1, _SIZE.format("DesiredCapacity")),
        ),
    ),
    (
        "Persistent volume and DNS",
        (
            _Typed(
                "DataVolumeId",
                "AWS::EC2::Volume::Id",
                "Persistent EBS volume in AvailabilityZone: MySQL data, nginx config, certificates",
            ),
            _Text("DataVolumeDevice", "/dev/xvdf", r"^/dev/(sd|xvd)[f-p]$", "Device to attach it as"),
            _Text("DataMountPoint", "/data", r"^(/[a-z0-9_-]+)+$", "Where it is mounted on the instance"),
            _Typed("HostedZoneId", "AWS::Route53::HostedZone::Id", "Route 53 hosted zone of RecordName"),
            _Text(
                "RecordName",
                None,
                r"^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z]{2,63}$",
                "A record pointed at the instance: lower case, no final dot (as Route 53 IAM compares it)",
            ),
            _Number("RecordTtl", 60, 30, 86400, "TTL in seconds of the A record"),
        ),
    ),
    (
        "Containers",
        (
            _Text("AppImage", None, r"^\S+$", "Image of the web app (manage.py and gunicorn inside)"),
            _Number("AppPort", 8000, 1024, 65535, "Port gunicorn listens on in the app container (APP_PORT)"),
            _Text("AppWsgiModule", "app.wsgi:application", WSGI_PATTERN, "WSGI application gunicorn serves"),
            _Number("AppWorkers", 2, 1, 32, "gunicorn worker processes"),
            _Text("ProxyImage", "public.ecr.aws/nginx/nginx:1.27-alpine", r"^\S+$", "nginx image"),
            _Text("DbImage", "public.ecr.aws/docker/library/mysql:8.4", r"^\S+$", "MySQL image"),
            _Text("DbName", "app", r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", "Database the app uses"),
            _Text("DbUser", "app", r"^[A-Za-z_][A-Za-z0-9_]{0,31}$", "Database user the app connects as"),
            _Number("TaskMemory", 922, 128, None, "MiB: hard memory limit of the task (a t3a.micro's share)"),
            _Number("ProxyCpu", 128, 0, 10240, "CPU units of the proxy container (1024 = one vCPU)"),
            _Number("AppCpu", 1024, 0, 10240, "CPU units of the app container"),
            _Number("DbCpu", 512, 0, 10240, "CPU units of the database container"),
            _Number("ProxyMemoryReservation", 64, 6, None, "MiB reserved (soft limit) for the proxy"),
            _Number("AppMemoryReservation", 448, 6, None, "MiB reserved (soft limit) for the app"),
            _Number("DbMemoryReservation", 384, 6, None, "MiB reserved (soft limit) for the database"),
        ),
    ),
    ("Secrets", tuple(_secret(s) for s in APP_SECRETS)),
    (
        "Budget and billing alarms",
        (
            _Number(
                "BudgetAmount",
                10,
                1,
                None,
                "USD a month: notified at 85% actual, 100% forecast and actual",
            ),
            _Number("BillingWarningThreshold", 10, 1, None, "USD: billing alarm (us-east-1 only)"),
            _Number("BillingCriticalThreshold", 15, 1, None, "USD: second billing alarm (us-east-1 only)"),
        ),
    ),
)


def parameter_groups() -> tuple[tuple[str, tuple[Parameter, ...]], ...]:
    """The blueprint's parameters (besides Project, LogRetentionDays, AlertEmail) by console group."""
    return tuple((label, tuple(spec.parameter() for spec in specs)) for label, specs in PARAMETER_GROUPS)


@dataclass(frozen=True)
class Network:
    vpc: ec2.VPC
    public_subnet: ec2.Subnet
    private_subnet: ec2.Subnet
    security_group: ec2.SecurityGroup


def _network(t: Template) -> Network:
    vpc = t.add_resource(
        ec2.VPC(
            "Vpc",
            CidrBlock=Ref("VpcCidr"),
            EnableDnsSupport=True,
            EnableDnsHostnames=True,
        )
    )
    subnets = _subnets(t, vpc)
    _internet_route(t, vpc, subnets["Public"][1])
    security_group = _security_group(t, vpc)
    return Network(vpc, subnets["Public"][0], subnets["Private"][0], security_group)


def _subnets(t: Template, vpc: ec2.VPC) -> dict[str, tuple[ec2.Subnet, ec2.RouteTable]]:
    """The public and the private subnet, each with its route table, by kind."""
    subnets = {}
    for kind in ("Public", "Private"):
        subnet = t.add_resource(
            ec2.Subnet(
                f"{kind}Subnet",
                VpcId=Ref(vpc),
                CidrBlock=Ref(f"{kind}SubnetCidr"),
                AvailabilityZone=Ref("AvailabilityZone"),
                MapPublicIpOnLaunch=False,
            )
        )
        table = t.add_resource(ec2.RouteTable(f"{kind}RouteTable", VpcId=Ref(vpc)))
        t.add_resource(
            ec2.SubnetRouteTableAssociation(
                f"{kind}SubnetRouteTableAssociation", SubnetId=Ref(subnet), RouteTableId=Ref(table)
            )
        )
        subnets[kind] = (subnet, table)
    return subnets


def _internet_route(t: Template, vpc: ec2.VPC, public_table: ec2.RouteTable) -> None:
    """The internet gateway and the public subnet's default route through it."""
    gateway = t.add_resource(ec2.InternetGateway("InternetGateway"))
    attachment = t.add_resource(
        ec2.VPCGatewayAttachment("InternetGatewayAttachment", VpcId=Ref(vpc), InternetGatewayId=Ref(gateway))
    )
    t.add_resource(
        ec2.Route(
            "PublicDefaultRoute",
            DependsOn=[attachment.title],
            RouteTableId=Ref(public_table),
            DestinationCidrBlock="0.0.0.0/0",
            GatewayId=Ref(gateway),
        )
    )


def _tcp_rule(port: int, cidr: Any, description: str) -> ec2.SecurityGroupRule:
    return ec2.SecurityGroupRule(
        IpProtocol="tcp", FromPort=port, ToPort=port, CidrIp=cidr, Description=description
    )


def _security_group(t: Template, vpc: ec2.VPC) -> ec2.SecurityGroup:
    """HTTP and HTTPS from anywhere, SSH only from SshCidr (when given); egress only to what the instance needs."""
    security_group = t.add_resource(
        ec2.SecurityGroup(
            "InstanceSecurityGroup",
            GroupDescription="Web service instance: HTTP and HTTPS from anywhere, SSH only from SshCidr",
            VpcId=Ref(vpc),
            SecurityGroupIngress=[
                _tcp_rule(80, "0.0.0.0/0", "HTTP from anywhere (nginx)"),
                _tcp_rule(443, "0.0.0.0/0", "HTTPS from anywhere (nginx)"),
            ],
            # Egress limited to what the instance needs: HTTPS (AWS APIs, image registries, packages),
            # HTTP (package mirrors) and SMTP submission (the app's mail). DNS to the VPC resolver and
            # NTP to 169.254.169.123 are not filtered by security groups.
            SecurityGroupEgress=[
                _tcp_rule(443, "0.0.0.0/0", "HTTPS: AWS APIs, image registries, packages"),
                _tcp_rule(80, "0.0.0.0/0", "HTTP: package mirrors"),
                _tcp_rule(587, "0.0.0.0/0", "SMTP submission: the app's mail"),
            ],
            Metadata=checkov_skips(
                (
                    "CKV_AWS_260",
                    "a public web server: port 80 must be open to everyone to serve HTTP and redirect to HTTPS",
                ),
            ),
        )
    )
    t.add_resource(
        ec2.SecurityGroupIngress(
            "SshIngress",
            Condition=HAS_SSH,
            GroupId=Ref(security_group),
            IpProtocol="tcp",
            FromPort=22,
            ToPort=22,
            CidrIp=Ref("SshCidr"),
            Description="SSH from the operators' CIDR (SshCidr)",
        )
    )
    return security_group


@dataclass(frozen=True)
class Secrets:
    db_password: secretsmanager.Secret
    app: secretsmanager.Secret


def _secrets(t: Template) -> Secrets:
    cmk_reason = (
        "CKV_AWS_149",
        "encrypted with the AWS managed key aws/secretsmanager; a customer managed key costs 1 USD a month, "
        "a tenth of this budget",
    )
    db_password = t.add_resource(
        secretsmanager.Secret(
            "DbPasswordSecret",
            # MySQL keeps the first password in its data on the persistent volume, which outlives the
            # stack: the secret must outlive it too, or the data becomes unreachable.
            DeletionPolicy="Retain",
            UpdateReplacePolicy="Retain",
            Description=Sub("${Project}: generated password of the app's MySQL user"),
            GenerateSecretString=secretsmanager.GenerateSecretString(
                PasswordLength=DB_PASSWORD_LENGTH, ExcludeCharacters=DB_PASSWORD_EXCLUDED
            ),
            Metadata=checkov_skips(cmk_reason),
        )
    )
    json_body = ",".join(f'"{s.key}":"${{{s.parameter}}}"' for s in APP_SECRETS)
    app = t.add_resource(
        secretsmanager.Secret(
            "AppSecret",
            # Its values are the stack's own NoEcho parameters: nothing is lost with it.
            DeletionPolicy="Delete",
            UpdateReplacePolicy="Delete",
            Description=Sub(
                "${Project}: the app's key/value secrets, referenced by key in the task definition"
            ),
            SecretString=Sub("{" + json_body + "}"),
            Metadata=checkov_skips(cmk_reason),
        )
    )
    return Secrets(db_password, app)


def _instance_role(t: Template) -> iam.Role:
    volume_arn = Sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:volume/${DataVolumeId}")
    instance_arn = Sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*")
    # EC2's role trust takes no confused-deputy condition: the instance profile is what limits its use.
    ec2_trust = PolicyDocument(
        Version="2012-10-17",
        Statement=[
            Statement(
                Effect=Allow,
                Principal=Principal("Service", "ec2.amazonaws.com"),
                Action=[sts_actions.AssumeRole],
            )
        ],
    )
    return t.add_resource(
        role_with_policy(
            "InstanceRole",
            "ECS container instance: attach its data volume, update its DNS record, join the cluster",
            ec2_trust,
            [
                Statement(
                    Sid="AttachTheDataVolume",
                    Effect=Allow,
                    Action=[ec2_actions.AttachVolume, ec2_actions.DetachVolume],
                    Resource=[volume_arn],
                ),
                # AttachVolume is authorized on the instance too: only this project's instances.
                Statement(
                    Sid="AttachToProjectInstances",
                    Effect=Allow,
                    Action=[ec2_actions.AttachVolume, ec2_actions.DetachVolume],
                    Resource=[instance_arn],
                    Condition=_project_tag_condition(),
                ),
                # ec2:DescribeVolumes has no resource-level permissions (Service Authorization
                # Reference, Amazon EC2: the Resource types column is empty), so it must be "*".
                Statement(
                    Sid="DescribeVolumes",
                    Effect=Allow,
                    Action=[ec2_actions.DescribeVolumes],
                    Resource=["*"],
                ),
                Statement(
                    Sid="UpsertTheARecord",
                    Effect=Allow,
                    Action=[route53_actions.ChangeResourceRecordSets],
                    Resource=[Sub("arn:${AWS::Partition}:route53:::hostedzone/${HostedZoneId}")],
                    # https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/specifying-conditions-route53.html
                    Condition=Condition(
                        ForAllValuesStringEquals(
                            {
                                "route53:ChangeResourceRecordSetsNormalizedRecordNames": [Ref("RecordName")],
                                "route53:ChangeResourceRecordSetsRecordTypes": ["A"],
                                "route53:ChangeResourceRecordSetsActions": ["UPSERT"],
                            }
                        )
                    ),
                ),
                # No secrets: the task execution role injects them; nothing on the instance reads one.
                # Shell access is Session Manager's, not SSH's (SshCidr and KeyPairName stay empty).
                *guards.session_manager_instance_statements(),
            ],
            ManagedPolicyArns=[Sub(ECS_INSTANCE_POLICY)],
        )
    )


def _project_tag_condition() -> Condition:
    return Condition(StringEquals(f"aws:ResourceTag/{PROJECT_PARAMETER}", Ref(PROJECT_PARAMETER)))


def _resource_tags(project: Parameter) -> Tags:
    return Tags(**standard_tags(project))


def _launch_template(
    t: Template, project: Parameter, network: Network, role: iam.Role, *, cluster: ecs.Cluster, user_data: str
) -> ec2.LaunchTemplate:
    profile = t.add_resource(iam.InstanceProfile("InstanceProfile", Roles=[Ref(role)]))
    return t.add_resource(
        ec2.LaunchTemplate(
            "LaunchTemplate",
            LaunchTemplateData=ec2.LaunchTemplateData(
                ImageId=Ref("EcsAmiId"),
                InstanceType=Ref("InstanceType"),
                IamInstanceProfile=ec2.IamInstanceProfile(Arn=GetAtt(profile, "Arn")),
                KeyName=If(HAS_KEY_PAIR, Ref("KeyPairName"), Ref("AWS::NoValue")),
                EbsOptimized=True,
                # IMDSv2 only, and one hop: bridge-mode containers cannot reach the instance role's credentials.
                # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html
                MetadataOptions=ec2.MetadataOptions(
                    HttpEndpoint="enabled", HttpTokens="required", HttpPutResponseHopLimit=1
                ),
                NetworkInterfaces=[
                    ec2.NetworkInterfaces(
                        DeviceIndex=0,
                        AssociatePublicIpAddress=True,
                        DeleteOnTermination=True,
                        Groups=[Ref(network.security_group)],
                    )
                ],
                BlockDeviceMappings=[
                    ec2.LaunchTemplateBlockDeviceMapping(
                        DeviceName="/dev/xvda",
                        Ebs=ec2.EBSBlockDevice(
                            VolumeType="gp3",
                            VolumeSize=Ref("RootVolumeSize"),
                            Encrypted=True,
                            DeleteOnTermination=True,
                        ),
                    )
                ],
                TagSpecifications=[
                    ec2.TagSpecifications(ResourceType=kind, Tags=_resource_tags(project))
                    for kind in ("instance", "volume", "network-interface")
                ],
                UserData=Base64(Sub(user_data, Cluster=Ref(cluster))),
            ),
            TagSpecifications=[
                ec2.TagSpecifications(ResourceType="launch-template", Tags=_resource_tags(project))
            ],
            Metadata=checkov_skips(
                (
                    "CKV_AWS_88",
                    "the instance is the web server and has no load balancer or NAT gateway in front (budget): "
                    "it needs a public address, which the security group limits to 80, 443 and optional SSH",
                ),
            ),
        )
    )


def _auto_scaling_group(
    t: Template, network: Network, launch_template: ec2.LaunchTemplate
) -> autoscaling.AutoScalingGroup:
    return t.add_resource(
        autoscaling.AutoScalingGroup(
            "AutoScalingGroup",
            AutoScalingGroupName=Sub("${Project}-web"),
            MinSize=Ref("MinSize"),
            MaxSize=Ref("MaxSize"),
            DesiredCapacity=Ref("DesiredCapacity"),
            VPCZoneIdentifier=[Ref(network.public_subnet)],
            LaunchTemplate=autoscaling.LaunchTemplateSpecification(
                LaunchTemplateId=Ref(launch_template),
                Version=GetAtt(launch_template, "LatestVersionNumber"),
            ),
            HealthCheckType="EC2",
            HealthCheckGracePeriod=300,
            NewInstancesProtectedFromScaleIn=False,
            # One volume, one instance: the old instance goes first, then the new one attaches the volume.
            UpdatePolicy=UpdatePolicy(
                AutoScalingRollingUpdate=AutoScalingRollingUpdate(MinInstancesInService=0, MaxBatchSize=1)
            ),
        )
    )


def _execution_role(t: Template, secrets: Secrets, log_groups: list[Any]) -> iam.Role:
    # Confused-deputy guard: only ECS acting for this account and region may assume it.
    # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html
    trust = service_trust(
        "ecs-tasks.amazonaws.com", Sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*")
    )
    return t.add_resource(
        role_with_policy(
            "TaskExecutionRole",
            "ECS task execution: write the containers' logs and read the stack's secrets",
            trust,
            [
                Statement(
                    Sid="ContainerLogs",
                    Effect=Allow,
                    Action=[logs_actions.CreateLogStream, logs_actions.PutLogEvents],
                    Resource=[GetAtt(g, "Arn") for g in log_groups],
                ),
                Statement(
                    Sid="InjectSecrets",
                    Effect=Allow,
                    Action=[secretsmanager_actions.GetSecretValue],
                    Resource=[Ref(secrets.db_password), Ref(secrets.app)],
                ),
            ],
        )
    )


def _container(name: str, log_groups: Mapping[str, logs.LogGroup], **kwargs: Any) -> ecs.ContainerDefinition:
    """A container whose image, CPU and memory reservation are the `<Name>...` parameters, logging to its group."""
    prefix = name.capitalize()
    return ecs.ContainerDefinition(
        Name=name,
        Image=Ref(f"{prefix}Image"),
        Cpu=Ref(f"{prefix}Cpu"),
        MemoryReservation=Ref(f"{prefix}MemoryReservation"),
        Essential=True,
        LogConfiguration=ecs.LogConfiguration(
            LogDriver="awslogs",
            Options={
                "awslogs-group": Ref(log_groups[name]),
                "awslogs-region": Ref("AWS::Region"),
                "awslogs-stream-prefix": name,
            },
        ),
        **kwargs,
    )


def _mount(volume: str, path: str, read_only: bool) -> ecs.MountPoint:
    return ecs.MountPoint(SourceVolume=volume, ContainerPath=path, ReadOnly=read_only)


def _env(**values: Any) -> list[ecs.Environment]:
    return [ecs.Environment(Name=k, Value=v) for k, v in values.items()]


def _proxy(log_groups: Mapping[str, logs.LogGroup]) -> ecs.ContainerDefinition:
    """nginx on host ports 80 and 443, with its config, certificates and the static files from the volume."""
    return _container(
        "proxy",
        log_groups,
        PortMappings=[ecs.PortMapping(ContainerPort=p, HostPort=p, Protocol="tcp") for p in (80, 443)],
        Links=["app"],
        DependsOn=[ecs.ContainerDependency(ContainerName="app", Condition="START")],
        MountPoints=[
            _mount("nginx-conf", "/etc/nginx/conf.d", True),
            _mount("nginx-certs", "/etc/nginx/certs", True),
            _mount("static", STATIC_ROOT, True),
        ],
    )


def _app(log_groups: Mapping[str, logs.LogGroup], secrets: Secrets) -> ecs.ContainerDefinition:
    """The web app: migrations, static files, then gunicorn, once the database is healthy."""
    app_secrets = [ecs.Secret(Name="DATABASE_PASSWORD", ValueFrom=Ref(secrets.db_password))] + [
        # A key of a JSON secret: <secret ARN>:<json key>:<version stage>:<version id>, empty for current.
        # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html
        ecs.Secret(Name=s.key, ValueFrom=Sub(f"${{AppSecret}}:{s.key}::"))
        for s in APP_SECRETS
    ]
    return _container(
        "app",
        log_groups,
        Command=["sh", "-c", Sub(APP_COMMAND)],
        Environment=_env(
            APP_PORT=Ref("AppPort"),
            ALLOWED_HOSTS=Ref("RecordName"),
            DATABASE_HOST="db",
            DATABASE_PORT=str(DB_PORT),
            DATABASE_NAME=Ref("DbName"),
            DATABASE_USER=Ref("DbUser"),
            STATIC_ROOT=STATIC_ROOT,
        ),
        Secrets=app_secrets,
        Links=["db"],
        DependsOn=[ecs.ContainerDependency(ContainerName="db", Condition="HEALTHY")],
        MountPoints=[_mount("static", STATIC_ROOT, False)],
    )


def _db(log_groups: Mapping[str, logs.LogGroup], secrets: Secrets) -> ecs.ContainerDefinition:
    """MySQL with its data on the persistent volume."""
    return _container(
        "db",
        log_groups,
        # Performance schema off: it alone takes a few hundred MiB, a third of a t3a.micro.
        Command=["--performance-schema=OFF", f"--port={DB_PORT}"],
        Environment=_env(
            MYSQL_DATABASE=Ref("DbName"), MYSQL_USER=Ref("DbUser"), MYSQL_RANDOM_ROOT_PASSWORD="yes"
        ),
        Secrets=[ecs.Secret(Name="MYSQL_PASSWORD", ValueFrom=Ref(secrets.db_password))],
        MountPoints=[_mount("mysql-data", "/var/lib/mysql", False)],
        HealthCheck=ecs.HealthCheck(
            Command=["CMD-SHELL", f"mysqladmin ping -h 127.0.0.1 -P {DB_PORT} --silent"],
            Interval=10,
            Timeout=5,
            Retries=10,
            StartPeriod=60,
        ),
    )


def _task_definition(t: Template, secrets: Secrets, retention: Parameter) -> ecs.TaskDefinition:
    log_groups = {
        name: add_log_group(
            t, f"{name.capitalize()}LogGroup", retention, LogGroupName=Sub(f"/ecs/${{Project}}/{name}")
        )
        for name in ("proxy", "app", "db")
    }
    execution_role = _execution_role(t, secrets, list(log_groups.values()))
    return t.add_resource(
        ecs.TaskDefinition(
            "TaskDefinition",
            Family=Sub("${Project}-web"),
            RequiresCompatibilities=["EC2"],
            NetworkMode="bridge",
            Memory=Ref("TaskMemory"),
            ExecutionRoleArn=GetAtt(execution_role, "Arn"),
            ContainerDefinitions=[_proxy(log_groups), _app(log_groups, secrets), _db(log_groups, secrets)],
            Volumes=[
                ecs.Volume(Name=name, Host=ecs.Host(SourcePath=Sub(f"${{DataMountPoint}}/{path}")))
                for name, path in HOST_VOLUMES
            ],
        )
    )


def _cluster_and_service(
    t: Template, asg: autoscaling.AutoScalingGroup, task_definition: ecs.TaskDefinition, cluster: ecs.Cluster
) -> ecs.Service:
    provider = t.add_resource(
        ecs.CapacityProvider(
            "CapacityProvider",
            AutoScalingGroupProvider=ecs.AutoScalingGroupProvider(
                AutoScalingGroupArn=Ref(asg),
                ManagedScaling=ecs.ManagedScaling(
                    Status="ENABLED", TargetCapacity=100, MinimumScalingStepSize=1, MaximumScalingStepSize=1
                ),
                # Termination protection would keep the instance running when the cost guard sets the
                # group to 0 (protected instances survive scale-in), so it stays off.
                ManagedTerminationProtection="DISABLED",
                ManagedDraining="ENABLED",
            ),
        )
    )
    association = t.add_resource(
        ecs.ClusterCapacityProviderAssociations(
            "ClusterCapacityProviders",
            Cluster=Ref(cluster),
            CapacityProviders=[Ref(provider)],
            DefaultCapacityProviderStrategy=[
                ecs.CapacityProviderStrategy(CapacityProvider=Ref(provider), Weight=1)
            ],
        )
    )
    return t.add_resource(
        ecs.Service(
            "Service",
            # The service cannot use the capacity provider before the cluster has it.
            DependsOn=[association.title],
            ServiceName=Sub("${Project}-web"),
            Cluster=Ref(cluster),
            TaskDefinition=Ref(task_definition),
            DesiredCount=1,
            CapacityProviderStrategy=[
                ecs.CapacityProviderStrategyItem(CapacityProvider=Ref(provider), Weight=1)
            ],
            # Host ports 80/443 and one volume: the old task must stop before the new one starts.
            DeploymentConfiguration=ecs.DeploymentConfiguration(
                MinimumHealthyPercent=0,
                MaximumPercent=100,
                DeploymentCircuitBreaker=ecs.DeploymentCircuitBreaker(Enable=True, Rollback=True),
            ),
            EnableECSManagedTags=True,
            PropagateTags="SERVICE",
        )
    )


def _budget(t: Template, project: Parameter, topic: Any) -> budgets.Budget:
    return t.add_resource(
        budgets.Budget(
            "MonthlyBudget",
            Budget=budgets.BudgetData(
                BudgetName=Sub("${Project}-monthly"),
                BudgetType="COST",
                TimeUnit="MONTHLY",
                BudgetLimit=budgets.Spend(Amount=Ref("BudgetAmount"), Unit="USD"),
            ),
            NotificationsWithSubscribers=[
                budgets.NotificationWithSubscribers(
                    Notification=budgets.Notification(
                        NotificationType=kind,
                        ComparisonOperator="GREATER_THAN",
                        Threshold=percent,
                        ThresholdType="PERCENTAGE",
                    ),
                    Subscribers=[budgets.Subscriber(SubscriptionType="SNS", Address=Ref(topic))],
                )
                for kind, percent in BUDGET_NOTIFICATIONS
            ],
            ResourceTags=[
                budgets.ResourceTag(Key=k, Value=v) for k, v in sorted(standard_tags(project).items())
            ],
        )
    )


def _operator_policy(t: Template) -> iam.ManagedPolicy:
    return t.add_resource(
        iam.ManagedPolicy(
            "OperatorPolicy",
            Description=Sub("Operate the ${Project} web service: only resources tagged Project=${Project}"),
            PolicyDocument=PolicyDocument(
                Version="2012-10-17",
                Statement=[
                    *(
                        Statement(
                            Sid=grant.sid,
                            Effect=Allow,
                            Action=list(grant.actions),
                            Resource=[Sub(grant.resource)],
                            Condition=_project_tag_condition(),
                        )
                        for grant in OPERATOR_GRANTS
                    ),
                    guards.start_sessions_document(),
                    guards.keep_billing_alarms(),
                    guards.keep_project_tags(),
                ],
            ),
        )
    )


def _cluster(t: Template, project: Parameter) -> ecs.Cluster:
    return t.add_resource(
        ecs.Cluster(
            "Cluster",
            ClusterName=Ref(project),
            ClusterSettings=[ecs.ClusterSetting(Name="containerInsights", Value="disabled")],
            Metadata=checkov_skips(
                (
                    "CKV_AWS_65",
                    "Container Insights bills custom metrics and log ingestion, several USD a month on a 10 USD budget",
                ),
            ),
        )
    )


def _alerts(t: Template, project: Parameter) -> sns.Topic:
    """The alert topic, the monthly budget and the billing alarms (in us-east-1) that notify it."""
    topic = add_alert_topic(t)
    _budget(t, project, topic)
    for level in ("Warning", "Critical"):
        add_billing_alarm(
            t,
            f"Billing{level}Alarm",
            t.parameters[f"Billing{level}Threshold"],
            topic,
            description=f"Estimated charges this month passed the {level.lower()} threshold",
            condition=IN_BILLING_REGION,
            alarm_name=guards.billing_alarm_name(level),
        )
    return topic


def _interface(
    project: Parameter, groups: tuple[tuple[str, tuple[Parameter, ...]], ...], retention: Parameter
) -> dict[str, Any]:
    """The console's parameter groups."""
    # Parameters the shared helpers add go with the group they configure, for the console's form.
    extra = {"Containers": [retention.title], "Budget and billing alarms": ["AlertEmail"]}
    return {
        "AWS::CloudFormation::Interface": {
            "ParameterGroups": [
                {
                    "Label": {"default": label},
                    "Parameters": [p.title for p in parameters] + extra.get(label, []),
                }
                for label, parameters in (("Project", (project,)), *groups)
            ]
        }
    }


def build_template(user_data: str) -> Template:
    """The template; `user_data` is the boot script, with Fn::Sub references to the parameters."""
    t, project = new_template(
        "ECS-on-EC2 web service (nginx, app, MySQL) on one instance with a persistent EBS volume, secrets, "
        "a Route 53 record, budget and billing alarms and a tag-based operator policy. Its Auto Scaling "
        "group is what the cost-guard template stops.",
        project_default="webapp",
    )
    groups = parameter_groups()
    for _, parameters in groups:
        for parameter in parameters:
            t.add_parameter(parameter)
    retention = log_retention_parameter(t, default=365)
    t.add_condition(HAS_SSH, Not(Equals(Ref("SshCidr"), "")))
    t.add_condition(HAS_KEY_PAIR, Not(Equals(Ref("KeyPairName"), "")))
    t.add_condition(IN_BILLING_REGION, Equals(Ref("AWS::Region"), BILLING_REGION))

    network = _network(t)
    secrets = _secrets(t)
    cluster = _cluster(t, project)
    role = _instance_role(t)
    launch_template = _launch_template(t, project, network, role, cluster=cluster, user_data=user_data)
    asg = _auto_scaling_group(t, network, launch_template)
    task_definition = _task_definition(t, secrets, retention)
    service = _cluster_and_service(t, asg, task_definition, cluster)

    topic = _alerts(t, project)
    operator_policy = _operator_policy(t)

    t.set_metadata(_interface(project, groups, retention))
    t.add_output(
        [
            Output("ClusterName", Value=Ref(cluster)),
            Output("ServiceName", Value=GetAtt(service, "Name")),
            Output(
                "AutoScalingGroupName",
                Value=Ref(asg),
                Description="Set MinSize, MaxSize and DesiredCapacity back after the cost guard stopped it",
            ),
            Output("VpcId", Value=Ref(network.vpc)),
            Output("PublicSubnetId", Value=Ref(network.public_subnet)),
            Output("PrivateSubnetId", Value=Ref(network.private_subnet)),
            Output("InstanceRoleArn", Value=GetAtt(role, "Arn")),
            Output("DbPasswordSecretArn", Value=Ref(secrets.db_password)),
            Output("AppSecretArn", Value=Ref(secrets.app)),
            Output("AlertTopicArn", Value=Ref(topic)),
            Output(
                "OperatorPolicyArn",
                Value=Ref(operator_policy),
                Description="Attach to the project's operators",
            ),
        ]
    )
    return apply_tags(t, standard_tags(project))


def build(ctx: RenderContext) -> Mapping[str, Template]:
    return {PATH: build_template(boot.SCRIPT)}


BLUEPRINT = Blueprint(
    name="ecs-web-service",
    description="ECS-on-EC2 web service: persistent volume, secrets, DNS, budget and billing alarms, ABAC policy",
    outputs=(PATH,),
    build=build,
    module=__name__,
)
