"""The blueprint registry: every blueprint the generator renders, in render order."""

from __future__ import annotations

from generator.blueprints import ecr_publisher
from generator.blueprints.base import Blueprint

BLUEPRINTS: tuple[Blueprint, ...] = (ecr_publisher.BLUEPRINT,)
