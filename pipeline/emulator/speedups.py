"""Start-up and stack costs of moto that the emulator pays on every `--local` command and test, removed
without changing what moto answers (tests/test_pipeline/emulator/test_speedups.py compares each with moto's
own result).

Profiled (cProfile, `python -m pipeline sync --local` on the sample organization, moto 5.x):
- moto parses a stack's template with PyYAML's pure-Python loader on every stack it creates: about 35 ms
  for a role template, 4 s of a 10 s command that re-creates the 113 stack instances of its state file.
  The emulator creates many stacks from few templates, so each distinct template is parsed once and every
  stack gets its own deep copy (`cache_template_parsing`).
- moto's EC2 models (imported by its CloudFormation parser) ask a new boto3 Session for the regions of a
  service several times while their classes are defined; each new Session reads botocore's EC2 service
  model and endpoint files again (0.6 s per process). The answer depends only on the installed botocore,
  so it is read once (`remember_regions`).
- moto's server lists its own package folders on every request to find the backend (`list_moto_modules_once`).
- Python's collector walks the whole heap again as it grows while moto's models load and the state file's
  stacks are re-created (`collector_paused`).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
from collections.abc import Iterator
from typing import Any

_done: set[str] = set()


def remember_regions() -> None:
    """boto3.session.Session.get_available_regions, answered once per (service, partition, non-regional)."""
    if "regions" in _done:
        return
    import boto3.session

    original = boto3.session.Session.get_available_regions
    session = boto3.session.Session()  # one session: it reads botocore's files once

    @functools.cache
    def known(service_name: str, partition_name: str, allow_non_regional: bool) -> tuple[str, ...]:
        return tuple(original(session, service_name, partition_name, allow_non_regional))

    def get_available_regions(
        self: Any, service_name: str, partition_name: str = "aws", allow_non_regional: bool = False
    ) -> list[str]:
        return list(known(service_name, partition_name, allow_non_regional))

    boto3.session.Session.get_available_regions = get_available_regions
    _done.add("regions")


def cache_template_parsing() -> None:
    """moto's Stack.parse_template, parsing each distinct template text once; a deep copy per call."""
    if "templates" in _done:
        return
    from moto.cloudformation import models

    original = models.Stack.parse_template
    parsed = functools.lru_cache(maxsize=128)(original)

    def parse_template(template: str) -> dict[str, Any]:
        return copy.deepcopy(parsed(template))

    models.Stack.parse_template = staticmethod(parse_template)  # type: ignore[method-assign]
    _done.add("templates")


def list_moto_modules_once() -> None:
    """moto's dispatcher lists its own package folders on every request, under its one lock, to find the
    backend; the list never changes while the process runs, so it is read once (a tenth of a 20,000-account
    benchmark's time went there)."""
    from moto import backends

    if not hasattr(backends.list_of_moto_modules, "cache_info"):
        listing = backends.list_of_moto_modules
        backends.list_of_moto_modules = functools.cache(lambda: tuple(listing()))


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection while the block builds the heap the command then lives on (moto's models, the
    organization, the re-created stacks); at its end that heap is frozen (`gc.freeze()`), so later
    collections walk only what the command itself allocates (unless a freeze was already in place: then
    nothing is frozen here). Undo the freeze with `gc.unfreeze()` when the heap is let go, only where
    nothing was frozen before (`LocalEnvironment.__exit__`), so a process that opens environments one after another
    (a test run) never keeps an old one's cyclic garbage.

    Profiled (gc.callbacks, `python -m pipeline plan --local` on the README's state file): six full
    collections, each walking every object built so far, took 0.68 s of the 2.6 s command."""
    was = gc.isenabled()
    outermost = not gc.get_freeze_count()  # a freeze already in place is its maker's to undo, and covers this
    gc.disable()
    try:
        yield
        if outermost:
            gc.freeze()  # not when the block failed: nothing would undo it
    finally:
        if was:
            gc.enable()
