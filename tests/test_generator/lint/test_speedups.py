"""The gate's replacements of cfn-lint internals (generator/lint/speedups.py) give what the originals give;
the findings as a whole are compared with a plain cfn-lint process in test_parallel.py."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

from generator.lint import speedups


@dataclasses.dataclass
class Sample:
    a: int
    b: str = "x"
    c: list[int] = dataclasses.field(init=False, default_factory=list)


def test_fields_are_the_dataclass_fields_of_class_and_instance() -> None:
    assert speedups.fields(Sample) == dataclasses.fields(Sample)
    assert speedups.fields(Sample(1)) == dataclasses.fields(Sample)


def test_evolve_copies_every_init_field_not_given() -> None:
    evolve = speedups._evolve_for(Sample)
    one = Sample(1, "y")
    assert evolve(one) == Sample(1, "y") and evolve(one) is not one
    assert evolve(one, b="z") == Sample(1, "z")


@dataclasses.dataclass(frozen=True)
class WithRefs:
    a: int
    ref_values: dict[str, Any] = dataclasses.field(default_factory=dict)


def test_context_evolve_merges_ref_values_over_a_copy_and_copies_the_rest() -> None:
    evolve = speedups._context_evolve_for(WithRefs)
    one = WithRefs(1, {"x": 1, "y": 2})
    assert evolve(one, ref_values={"y": 3, "z": 4}) == WithRefs(1, {"x": 1, "y": 3, "z": 4})
    assert one.ref_values == {"x": 1, "y": 2}  # the original's dict is not changed
    assert evolve(one, a=2) == WithRefs(2, {"x": 1, "y": 2})


def test_context_evolve_gives_what_context_init_gives() -> None:
    from cfnlint.context.context import Context

    evolve = speedups._context_evolve_for(Context)
    one = Context(regions=["us-east-1"], ref_values={"a": 1})
    assert one.module_names == ()  # a cached property, not copied into what evolve() makes
    two = evolve(one, strict_types=False, ref_values={"b": 2})
    assert type(two) is Context and two is not one
    assert two == dataclasses.replace(one, strict_types=False, ref_values={"a": 1, "b": 2})
    assert "module_names" not in vars(two) and vars(two).keys() == vars(dataclasses.replace(one)).keys()
    assert one.ref_values == {"a": 1} and one.strict_types is True


def test_equal_function_filters_share_a_validator_class_and_different_ones_do_not() -> None:
    from cfnlint.jsonschema._filter import FunctionFilter

    made: list[Any] = []

    def original(validators: Any = None, function_filter: Any = None, fn_resolvers: Any = None) -> Any:
        made.append(function_filter)
        return dataclasses.make_dataclass(f"V{len(made)}", ["function_filter"])

    create = speedups._memoized_create(original)
    one = create(function_filter=FunctionFilter())
    assert create(function_filter=FunctionFilter()) is one and len(made) == 1
    other = create(function_filter=FunctionFilter(add_cfn_lint_keyword=False))
    assert other is not one and len(made) == 2
    assert create(function_filter=FunctionFilter(validate_dynamic_references=False)) not in (one, other)
    assert create(function_filter=None) is not one


def _rule(rule_id: str, keywords: list[str]) -> Any:
    return SimpleNamespace(id=rule_id, keywords=keywords)


class _Parent:
    """A rule with child rules, whose initialize() cfn-lint calls before rewiring them for a template."""

    def __init__(self, child_rules: dict[str, Any]) -> None:
        self.child_rules = child_rules
        self.initialized: list[Any] = []

    def initialize(self, cfn: Any) -> None:
        self.initialized.append(cfn)


def test_keyword_index_keeps_child_order_and_repeats_and_follows_rewiring() -> None:
    first, second, silent = _rule("E1", ["a", "b", "a"]), _rule("E2", ["a"]), _rule("", ["a"])
    parent = _Parent({"E1": first, "E0": None, "E2": second, "X": silent})
    index = speedups._keyword_index(parent)
    assert index == {"a": [first, first, second], "b": [first]}
    assert speedups._keyword_index(parent) is index  # built once per template
    # The next template: initialize() (which drops the index), then cfn-lint rewires the children.
    speedups._initialize_for(_Parent.initialize)(parent, "template 2")
    assert parent.initialized == ["template 2"]
    third = _rule("E3", ["b"])
    parent.child_rules = {"E3": third, "E1": first}
    assert speedups._keyword_index(parent) == {"b": [third, first], "a": [first, first]}


def test_a_bound_method_is_identified_by_its_object_and_function() -> None:
    one = Sample(1)
    assert speedups._identity(one.__repr__) == speedups._identity(one.__repr__)
    assert speedups._identity(one.__repr__) != speedups._identity(Sample(1).__repr__)


def test_installed_for_this_cfn_lint() -> None:
    from cfnlint.runner import Runner

    from generator.lint.gate import _config

    runner = Runner(_config([]))
    assert speedups.install(runner.rules)
    e1101 = next(rule for rule in runner.rules.data.values() if rule.id == "E1101")
    assert type(e1101).cfnLint is speedups._cfn_lint
    assert type(e1101).initialize.drops_keyword_index
    wrapped = type(e1101).initialize
    assert speedups.install(Runner(_config([])).rules) and type(e1101).initialize is wrapped  # not twice
