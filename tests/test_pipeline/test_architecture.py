"""The architecture as facts: the pure core imports no AWS SDK and no adapter, the sync Lambda's zip holds
exactly what the Lambda runs and works on its own, and no product function is longer than a screen."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from generator.package import package_lambda

ROOT = Path(__file__).resolve().parents[2]
MAX_FUNCTION_LINES = 80


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


CORE = sorted((ROOT / "pipeline" / "core").rglob("*.py"))


@pytest.mark.parametrize("path", CORE, ids=[p.name for p in CORE])
def test_the_core_imports_no_aws_sdk_no_adapter_and_nothing_impure(path: Path) -> None:
    """pipeline/core/ is pure: no boto3 or botocore, no pipeline.aws, and no environment, clock or files."""
    forbidden = ("boto3", "botocore", "pipeline.aws", "pipeline.emulator", "pipeline.cli", "pipeline.sync")
    impure = ("os", "time", "datetime", "random", "pathlib", "subprocess", "socket", "threading")
    bad = sorted(
        m
        for m in _imports(path)
        if m.split(".")[0] in impure or any(m == f or m.startswith(f + ".") for f in forbidden)
    )
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


def test_the_boundary_test_catches_an_adapter_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from pipeline.aws.clients import make_clients\nimport botocore.config\n")
    assert {"pipeline.aws.clients", "botocore.config"} <= _imports(bad)


@pytest.fixture(scope="module")
def lambda_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zip") / "sync.zip"
    package_lambda(ROOT, out)
    return out


def test_the_lambda_zip_holds_only_what_the_sync_lambda_runs(lambda_zip: Path) -> None:
    names = zipfile.ZipFile(lambda_zip).namelist()
    assert {"pipeline/handler.py", "pipeline/job.py", "pipeline/sync.py", "pipeline/common/errors.py"} <= set(
        names
    )
    assert "pipeline/core/planner.py" in names and "pipeline/aws/executor.py" in names
    allowed = ("pipeline/core/", "pipeline/aws/")
    single = {
        "pipeline/__init__.py",
        "pipeline/handler.py",
        "pipeline/job.py",
        "pipeline/sync.py",
        "pipeline/common/__init__.py",
        "pipeline/common/errors.py",
    }
    outside = [n for n in names if n not in single and not n.startswith(allowed)]
    # PyYAML, vendored: the trusted guardrails parse the templates they check (generator/package.py VENDORED).
    assert [n for n in outside if not n.startswith("yaml/")] == []
    assert "yaml/__init__.py" in names
    unwanted_modules = ("aws/doctor.py", "aws/conformance.py", "core/checks.py")
    for unwanted in (
        "emulator/",
        "apps/",
        "cli/",
        "common/cli.py",
        "review",
        "app_deploy/",
        *unwanted_modules,
    ):
        assert [n for n in names if unwanted in n] == [], unwanted
    assert all(n.endswith(".py") for n in names)


def test_the_lambda_zip_runs_on_its_own(lambda_zip: Path, tmp_path: Path) -> None:
    """Unpacked alone (no source tree, no generator, no PyYAML), the handler and the job import and the
    modules they load come from the zip, the standard library, boto3 and botocore only."""
    unpacked = tmp_path / "lambda"
    zipfile.ZipFile(lambda_zip).extractall(unpacked)
    code = (
        "import sys\n"
        "import pipeline.handler, pipeline.job\n"
        "roots = {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(roots & {'generator', 'yaml', 'troposphere', 'awacs', 'cfnlint', 'moto'}))\n"
        "print(pipeline.job.__file__)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=unpacked, capture_output=True, text=True, check=True
    )
    loaded, job_file = proc.stdout.splitlines()
    assert loaded == "[]"
    assert Path(job_file).is_relative_to(unpacked)


def test_the_guardrails_read_templates_with_the_yaml_the_zip_ships(lambda_zip: Path, tmp_path: Path) -> None:
    """The guardrails' YAML parser comes from the zip (PyYAML, vendored), not from the build machine."""
    unpacked = tmp_path / "lambda"
    zipfile.ZipFile(lambda_zip).extractall(unpacked)
    code = (
        "from pipeline.core.guardrails import load_template\n"
        "import yaml\n"
        "print(load_template('a: [1]'))\n"
        "print(yaml.__file__)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=unpacked, capture_output=True, text=True, check=True
    )
    loaded, where = proc.stdout.splitlines()
    assert loaded == "{'a': [1]}"
    assert Path(where).is_relative_to(unpacked)


def _long_functions(paths: list[Path], root: Path) -> list[str]:
    out = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    out.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines)")
    return out


def test_no_product_function_is_over_80_lines() -> None:
    product = sorted([*(ROOT / "generator").rglob("*.py"), *(ROOT / "pipeline").rglob("*.py")])
    offenders = _long_functions(product, ROOT)
    assert offenders == [], (
        "split them into named steps (a blueprint by resource group; a table belongs in module-level data)"
    )


def test_the_length_check_sees_a_long_function(tmp_path: Path) -> None:
    long = tmp_path / "long.py"
    long.write_text("def f() -> None:\n" + "    x = 1\n" * MAX_FUNCTION_LINES)
    assert _long_functions([long], tmp_path) == ["long.py:1 f (81 lines)"]
