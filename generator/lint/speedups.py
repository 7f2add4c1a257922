"""Faster equivalents of a few cfn-lint internals that cost the gate a third of its time per template, each
returning exactly what the code it replaces returns (tests/test_generator/lint/test_parallel.py compares the
gate's findings with a plain cfn-lint process's; test_speedups.py compares each replacement with the
original).

Profiled with cProfile over the rendered templates (cfn-lint 1.58): dataclasses.fields() called ~180,000
times to copy cfn-lint's Context, Path, FunctionFilter and Validator objects; a throwaway Template built
for every extended validator; rule E1101 scanning every child rule's keywords for every keyword it meets.
Context.evolve() copying the context field by field through dataclasses machinery; and validators.create()
defining a new class for each equal FunctionFilter (the memo keys the filter by its field values).
Installed only for the cfn-lint versions they were written against (SUPPORTED); any other version runs
unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

SUPPORTED = ("1.58.",)  # cfn-lint versions whose internals these replacements were checked against

_FIELDS: dict[type, tuple[dataclasses.Field[Any], ...]] = {}
_installed: list[bool] = []


def fields(class_or_instance: Any) -> tuple[dataclasses.Field[Any], ...]:
    """dataclasses.fields(), remembered per class (a dataclass's fields are fixed once it is created)."""
    cls = class_or_instance if isinstance(class_or_instance, type) else type(class_or_instance)
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = dataclasses.fields(class_or_instance)
    return found


def install(rules: Any) -> bool:
    """Install the replacements (once) for cfn-lint's loaded `rules` (a Rules collection); False, and
    nothing changed, for an unsupported cfn-lint version."""
    if not _installed:
        _installed.append(version("cfn-lint").startswith(SUPPORTED))
        if _installed[0]:
            _install()
    if _installed[0]:
        # cfn-lint loads its rule files as modules of their own: patch the class each loaded rule has.
        for rule in rules.data.values():
            if rule.id == "E1101" and hasattr(type(rule), "cfnLint"):
                type(rule).cfnLint = _cfn_lint
                if not getattr(type(rule).initialize, "drops_keyword_index", False):
                    type(rule).initialize = _initialize_for(type(rule).initialize)
    return _installed[0]


def _install() -> None:
    import cfnlint.context.context
    import cfnlint.jsonschema._filter
    import cfnlint.jsonschema.validators
    from cfnlint.rules.jsonschema.Base import BaseJsonSchema

    for module in (cfnlint.context.context, cfnlint.jsonschema._filter, cfnlint.jsonschema.validators):
        module.fields = fields
    validators = cfnlint.jsonschema.validators
    original_create = validators.create
    validators.create = _memoized_create(original_create)
    cfnlint.context.context.Context.evolve = _context_evolve_for(cfnlint.context.context.Context)
    for cls in (validators.CfnTemplateValidator, validators.StandardValidator):
        cls.evolve = _evolve_for(cls)
    BaseJsonSchema.extend_validator = _extend_validator


def _evolve_for(cls: type) -> Any:
    """A Validator class's evolve(): every init field the caller does not give is copied, as the original
    (dataclasses.fields() per call) does."""
    names = tuple(f.name for f in dataclasses.fields(cls) if f.init)

    def evolve(self: Any, **kwargs: Any) -> Any:
        for name in names:
            if name not in kwargs:
                kwargs[name] = getattr(self, name)
        return self.__class__(**kwargs)

    return evolve


def _context_evolve_for(context_class: type) -> Any:
    """cfn-lint's Context.evolve(): `ref_values` given are merged over a copy of the context's own, then
    every init field of Context not given is copied. Context (frozen, every field an init field, no
    __post_init__) is filled in directly rather than through its generated __init__, which sets each field
    with object.__setattr__; anything else (a subclass, an unknown name) goes through __init__."""
    names = tuple(f.name for f in dataclasses.fields(context_class) if f.init)
    direct = len(names) == len(dataclasses.fields(context_class)) and not hasattr(
        context_class, "__post_init__"
    )
    copy_fields = _evolve_for(context_class)

    def evolve(self: Any, **kwargs: Any) -> Any:
        if "ref_values" in kwargs:
            ref_values = self.ref_values.copy()
            ref_values.update(kwargs["ref_values"])
            kwargs["ref_values"] = ref_values
        if not (direct and self.__class__ is context_class and kwargs.keys() <= set(names)):
            return copy_fields(self, **kwargs)
        made = object.__new__(context_class)
        values = made.__dict__
        for name in names:
            values[name] = kwargs[name] if name in kwargs else getattr(self, name)
        return made

    return evolve


def _identity(value: Any) -> Any:
    """What a validator function is: a bound method is its object and function (cfn-lint makes a new
    bound method object on every attribute access), anything else the object itself."""
    owner = getattr(value, "__self__", None)
    function = getattr(value, "__func__", None)
    return (id(owner), id(function)) if owner is not None and function is not None else id(value)


def _filter_key(function_filter: Any) -> Any:
    """What a FunctionFilter is: its class and field values (a dataclass that cfn-lint never changes once
    made, evolve() giving a new one), so equal filters share a validator class; None is itself."""
    if function_filter is None:
        return None
    values = tuple((f.name, _hashable(getattr(function_filter, f.name))) for f in fields(function_filter))
    return (type(function_filter), values)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _memoized_create(original: Any) -> Any:
    """cfn-lint's validators.create(), which defines a new dataclass on every call (each extended
    validator), returning the class it made before for the same validators, function filter and
    resolvers. The classes behave the same: their defaults are those arguments, held by the cache (so
    their ids stay theirs)."""
    made: dict[Any, tuple[Any, Any]] = {}

    def create(validators: Any = None, function_filter: Any = None, fn_resolvers: Any = None) -> Any:
        key = (
            tuple((name, _identity(fn)) for name, fn in (validators or {}).items()),
            _filter_key(function_filter),
            tuple((name, _identity(fn)) for name, fn in (fn_resolvers or {}).items()),
        )
        found = made.get(key)
        if found is None:
            cls = original(validators=validators, function_filter=function_filter, fn_resolvers=fn_resolvers)
            cls.evolve = _evolve_for(cls)
            found = made[key] = (cls, (validators, function_filter, fn_resolvers))
        return found[0]

    return create


def _extend_validator(
    self: Any, validator: Any, schema: Any, context: Any, validators: dict[str, Any] | None = None
) -> Any:
    """BaseJsonSchema.extend_validator without the throwaway validator (and Template) it builds first.

    The original builds `extended(schema=schema)` (default cfn: a new empty Template, its context, a
    resolver) and then evolves that into `(schema, resolver, function_filter, cfn, context)` with the
    given cfn, context and a new resolver: the same as building the latter directly."""
    from cfnlint.schema.resolver import RefResolver

    all_validators = self._get_validators()
    if validators:
        all_validators.update(validators)
    extended = validator.extend(validators=all_validators)
    return extended(
        schema=schema,
        cfn=validator.cfn,
        context=context,
        resolver=RefResolver.from_schema(schema),
    )


def _cfn_lint(self: Any, validator: Any, keywords: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """CfnLint.cfnLint (rule E1101) with its child rules looked up per keyword: the same rules in the same
    order (keywords, then child rules in their order, then each rule's matching keywords)."""
    from cfnlint.jsonschema._utils import Unset

    validator = validator.evolve(function_filter=validator.function_filter.evolve(add_cfn_lint_keyword=False))
    index = _keyword_index(self)
    for keyword in keywords:
        for rule in index.get(keyword, ()):
            for err in rule.validate(validator, keyword, instance, schema):
                if err.rule is None and isinstance(err.validator, Unset):
                    err.rule = rule
                yield err


def _initialize_for(original: Any) -> Any:
    """The rule's initialize(), which cfn-lint calls for every template before it rewires the child rules,
    dropping the keyword index built from the previous template's wiring."""

    def initialize(self: Any, cfn: Any) -> Any:
        self.__dict__.pop("_gate_keyword_index", None)
        return original(self, cfn)

    initialize.drops_keyword_index = True  # type: ignore[attr-defined]
    return initialize


def _keyword_index(rule: Any) -> dict[str, list[Any]]:
    """{keyword: child rules handling it, in order, a rule once per matching keyword entry}, built on first
    use after each initialize() (cfn-lint rewires the child rules between initialize() and the checks)."""
    index: dict[str, list[Any]] | None = rule.__dict__.get("_gate_keyword_index")
    if index is not None:
        return index
    index = {}
    for child in rule.child_rules.values():
        if child is None or not child.id:
            continue
        for keyword in child.keywords:
            index.setdefault(keyword, []).append(child)
    rule._gate_keyword_index = index
    return index
