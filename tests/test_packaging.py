"""The project installs as a package: its metadata agrees with the pinned requirements,
and the app finds its files from its own location, not from the working directory."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from roko_app import create_app

ROOT = Path(__file__).resolve().parent.parent
CONFIG = {"ENV": "test", "DATABASE_URL": "sqlite://", "SECRET_KEY": "x", "WEBHOOK_INBOUND_TOKEN": "t"}


def _pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==(\S+)", line.split("#")[0].strip())
        if match:
            pins[canonicalize_name(match[1])] = match[3]
    return pins


def _project() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["project"]


@pytest.mark.parametrize(("group", "requirements"), [
    ("runtime", "requirements.txt"),
    ("dev", "requirements-dev.txt"),
])
def test_declared_dependencies_admit_the_pinned_versions(group: str, requirements: str) -> None:
    project = _project()
    declared = project["dependencies"] if group == "runtime" else project["optional-dependencies"][group]
    pins = _pins(ROOT / requirements)
    if group == "dev":
        pins = {**_pins(ROOT / "requirements.txt"), **pins}
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is declared in pyproject.toml but not pinned in {requirements}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{requirement.name}=={pins[name]} (pinned) is outside {requirement.specifier} (pyproject.toml)")


def test_defaults_are_read_by_path_not_from_an_importable_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decoy = tmp_path / "config.py"
    decoy.write_text("SEND_MAX_ATTEMPTS = 99\nLOG_LEVEL = 'DEBUG'\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "config", raising=False)

    app = create_app(CONFIG)

    assert app.config["SEND_MAX_ATTEMPTS"] == 5
    assert app.config["LOG_LEVEL"] == "INFO"
    assert Path(app.template_folder) == ROOT / "templates"
    assert Path(app.instance_path) == ROOT / "instance"


def test_the_installed_package_starts_from_another_directory(tmp_path: Path) -> None:
    code = ("from roko_app import create_app; "
            f"app = create_app({CONFIG!r}); "
            "print(app.config['ENV'], app.config['SEND_MAX_ATTEMPTS'], app.extensions['migrate'].directory)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["test", "5", str(ROOT / "migrations")]
