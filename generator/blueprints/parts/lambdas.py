"""Lambda functions: the one Python runtime the blueprints deploy and a function writing to its own log group."""

from __future__ import annotations

from typing import Any

from troposphere import GetAtt, Ref, awslambda, iam, logs

# The one runtime of every Lambda function the blueprints deploy (the pipeline package's Python).
LAMBDA_RUNTIME = "python3.12"


def python_function(
    title: str,
    description: str,
    *,
    handler: Any,
    code: awslambda.Code,
    role: iam.Role,
    log_group: logs.LogGroup,
    variables: dict[str, Any],
    **kwargs: Any,
) -> awslambda.Function:
    """A Python Lambda function running as `role`, with `variables` as its environment, writing to the
    stack's own `log_group` (whose retention and key the stack sets). Timeout, MemorySize and any other
    property go in `kwargs`."""
    return awslambda.Function(
        title,
        Description=description,
        Runtime=LAMBDA_RUNTIME,
        Handler=handler,
        Code=code,
        Role=GetAtt(role, "Arn"),
        Environment=awslambda.Environment(Variables=variables),
        LoggingConfig=awslambda.LoggingConfig(LogGroup=Ref(log_group)),
        **kwargs,
    )


def invoked_by_rule(title: str, function: awslambda.Function, rule: Any) -> awslambda.Permission:
    """EventBridge may invoke `function` for `rule` only: the resource-based policy statement's SourceArn is
    the rule's ARN, so no other rule (in this account or any other) can invoke it ("Using resource-based
    policies for Amazon EventBridge", Lambda permissions:
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html)."""
    return awslambda.Permission(
        title,
        FunctionName=Ref(function),
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=GetAtt(rule, "Arn"),
    )
