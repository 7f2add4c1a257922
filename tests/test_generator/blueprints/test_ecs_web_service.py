"""The ECS web service blueprint: parameters, boot script, IAM scoping, containers, billing and ABAC."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.blueprints import ecs_web_service as blueprint
from generator.blueprints.base import RenderContext
from tests.support.paths import ROOT

PROJECT_TAG = {"StringEquals": {"aws:ResourceTag/Project": {"Ref": "Project"}}}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return blueprint.BLUEPRINT.build(RenderContext(root=ROOT))[blueprint.PATH].to_dict()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def props(resources: dict[str, Any], name: str) -> Any:
    return resources[name]["Properties"]


# ---------------------------------------------------------------------------------------------------------
# Parameters

EXPECTED_PARAMETERS = {
    "Project": ("String", "webapp"),
    "VpcCidr": ("String", "10.0.0.0/27"),
    "PublicSubnetCidr": ("String", "10.0.0.0/28"),
    "PrivateSubnetCidr": ("String", "10.0.0.16/28"),
    "AvailabilityZone": ("AWS::EC2::AvailabilityZone::Name", None),
    "SshCidr": ("String", ""),
    "KeyPairName": ("String", ""),
    "InstanceType": ("String", "t3a.micro"),
    "EcsAmiId": (
        "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
        "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
    ),
    "RootVolumeSize": ("Number", 30),
    "MinSize": ("Number", 1),
    "MaxSize": ("Number", 1),
    "DesiredCapacity": ("Number", 1),
    "DataVolumeId": ("AWS::EC2::Volume::Id", None),
    "DataVolumeDevice": ("String", "/dev/xvdf"),
    "DataMountPoint": ("String", "/data"),
    "HostedZoneId": ("AWS::Route53::HostedZone::Id", None),
    "RecordName": ("String", None),
    "RecordTtl": ("Number", 60),
    "AppImage": ("String", None),
    "AppPort": ("Number", 8000),
    "AppWsgiModule": ("String", "app.wsgi:application"),
    "AppWorkers": ("Number", 2),
    "ProxyImage": ("String", "public.ecr.aws/nginx/nginx:1.27-alpine"),
    "DbImage": ("String", "public.ecr.aws/docker/library/mysql:8.4"),
    "DbName": ("String", "app"),
    "DbUser": ("String", "app"),
    "TaskMemory": ("Number", 922),
    "ProxyCpu": ("Number", 128),
    "AppCpu": ("Number", 1024),
    "DbCpu": ("Number", 512),
    "ProxyMemoryReservation": ("Number", 64),
    "AppMemoryReservation": ("Number", 448),
    "DbMemoryReservation": ("Number", 384),
    "LogRetentionDays": ("Number", 365),
    "AppSecretKey": ("String", None),
    "EmailHostPassword": ("String", ""),
    "AlertEmail": ("String", None),
    "BudgetAmount": ("Number", 10),
    "BillingWarningThreshold": ("Number", 10),
    "BillingCriticalThreshold": ("Number", 15),
}


def test_parameters_types_and_defaults(template: dict[str, Any]) -> None:
    actual = {name: (p["Type"], p.get("Default")) for name, p in template["Parameters"].items()}
    assert actual == EXPECTED_PARAMETERS


def test_secret_parameters_are_no_echo(template: dict[str, Any]) -> None:
    no_echo = sorted(name for name, p in template["Parameters"].items() if p.get("NoEcho"))
    assert no_echo == ["AppSecretKey", "EmailHostPassword"]


def test_every_parameter_is_in_exactly_one_console_group(template: dict[str, Any]) -> None:
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    listed = [name for group in groups for name in group["Parameters"]]
    assert sorted(listed) == sorted(template["Parameters"])


@pytest.mark.parametrize(
    ("parameter", "value", "accepted"),
    [
        ("VpcCidr", "10.0.0.0/27", True),
        ("VpcCidr", "10.0.0.0", False),
        ("SshCidr", "", True),
        ("SshCidr", "203.0.113.7/32", True),
        ("SshCidr", "0.0.0.0/33", False),
        ("RecordName", "app.example.com", True),
        ("RecordName", "App.example.com", False),
        ("RecordName", "app.example.com.", False),
        ("DataVolumeDevice", "/dev/xvdf", True),
        ("DataVolumeDevice", "/dev/xvda", False),
        ("DataMountPoint", "/srv/data", True),
        ("DataMountPoint", "/data/", False),
        ("AppWsgiModule", "mysite.wsgi:application", True),
        ("AppWsgiModule", "mysite.wsgi", False),
        ("AppSecretKey", "s3cr3t-with-symbols!@#$%^&*()", True),
        ("AppSecretKey", 'has"quote', False),
        ("AppSecretKey", "has\\backslash", False),
        ("AppImage", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1a2b3c4", True),
        ("AppImage", "app image", False),
    ],
)
def test_parameter_patterns(template: dict[str, Any], parameter: str, value: str, accepted: bool) -> None:
    pattern = template["Parameters"][parameter]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is accepted


# ---------------------------------------------------------------------------------------------------------
# Network


def test_vpc_and_subnets(resources: dict[str, Any]) -> None:
    assert props(resources, "Vpc") == {
        "CidrBlock": {"Ref": "VpcCidr"},
        "EnableDnsSupport": True,
        "EnableDnsHostnames": True,
        "Tags": [
            {"Key": "ManagedBy", "Value": "org-stacksets"},
            {"Key": "Project", "Value": {"Ref": "Project"}},
        ],
    }
    for kind in ("Public", "Private"):
        subnet = props(resources, f"{kind}Subnet")
        assert subnet["CidrBlock"] == {"Ref": f"{kind}SubnetCidr"}
        assert subnet["AvailabilityZone"] == {"Ref": "AvailabilityZone"}
        association = props(resources, f"{kind}SubnetRouteTableAssociation")
        assert association == {
            "SubnetId": {"Ref": f"{kind}Subnet"},
            "RouteTableId": {"Ref": f"{kind}RouteTable"},
        }
    routes = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::EC2::Route"}
    assert routes == {
        "PublicDefaultRoute": {
            "RouteTableId": {"Ref": "PublicRouteTable"},
            "DestinationCidrBlock": "0.0.0.0/0",
            "GatewayId": {"Ref": "InternetGateway"},
        }
    }


def test_security_group_opens_80_and_443_and_ssh_only_from_the_parameter(resources: dict[str, Any]) -> None:
    ingress = props(resources, "InstanceSecurityGroup")["SecurityGroupIngress"]
    assert [(r["FromPort"], r["ToPort"], r["CidrIp"]) for r in ingress] == [
        (80, 80, "0.0.0.0/0"),
        (443, 443, "0.0.0.0/0"),
    ]
    ssh = resources["SshIngress"]
    assert ssh["Condition"] == "AllowSsh"
    assert (ssh["Properties"]["FromPort"], ssh["Properties"]["CidrIp"]) == (22, {"Ref": "SshCidr"})
    extra = [
        n for n, r in resources.items() if r["Type"] == "AWS::EC2::SecurityGroupIngress" and n != "SshIngress"
    ]
    assert extra == []


def test_ssh_is_closed_unless_a_cidr_is_given(template: dict[str, Any]) -> None:
    assert template["Conditions"]["AllowSsh"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "SshCidr"}, ""]}]}


# ---------------------------------------------------------------------------------------------------------
# Compute


def test_launch_template(resources: dict[str, Any]) -> None:
    data = props(resources, "LaunchTemplate")["LaunchTemplateData"]
    assert data["ImageId"] == {"Ref": "EcsAmiId"}
    assert data["InstanceType"] == {"Ref": "InstanceType"}
    assert data["MetadataOptions"] == {
        "HttpEndpoint": "enabled",
        "HttpTokens": "required",
        "HttpPutResponseHopLimit": 1,
    }
    assert data["IamInstanceProfile"] == {"Arn": {"Fn::GetAtt": ["InstanceProfile", "Arn"]}}
    assert data["NetworkInterfaces"] == [
        {
            "DeviceIndex": 0,
            "AssociatePublicIpAddress": True,
            "DeleteOnTermination": True,
            "Groups": [{"Ref": "InstanceSecurityGroup"}],
        }
    ]
    assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True


def test_launch_template_tags_what_it_launches(resources: dict[str, Any]) -> None:
    lt = props(resources, "LaunchTemplate")
    specs = lt["LaunchTemplateData"]["TagSpecifications"] + lt["TagSpecifications"]
    tagged = {spec["ResourceType"]: {t["Key"]: t["Value"] for t in spec["Tags"]} for spec in specs}
    expected = {"ManagedBy": "org-stacksets", "Project": {"Ref": "Project"}}
    assert tagged == dict.fromkeys(("instance", "volume", "network-interface", "launch-template"), expected)


def test_auto_scaling_group_and_capacity_provider(resources: dict[str, Any]) -> None:
    asg = props(resources, "AutoScalingGroup")
    assert {k: asg[k] for k in ("MinSize", "MaxSize", "DesiredCapacity", "VPCZoneIdentifier")} == {
        "MinSize": {"Ref": "MinSize"},
        "MaxSize": {"Ref": "MaxSize"},
        "DesiredCapacity": {"Ref": "DesiredCapacity"},
        "VPCZoneIdentifier": [{"Ref": "PublicSubnet"}],
    }
    provider = props(resources, "CapacityProvider")["AutoScalingGroupProvider"]
    assert provider["AutoScalingGroupArn"] == {"Ref": "AutoScalingGroup"}
    assert provider["ManagedScaling"]["Status"] == "ENABLED"
    # Termination protection on would keep the instance alive when the cost guard sets the group to 0.
    assert provider["ManagedTerminationProtection"] == "DISABLED"
    assert props(resources, "ClusterCapacityProviders")["Cluster"] == {"Ref": "Cluster"}


def test_service_runs_one_task_on_the_capacity_provider(resources: dict[str, Any]) -> None:
    service = props(resources, "Service")
    assert service["DesiredCount"] == 1
    assert service["CapacityProviderStrategy"] == [
        {"CapacityProvider": {"Ref": "CapacityProvider"}, "Weight": 1}
    ]
    assert service["TaskDefinition"] == {"Ref": "TaskDefinition"}
    assert resources["Service"]["DependsOn"] == ["ClusterCapacityProviders"]


# ---------------------------------------------------------------------------------------------------------
# The boot script


@pytest.fixture(scope="module")
def user_data(resources: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    sub = props(resources, "LaunchTemplate")["LaunchTemplateData"]["UserData"]["Fn::Base64"]["Fn::Sub"]
    return sub[0], sub[1]


STEPS = [
    ("strict mode", "set -euo pipefail\n"),
    (
        "IMDSv2 token",
        "-X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token",
    ),
    ("wait for the volume", 'state=$(aws ec2 describe-volumes --volume-ids "$VOLUME_ID"'),
    ("volume available", 'if [ "$state" = available ]; then break; fi'),
    (
        "attach",
        'aws ec2 attach-volume --volume-id "$VOLUME_ID" --instance-id "$INSTANCE_ID" --device ${DataVolumeDevice}',
    ),
    ("attached", 'aws ec2 wait volume-in-use --volume-ids "$VOLUME_ID"'),
    ("format only an empty volume", 'if [ "$rc" -eq 2 ]; then mkfs -t xfs "$device"'),
    ("mount", 'mount "$device" "$MOUNT_POINT"'),
    (
        "mount after reboot",
        '/etc/fstab || echo "UUID=$uuid $MOUNT_POINT auto defaults,nofail 0 2" >> /etc/fstab',
    ),
    ("public IP from IMDSv2", "public_ip=$(imds public-ipv4)"),
    ("UPSERT the A record", '"Action":"UPSERT","ResourceRecordSet":{"Name":"%s","Type":"A","TTL":%s'),
    ("Route 53 call", 'aws route53 change-resource-record-sets --hosted-zone-id "${HostedZoneId}"'),
    ("join the cluster", 'echo "ECS_CLUSTER=${Cluster}" >> /etc/ecs/ecs.config'),
]


def test_boot_script_steps_run_in_order(user_data: tuple[str, dict[str, Any]]) -> None:
    script, _ = user_data
    assert script.startswith("#!/bin/bash\n")
    positions = []
    for step, text in STEPS:
        assert script.count(text) == 1, step
        positions.append((script.index(text), step))
    assert [step for _, step in sorted(positions)] == [step for step, _ in STEPS]


def test_boot_script_reads_metadata_only_with_a_token(user_data: tuple[str, dict[str, Any]]) -> None:
    script, _ = user_data
    reads = re.findall(r"curl [^\n]*latest/meta-data[^\n]*", script)
    assert reads == [
        'curl -fsS -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"'
    ]


def test_boot_script_substitutions_are_all_parameters(
    template: dict[str, Any], user_data: tuple[str, dict[str, Any]]
) -> None:
    script, variables = user_data
    assert variables == {"Cluster": {"Ref": "Cluster"}}
    used = set(re.findall(r"\$\{([^!}][^}]*)\}", script))
    assert used == {
        "AWS::Region",
        "AppPort",
        "Cluster",
        "DataMountPoint",
        "DataVolumeDevice",
        "DataVolumeId",
        "HostedZoneId",
        "Project",
        "RecordName",
        "RecordTtl",
    }
    assert used - {"AWS::Region", "Cluster"} <= set(template["Parameters"])


def test_boot_script_is_valid_bash(tmp_path: Path, user_data: tuple[str, dict[str, Any]]) -> None:
    script, _ = user_data
    values = {"AWS::Region": "eu-west-1", "Cluster": "webapp", "RecordTtl": "60", "AppPort": "8000"}
    rendered = re.sub(r"\$\{([^!}][^}]*)\}", lambda m: values.get(m.group(1), "x"), script)
    path = tmp_path / "boot.sh"
    path.write_text(rendered)
    proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------------------------------------------------
# IAM scoping


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    [policy] = role["Policies"]
    return policy["PolicyDocument"]["Statement"]


def test_instance_role_grants_exactly_volume_dns_secrets_and_the_ecs_policy(
    resources: dict[str, Any],
) -> None:
    role = props(resources, "InstanceRole")
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": ["sts:AssumeRole"]}
    ]
    assert role["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"}
    ]
    assert statements(role) == [
        {
            "Sid": "AttachTheDataVolume",
            "Effect": "Allow",
            "Action": ["ec2:AttachVolume", "ec2:DetachVolume"],
            "Resource": [
                {
                    "Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:volume/${DataVolumeId}"
                }
            ],
        },
        {
            "Sid": "AttachToProjectInstances",
            "Effect": "Allow",
            "Action": ["ec2:AttachVolume", "ec2:DetachVolume"],
            "Resource": [
                {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*"}
            ],
            "Condition": PROJECT_TAG,
        },
        {"Sid": "DescribeVolumes", "Effect": "Allow", "Action": ["ec2:DescribeVolumes"], "Resource": ["*"]},
        {
            "Sid": "UpsertTheARecord",
            "Effect": "Allow",
            "Action": ["route53:ChangeResourceRecordSets"],
            "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:route53:::hostedzone/${HostedZoneId}"}],
            "Condition": {
                "ForAllValues:StringEquals": {
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames": [{"Ref": "RecordName"}],
                    "route53:ChangeResourceRecordSetsRecordTypes": ["A"],
                    "route53:ChangeResourceRecordSetsActions": ["UPSERT"],
                }
            },
        },
        # Issue 13 item 9: no GetSecretValue (the execution role injects the secrets); Session Manager.
        {
            "Sid": "SessionManagerAgent",
            "Effect": "Allow",
            "Action": ["ssm:UpdateInstanceInformation"],
            "Resource": [
                {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*"}
            ],
        },
        {
            "Sid": "SessionManagerChannels",
            "Effect": "Allow",
            "Action": [
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel",
            ],
            "Resource": ["*"],
        },
    ]


def test_ssh_is_off_unless_asked_for(template: dict[str, Any], resources: dict[str, Any]) -> None:
    """Session Manager is the way in; SSH needs both a CIDR and a key pair, and neither is set by default."""
    assert template["Parameters"]["SshCidr"]["Default"] == ""
    assert template["Parameters"]["KeyPairName"]["Default"] == ""


def test_execution_role_writes_its_log_groups_and_reads_the_stack_secrets(resources: dict[str, Any]) -> None:
    role = props(resources, "TaskExecutionRole")
    assert "ManagedPolicyArns" not in role
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": ["ecs-tasks.amazonaws.com"]}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {
            "aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*"}
        },
    }
    assert statements(role) == [
        {
            "Sid": "ContainerLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [{"Fn::GetAtt": [f"{c}LogGroup", "Arn"]} for c in ("Proxy", "App", "Db")],
        },
        {
            "Sid": "InjectSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [{"Ref": "DbPasswordSecret"}, {"Ref": "AppSecret"}],
        },
    ]


def _all_policy_statements(resources: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, resource in resources.items():
        p = resource.get("Properties", {})
        docs = [item["PolicyDocument"] for item in p.get("Policies", [])]
        if "PolicyDocument" in p:
            docs.append(p["PolicyDocument"])
        found += [(name, s) for doc in docs for s in doc["Statement"]]
    return found


def test_no_wildcard_actions_or_resources_beyond_describe_volumes(resources: dict[str, Any]) -> None:
    wildcards = [
        (name, s.get("Sid"))
        for name, s in _all_policy_statements(resources)
        if "*" in s["Action"] or "*" in s.get("Resource", [])
    ]
    # The ssmmessages channel actions have no resource types; the deny on Project tag changes covers all.
    assert wildcards == [
        ("InstanceRole", "DescribeVolumes"),
        ("InstanceRole", "SessionManagerChannels"),
        ("OperatorPolicy", "KeepProjectTags"),
    ]
    managed = [
        arn for r in resources.values() for arn in r.get("Properties", {}).get("ManagedPolicyArns", [])
    ]
    assert not any("FullAccess" in str(arn) for arn in managed)


# ---------------------------------------------------------------------------------------------------------
# Task definition and secrets


def test_database_password_is_generated_51_characters_without_troublesome_ones(
    resources: dict[str, Any],
) -> None:
    generated = props(resources, "DbPasswordSecret")["GenerateSecretString"]
    assert generated == {"PasswordLength": 51, "ExcludeCharacters": "\"'`\\@/:?#%$!&;|<> "}
    assert resources["DbPasswordSecret"]["DeletionPolicy"] == "Retain"


def test_app_secret_is_json_filled_from_no_echo_parameters(resources: dict[str, Any]) -> None:
    assert props(resources, "AppSecret")["SecretString"] == {
        "Fn::Sub": '{"SECRET_KEY":"${AppSecretKey}","EMAIL_HOST_PASSWORD":"${EmailHostPassword}"}'
    }


@pytest.fixture(scope="module")
def containers(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["Name"]: c for c in props(resources, "TaskDefinition")["ContainerDefinitions"]}


def test_task_definition_shape(resources: dict[str, Any], containers: dict[str, dict[str, Any]]) -> None:
    task = props(resources, "TaskDefinition")
    assert (task["NetworkMode"], task["RequiresCompatibilities"], task["Memory"]) == (
        "bridge",
        ["EC2"],
        {"Ref": "TaskMemory"},
    )
    assert task["ExecutionRoleArn"] == {"Fn::GetAtt": ["TaskExecutionRole", "Arn"]}
    assert {v["Name"]: v["Host"]["SourcePath"]["Fn::Sub"] for v in task["Volumes"]} == {
        "mysql-data": "${DataMountPoint}/mysql",
        "static": "${DataMountPoint}/static",
        "nginx-conf": "${DataMountPoint}/nginx/conf.d",
        "nginx-certs": "${DataMountPoint}/nginx/certs",
    }
    assert {name: (c["Cpu"], c["MemoryReservation"]) for name, c in containers.items()} == {
        name: ({"Ref": f"{name.capitalize()}Cpu"}, {"Ref": f"{name.capitalize()}MemoryReservation"})
        for name in ("proxy", "app", "db")
    }


def test_proxy_serves_80_and_443_with_config_and_certificates_from_the_volume(
    containers: dict[str, dict[str, Any]],
) -> None:
    proxy = containers["proxy"]
    assert [(p["ContainerPort"], p["HostPort"]) for p in proxy["PortMappings"]] == [(80, 80), (443, 443)]
    assert {m["SourceVolume"]: (m["ContainerPath"], m["ReadOnly"]) for m in proxy["MountPoints"]} == {
        "nginx-conf": ("/etc/nginx/conf.d", True),
        "nginx-certs": ("/etc/nginx/certs", True),
        "static": ("/srv/static", True),
    }


def test_app_migrates_collects_static_then_serves_on_app_port(containers: dict[str, dict[str, Any]]) -> None:
    app = containers["app"]
    shell, flag, command = app["Command"]
    assert (shell, flag) == ("sh", "-c")
    steps = [
        "manage.py migrate --noinput",
        "manage.py collectstatic --noinput",
        "exec gunicorn --bind 0.0.0.0:$APP_PORT",
    ]
    text = command["Fn::Sub"]
    assert [text.index(s) for s in steps] == sorted(text.index(s) for s in steps)
    environment = {e["Name"]: e["Value"] for e in app["Environment"]}
    assert environment["APP_PORT"] == {"Ref": "AppPort"}
    assert environment["DATABASE_HOST"] == "db"
    assert environment["DATABASE_PORT"] == "3306"
    assert {s["Name"]: s["ValueFrom"] for s in app["Secrets"]} == {
        "DATABASE_PASSWORD": {"Ref": "DbPasswordSecret"},
        "SECRET_KEY": {"Fn::Sub": "${AppSecret}:SECRET_KEY::"},
        "EMAIL_HOST_PASSWORD": {"Fn::Sub": "${AppSecret}:EMAIL_HOST_PASSWORD::"},
    }
    assert app["DependsOn"] == [{"ContainerName": "db", "Condition": "HEALTHY"}]


def test_database_keeps_its_data_on_the_volume(containers: dict[str, dict[str, Any]]) -> None:
    db = containers["db"]
    assert db["MountPoints"] == [
        {"SourceVolume": "mysql-data", "ContainerPath": "/var/lib/mysql", "ReadOnly": False}
    ]
    assert "--port=3306" in db["Command"]
    assert db["Secrets"] == [{"Name": "MYSQL_PASSWORD", "ValueFrom": {"Ref": "DbPasswordSecret"}}]
    assert db["HealthCheck"]["Command"] == ["CMD-SHELL", "mysqladmin ping -h 127.0.0.1 -P 3306 --silent"]


def test_log_groups_keep_logs_for_the_retention_parameter(resources: dict[str, Any]) -> None:
    groups = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::Logs::LogGroup"}
    assert {n: (g["LogGroupName"]["Fn::Sub"], g["RetentionInDays"]) for n, g in groups.items()} == {
        f"{c.capitalize()}LogGroup": (f"/ecs/${{Project}}/{c}", {"Ref": "LogRetentionDays"})
        for c in ("proxy", "app", "db")
    }


# ---------------------------------------------------------------------------------------------------------
# Billing


def test_budget_notifies_at_85_actual_100_forecast_and_100_actual(resources: dict[str, Any]) -> None:
    budget = props(resources, "MonthlyBudget")
    assert budget["Budget"]["BudgetLimit"] == {"Amount": {"Ref": "BudgetAmount"}, "Unit": "USD"}
    assert [
        (n["Notification"]["NotificationType"], n["Notification"]["Threshold"], n["Subscribers"])
        for n in budget["NotificationsWithSubscribers"]
    ] == [
        (kind, percent, [{"SubscriptionType": "SNS", "Address": {"Ref": "AlertTopic"}}])
        for kind, percent in (("ACTUAL", 85), ("FORECASTED", 100), ("ACTUAL", 100))
    ]
    assert {t["Key"] for t in budget["ResourceTags"]} == {"Project", "ManagedBy"}


def test_billing_alarms_at_the_threshold_parameters_only_where_billing_metrics_exist(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    alarms = {n: r for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert {n: (a["Condition"], a["Properties"]["Threshold"]) for n, a in alarms.items()} == {
        "BillingWarningAlarm": ("InBillingRegion", {"Ref": "BillingWarningThreshold"}),
        "BillingCriticalAlarm": ("InBillingRegion", {"Ref": "BillingCriticalThreshold"}),
    }
    assert template["Conditions"]["InBillingRegion"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    assert props(resources, "AlertEmailSubscription") == {
        "TopicArn": {"Ref": "AlertTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlertEmail"},
    }


# ---------------------------------------------------------------------------------------------------------
# ABAC operator policy


def test_operator_policy_acts_only_on_resources_tagged_with_the_project(resources: dict[str, Any]) -> None:
    document = props(resources, "OperatorPolicy")["PolicyDocument"]
    grants = {
        s["Sid"]: (s["Action"], s["Resource"], s["Condition"])
        for s in document["Statement"]
        if s["Effect"] == "Allow" and "Condition" in s
    }

    def arn(service: str, resource: str) -> str:
        return f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"

    assert grants == {
        "EcsServices": (
            ["ecs:DescribeServices", "ecs:UpdateService"],
            [{"Fn::Sub": arn("ecs", "service/*")}],
            PROJECT_TAG,
        ),
        "EcsTasks": (["ecs:DescribeTasks", "ecs:StopTask"], [{"Fn::Sub": arn("ecs", "task/*")}], PROJECT_TAG),
        "Instances": (
            ["ec2:RebootInstances", "ec2:StartInstances", "ec2:StopInstances"],
            [{"Fn::Sub": arn("ec2", "instance/*")}],
            PROJECT_TAG,
        ),
        "AutoScalingGroups": (
            ["autoscaling:SetDesiredCapacity", "autoscaling:UpdateAutoScalingGroup"],
            [{"Fn::Sub": arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/*")}],
            PROJECT_TAG,
        ),
        "Secrets": (
            [
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
            ],
            [{"Fn::Sub": arn("secretsmanager", "secret:*")}],
            PROJECT_TAG,
        ),
        "Sessions": (["ssm:StartSession"], [{"Fn::Sub": arn("ec2", "instance/*")}], PROJECT_TAG),
        "Alarms": (
            ["cloudwatch:DisableAlarmActions", "cloudwatch:EnableAlarmActions"],
            [{"Fn::Sub": arn("cloudwatch", "alarm:*")}],
            PROJECT_TAG,
        ),
    }


def test_operators_cannot_silence_billing_alarms_or_retag_the_project(
    resources: dict[str, Any],
) -> None:
    """Issue 13 item 9: explicit denies, so no other policy of an operator grants them back."""
    by_sid = {s["Sid"]: s for s in props(resources, "OperatorPolicy")["PolicyDocument"]["Statement"]}
    alarms = by_sid["KeepBillingAlarms"]
    assert alarms["Effect"] == "Deny"
    assert alarms["Action"] == [
        "cloudwatch:DisableAlarmActions",
        "cloudwatch:DeleteAlarms",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:SetAlarmState",
    ]
    assert alarms["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:cloudwatch:us-east-1:${AWS::AccountId}:alarm:${Project}-billing-*"}
    ]
    names = {n: props(resources, n)["AlarmName"] for n in ("BillingWarningAlarm", "BillingCriticalAlarm")}
    assert names == {
        "BillingWarningAlarm": {"Fn::Sub": "${Project}-billing-warning"},
        "BillingCriticalAlarm": {"Fn::Sub": "${Project}-billing-critical"},
    }
    tags = by_sid["KeepProjectTags"]
    assert (tags["Effect"], tags["Resource"]) == ("Deny", ["*"])
    assert tags["Condition"] == {"ForAnyValue:StringEquals": {"aws:TagKeys": ["Project"]}}
    assert {"ec2:CreateTags", "ec2:DeleteTags", "ecs:TagResource", "autoscaling:CreateOrUpdateTags"} <= set(
        tags["Action"]
    )


def test_resources_the_operators_act_on_carry_the_project_tag(resources: dict[str, Any]) -> None:
    """ECS tasks inherit the service's tags, instances the group's; both must carry Project."""
    assert props(resources, "Service")["PropagateTags"] == "SERVICE"
    asg_tags = {t["Key"]: t for t in props(resources, "AutoScalingGroup")["Tags"]}
    assert asg_tags["Project"] == {"Key": "Project", "Value": {"Ref": "Project"}, "PropagateAtLaunch": True}


def test_only_budgets_and_this_accounts_alarms_may_publish_to_the_alert_topic(
    resources: dict[str, Any],
) -> None:
    policy = props(resources, "AlertTopicPolicy")
    assert policy["Topics"] == [{"Ref": "AlertTopic"}]
    assert {
        (s["Sid"], s["Principal"]["Service"], tuple(s["Action"])): s["Condition"]
        for s in policy["PolicyDocument"]["Statement"]
    } == {
        ("BudgetsPublish", "budgets.amazonaws.com", ("sns:Publish",)): {
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
            "ArnLike": {"aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:budgets::${AWS::AccountId}:*"}},
        },
        ("CloudwatchPublish", "cloudwatch.amazonaws.com", ("sns:Publish",)): {
            "ArnLike": {
                "aws:SourceArn": {
                    "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"
                }
            }
        },
    }


def test_the_cost_guard_alarm_is_a_billing_alarm_the_operators_cannot_silence(root: Path) -> None:
    template = yaml.safe_load((root / "templates" / "app" / "cost-guard.yaml").read_text())
    alarm = template["Resources"]["CostGuardAlarm"]["Properties"]
    assert alarm["AlarmName"] == {"Fn::Sub": "${Project}-billing-cost-guard"}
