"""The blueprint registry: every blueprint the generator renders, in render order."""

from __future__ import annotations

from generator.blueprints import ecr_publisher, org_roles
from generator.blueprints.base import Blueprint

BLUEPRINTS: tuple[Blueprint, ...] = (
    org_roles.BLUEPRINT,
    ecr_publisher.BLUEPRINT,
)
