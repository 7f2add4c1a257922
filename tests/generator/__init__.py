"""Tests of generator/, imported as tests.generator.

Run from tests/, `python -m generator` finds this folder first (the current folder leads sys.path) and
imports it as `generator`; it then hands over to the product's package, so the command works from here too."""

if __name__ == "generator":
    import importlib
    import sys
    from pathlib import Path

    _tests = Path(__file__).resolve().parents[1]
    sys.path[:] = [str(_tests.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _tests]
    del sys.modules[__name__]
    sys.modules[__name__] = importlib.import_module(__name__)
