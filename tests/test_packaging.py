"""Packaging: the wheel carries the recipes (an installed blsp-kd runs without a source tree), the licence metadata
builds without deprecation warnings, and recipes resolve by name."""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from blsp_kd.demo import DemoConfig, demo_recipe
from blsp_kd.train.config import load_recipe, resolve_recipe, shipped_recipes

REPO = Path(__file__).resolve().parents[1]


def copy_source(destination: Path) -> Path:
    """What a wheel is built from: pyproject, README, LICENSE, src/ (recipes/ is where src/blsp_kd/recipes points)."""
    destination.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, destination / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("src", "recipes"):
        shutil.copytree(REPO / name, destination / name, symlinks=True, ignore=ignore)
    return destination


@pytest.mark.slow
def test_an_installed_wheel_finds_its_recipes_without_the_source_tree(tmp_path):
    source = copy_source(tmp_path / "source")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
                            "--no-index", "-w", str(tmp_path / "dist"), str(source)],
                           capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert "deprecated" not in build.stdout + build.stderr  # e.g. `project.license` as a TOML table
    (wheel,) = (tmp_path / "dist").glob("blsp_kd-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(name for name in names if name.endswith("dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in metadata
    assert {f"blsp_kd/recipes/{name}.yaml" for name in shipped_recipes()} <= set(names)

    # A fresh venv that reuses this interpreter's installed dependencies (torch, ...) but not its blsp_kd.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    (site_packages,) = (venv / "lib").glob("python*/site-packages")
    (site_packages / "shared-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                              str(wheel)], capture_output=True, text=True, env=env, timeout=120)
    assert install.returncode == 0, install.stderr[-3000:]

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(venv / "bin" / "blsp-kd"), *args], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=120)

    assert cli("demo", "--help").returncode == 0
    listing = cli("recipes")
    assert listing.returncode == 0, listing.stderr[-3000:]
    shipped = dict(line.split(maxsplit=1) for line in listing.stdout.splitlines() if not line.startswith("accelerate"))
    assert {"default-stage1", "demo-stage1", "qwen2.5-7b-whisper-small"} <= set(shipped)
    for path in shipped.values():
        assert Path(path).is_relative_to(site_packages) and Path(path).is_file(), path


def test_recipes_resolve_by_path_or_by_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no recipes/ folder here
    shipped = shipped_recipes()["default-stage1"]
    for spelling in ("default-stage1", "default-stage1.yaml", "recipes/default-stage1.yaml"):
        assert resolve_recipe(spelling) == shipped
    own = tmp_path / "recipes" / "default-stage1.yaml"  # a file of the user's own wins over the shipped one
    own.parent.mkdir()
    own.write_text("train: {lr: 0.5}\n")
    assert resolve_recipe("recipes/default-stage1.yaml") == Path("recipes/default-stage1.yaml")
    assert load_recipe("recipes/default-stage1.yaml").train.lr == 0.5
    with pytest.raises(FileNotFoundError, match="no shipped recipe of that name.*default-stage1"):
        resolve_recipe("elsewhere/default-stage1.yaml")


def test_train_with_an_unknown_recipe_is_a_one_line_error(capsys):
    from blsp_kd import cli

    assert cli.main(["train", "--recipe", "no-such-recipe"]) == 2
    assert capsys.readouterr().err.startswith("error: recipe no-such-recipe: no such file and no shipped recipe")


def test_the_demo_recipe_is_default_stage1_with_the_demo_settings(tmp_path):
    """The demo's settings moved from override strings in demo.py into recipes/demo-stage1.yaml: the same run."""
    work = tmp_path / "demo"
    synth = work / "synth"
    former = load_recipe("default-stage1", [
        f"data.train=[{synth / 'train.responses.jsonl'}]", f"data.valid={synth / 'valid.responses.jsonl'}",
        f"train.output_dir={work / 'stage1'}", "train.max_minutes=14.0", "train.max_steps=540", "train.seed=0",
        "train.eval_every=100", "train.save_every=50", "model.objective.temperature=1.0",
        "model.objective.loss_weights.speech_rms=3.0"])
    assert demo_recipe(DemoConfig(work_dir=str(work))) == former
    limited = demo_recipe(DemoConfig(work_dir=str(work), train_minutes=2.0, max_steps=7, seed=3))
    assert (limited.train.max_minutes, limited.train.max_steps, limited.train.seed) == (2.0, 7, 3)


def test_gitignore_names_no_machine_specific_folder():
    entries = [line.strip() for line in (REPO / ".gitignore").read_text().splitlines()]
    assert "/work/" not in entries and "/work" not in entries
