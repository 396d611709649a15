"""The deployment package keeps botocore's models for ``skill.aws.SERVICES`` only (Makefile).

``.ci/template-check`` builds the real package and makes a stubbed call per service from it; these
tests keep the list and the code in step without a build.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from skill import aws

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED_CODE = [
    ROOT / "lambda_handler.py",
    *sorted((ROOT / "skill").rglob("*.py")),
    *sorted((ROOT / "models").rglob("*.py")),
]
DEPLOYED_CODE = [path for path in DEPLOYED_CODE if "local" not in path.relative_to(ROOT).parts]


def _services_named_in(path: Path) -> set[str]:
    """Literal service names passed to ``<something>.client("...")``, as in ``aws.client("kms")``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
            continue
        function = node.func
        if (
            isinstance(function, ast.Attribute)
            and function.attr == "client"
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def test_every_service_the_deployed_code_calls_is_kept_in_the_package() -> None:
    named = set().union(*(_services_named_in(path) for path in DEPLOYED_CODE))
    assert named, "the scan found no aws.client(...) call: it no longer matches the code"
    assert named <= set(aws.SERVICES)


def test_a_client_for_a_service_the_package_does_not_ship_is_refused(aws_env: object) -> None:
    with pytest.raises(ValueError, match=r"'s3' is not in skill\.aws\.SERVICES"):
        aws.client("s3")


def test_the_makefile_prunes_botocore_by_skill_aws_services() -> None:
    recipe = (ROOT / "Makefile").read_text()
    assert "from skill.aws import SERVICES" in recipe
    assert 'botocore/data" -mindepth 1 -maxdepth 1 -type d' in recipe


def test_the_built_package_holds_only_the_app_code_and_the_pinned_wheels(tmp_path: Path) -> None:
    """bench/package.py builds what the Makefile ships (same app code); its top level is
    lambda_handler.py, skill/, models/ and what the pinned wheels install, nothing dev-only."""
    import re

    from bench import package

    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\tcp lambda_handler\.py ", makefile, re.M)
    assert re.search(r"-cf - skill models \|", makefile)
    assert package.APP_CODE == ("lambda_handler.py", "skill", "models")

    built = package.build(tmp_path / "package")
    top = {p.name for p in built.iterdir()}
    wheels = {p.name for p in built.glob("*.dist-info")}
    pinned = {
        line.split("==")[0].lower().replace("-", "_")
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert {w.split("-")[0].lower() for w in wheels} == pinned
    installed = set()
    for wheel in wheels:
        for row in (built / wheel / "RECORD").read_text().splitlines():
            installed.add(row.split(",")[0].split("/")[0])
    assert top - installed == {"lambda_handler.py", "skill", "models"}
    for unwanted in ("devstack", "tests", "bench", "docs", "interaction_model", "events"):
        assert unwanted not in top
        for app in ("skill", "models"):
            assert not list((built / app).rglob(unwanted)), f"{app}/**/{unwanted}"


def _make() -> str:
    import shutil

    found = shutil.which("make")
    assert found, "make is required (sam build runs the Makefile)"
    return found


@pytest.mark.parametrize(
    ("how", "wheel_arch"),
    [({}, "aarch64"), ({"LAMBDA_ARCH": "x86_64"}, "x86_64"), ({"LAMBDA_ARCH": "arm64"}, "aarch64")],
)
def test_lambda_arch_from_the_environment_selects_the_wheels(how: dict[str, str], wheel_arch: str) -> None:
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("LAMBDA_ARCH", "MAKEFLAGS")} | how
    shown = subprocess.run(  # noqa: S603 (make, fixed arguments)
        [_make(), "-n", "build-SkillFunction", "ARTIFACTS_DIR=/nonexistent"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    other = "x86_64" if wheel_arch == "aarch64" else "aarch64"
    assert f"--platform manylinux2014_{wheel_arch} --platform manylinux_2_28_{wheel_arch}" in shown
    assert f"manylinux2014_{other}" not in shown


def test_an_unknown_lambda_arch_is_refused() -> None:
    import subprocess

    done = subprocess.run(  # noqa: S603 (make, fixed arguments)
        [_make(), "build-SkillFunction", "ARTIFACTS_DIR=/nonexistent", "LAMBDA_ARCH=sparc"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode != 0 and "use arm64 or x86_64" in done.stderr


def test_the_makefile_finds_a_python_312_without_lambda_python() -> None:
    """Plain `sam build` (no LAMBDA_PYTHON) builds with a real 3.12, as template-check finds it."""
    import os
    import re
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("LAMBDA_PYTHON", "MAKEFLAGS")}
    shown = subprocess.run(  # noqa: S603 (make, fixed arguments)
        [_make(), "-n", "build-SkillFunction", "ARTIFACTS_DIR=/nonexistent"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found = re.search(r"^(\S*) ?-m pip install ", shown, re.M)
    assert found, shown
    if not found.group(1):
        pytest.skip("no Python 3.12 on this machine")
    assert found.group(1).startswith("/"), "the interpreter itself, not a name a shim may resolve"
    version = subprocess.run(  # noqa: S603 (the interpreter the Makefile found)
        [found.group(1), "-c", "import sys; print(*sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert version == ["3", "12"]


def test_pyproject_license_is_an_spdx_expression() -> None:
    """The TOML-table form makes setuptools print ~30 lines of deprecation warnings on install."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert isinstance(project["project"]["license"], str)
    assert project["build-system"]["requires"] == ["setuptools>=77"]  # the first with PEP 639
