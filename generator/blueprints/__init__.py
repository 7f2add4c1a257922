"""The blueprint registry: every blueprint the generator renders, in render order."""

from __future__ import annotations

from generator.blueprints import (
    container_pipeline,
    cost_guard,
    ecr_publisher,
    ecs_deploy_ci,
    ecs_deploy_workload,
    ecs_web_service,
    org_pipeline,
    org_roles,
)
from generator.blueprints.base import Blueprint

BLUEPRINTS: tuple[Blueprint, ...] = (
    org_roles.BLUEPRINT,
    org_pipeline.BLUEPRINT,
    ecr_publisher.BLUEPRINT,
    container_pipeline.BLUEPRINT,
    ecs_deploy_ci.BLUEPRINT,
    ecs_deploy_workload.BLUEPRINT,
    ecs_web_service.BLUEPRINT,
    cost_guard.BLUEPRINT,
)
