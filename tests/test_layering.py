"""The import order of the package: a module imports only from its own layer or the layers below it.

    0  blsp_kd.layout, blsp_kd.losses, blsp_kd.store   the input contract, the loss formulas, content-keyed files;
                                                        each imports nothing else of blsp_kd
    1  blsp_kd.models                                  encoder, CFormer/CIF, PLoRA, the BLSP-KD model, the teacher
    2  blsp_kd.data                                    manifests, audio files, corpora, responses, datasets, caches
    3  blsp_kd.eval                                    metrics, the cascade, alignment, the evaluation run
    4  blsp_kd.train                                   recipes and the training loop
    5  blsp_kd.serve, .demo, .smoke, .cli              what users run: may import anything

Every import counts, also one inside a function: a lazy import is still a dependency.
"""

import ast
from pathlib import Path

import blsp_kd

LAYERS = [
    ("blsp_kd.layout", "blsp_kd.losses", "blsp_kd.store"),
    ("blsp_kd.models",),
    ("blsp_kd.data",),
    ("blsp_kd.eval",),
    ("blsp_kd.train",),
    ("blsp_kd.serve", "blsp_kd.demo", "blsp_kd.smoke", "blsp_kd.cli"),
]
PACKAGE_DIR = Path(blsp_kd.__file__).parent


def unit_of(module: str) -> tuple[int, str] | None:
    """(layer, the package or module of the layer that `module` belongs to), or None for blsp_kd itself."""
    for layer, units in enumerate(LAYERS):
        for unit in units:
            if module == unit or module.startswith(unit + "."):
                return layer, unit
    return None


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported_modules(path: Path) -> set[str]:
    """Every blsp_kd module `path` imports, at any depth of the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names if name == "blsp_kd" or name.startswith("blsp_kd.")}


def test_every_module_has_a_layer():
    assert [module for module in modules() if module != "blsp_kd" and unit_of(module) is None] == []


def test_imports_go_down_the_layers():
    violations = []
    for module, path in modules().items():
        if module == "blsp_kd":
            continue
        layer, unit = unit_of(module)
        for imported in sorted(imported_modules(path)):
            imported_layer, imported_unit = unit_of(imported)
            if imported_unit == unit:
                continue
            if layer == 0 or imported_layer > layer:
                violations.append(f"{module} (layer {layer}) imports {imported} (layer {imported_layer})")
    assert violations == []


def test_the_checker_sees_lazy_imports(tmp_path):
    source = tmp_path / "module.py"
    source.write_text("def f():\n    from blsp_kd.train.loop import Trainer\n")
    assert imported_modules(source) == {"blsp_kd.train.loop"}
