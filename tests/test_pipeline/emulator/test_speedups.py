"""The emulator's moto speedups answer exactly what moto and botocore answer without them."""

from __future__ import annotations

import gc

import boto3.session
import botocore.session
import pytest

from pipeline.emulator import speedups
from tests.support.paths import ROOT


def test_template_parsing_is_moto_s_own_and_each_stack_gets_its_own_copy() -> None:
    import yaml
    from moto.cloudformation import models
    from moto.cloudformation.utils import yaml_tag_constructor

    speedups.cache_template_parsing()
    speedups.cache_template_parsing()  # idempotent: still one layer of cache
    for path in sorted((ROOT / "templates").rglob("*.yaml"))[:6]:
        text = path.read_text()
        yaml.add_multi_constructor("", yaml_tag_constructor)
        first = models.Stack.parse_template(text)
        assert first == yaml.load(text, Loader=yaml.Loader), path
        first["Resources"] = {}  # moto may change a stack's template_dict: no other stack sees it
        assert models.Stack.parse_template(text) == yaml.load(text, Loader=yaml.Loader), path


def test_remembered_regions_are_botocore_s() -> None:
    speedups.remember_regions()
    fresh = botocore.session.Session()
    for service, partition in (("ec2", "aws"), ("cloudformation", "aws"), ("iam", "aws-cn"), ("s3", "aws")):
        want = fresh.get_available_regions(service, partition)
        assert boto3.session.Session().get_available_regions(service, partition) == want
        got = boto3.session.Session().get_available_regions(service, partition)
        got.clear()  # a caller's list is its own
        assert boto3.session.Session().get_available_regions(service, partition) == want


def test_the_collector_is_paused_in_the_block_then_walks_only_what_comes_after() -> None:
    assert gc.isenabled() and gc.get_freeze_count() == 0
    try:
        with speedups.collector_paused():
            assert not gc.isenabled()
            built = [[] for _ in range(1000)]
        assert gc.isenabled() and gc.get_freeze_count() >= len(built)
    finally:
        gc.unfreeze()
    with pytest.raises(ValueError), speedups.collector_paused():  # a failed build: nothing stays frozen
        raise ValueError
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_freeze_already_in_place_is_left_to_its_maker() -> None:
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        with speedups.collector_paused():
            built = [[] for _ in range(1000)]
        assert gc.get_freeze_count() == before and len(built) == 1000  # nothing frozen here, nothing undone
    finally:
        gc.unfreeze()
