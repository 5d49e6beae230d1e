"""[checks.*] class settings given by name: resolved through the audit's class names, the same figures as indices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx_factory import save
from workspace import build, image_classifier

from auditor.audit.checks import Context
from auditor.audit.config import load_config, resolved_classes, resolved_target
from auditor.audit.results import without_timings
from auditor.cli import main
from auditor.errors import ArgumentError

NAMES = ("cat", "dog", "eel")
BY_INDEX = {"exemplars": "classes = [0, 2]", "counterfactuals": "target = 1\nmatrix_classes = [0, 2]"}
BY_NAME = {
    "exemplars": 'classes = ["cat", 2]',
    "counterfactuals": 'target = "dog"\nmatrix_classes = ["cat", "eel"]',
}
PROVENANCE_OF_THE_FILE = ("config_sha256", "config_file")


def run_main(*args: str) -> int:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    return int(info.value.code)


def configured(base: Path, name: str, settings: dict[str, str], model: str = "") -> Path:
    """A copy of the workspace config beside it with `settings` under their [checks.*] tables, `model` under [model]."""
    text = base.read_text(encoding="utf-8")
    for table, lines in settings.items():
        text = text.replace(f"[checks.{table}]\n", f"[checks.{table}]\n{lines}\n", 1)
    text = text.replace("[run]\n", "[run]\ntime_budget = 0\n", 1)  # the same figures on every run
    text = text.replace("[model]\n", f"[model]\n{model}\n" if model else "[model]\n", 1)
    path = base.parent / name
    path.write_text(text, encoding="utf-8")
    return path


def audited(config: Path, out: Path) -> dict:
    code = run_main("audit", "--config", str(config), "--out", str(out), "--trust-model", "--quiet")
    assert code == 0
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def figures(report: dict) -> dict:
    """The report less timings, less what describes the config file itself (its text and its hash)."""
    kept = without_timings({k: v for k, v in report.items() if k != "config"})
    for facts in [kept["provenance"], *(check["details"] for check in kept["checks"])]:
        for key in PROVENANCE_OF_THE_FILE:
            facts.pop(key, None)
    return kept


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("names") / "ws")


def test_names_in_the_config_give_the_figures_of_their_indices(workspace: Path, tmp_path: Path) -> None:
    names = 'class_names = ["cat", "dog", "eel"]'
    by_index = audited(configured(workspace, "index.toml", BY_INDEX, names), tmp_path / "index")
    by_name = audited(configured(workspace, "name.toml", BY_NAME, names), tmp_path / "name")
    assert figures(by_name) == figures(by_index)
    exemplars = next(c for c in by_name["checks"] if c["name"] == "exemplars")
    assert [row["class"] for row in exemplars["details"]["per_class"]] == [0, 2]
    counterfactuals = next(c for c in by_name["checks"] if c["name"] == "counterfactuals")
    assert counterfactuals["settings"]["target"] == 1 and counterfactuals["settings"]["matrix_classes"] == [
        0,
        2,
    ]
    # the report's config and its hash are the file's: names as written, a hash of its own
    assert by_name["config"]["checks"]["exemplars"]["classes"] == ["cat", 2]
    assert by_name["config"]["checks"]["counterfactuals"]["target"] == "dog"
    sha = [provenance(report)["config_sha256"] for report in (by_index, by_name)]
    assert sha[1] == load_config(workspace.parent / "name.toml").digest() != sha[0]


def provenance(report: dict) -> dict:
    return next(c for c in report["checks"] if c["name"] == "provenance")["details"]


def opened_classes(config: Path) -> tuple[object, object, object]:
    """The classes an opened audit uses: exemplars.classes, counterfactuals.target and matrix_classes."""
    checks = Context.open(load_config(config)).config.checks
    return checks.exemplars.classes, checks.counterfactuals.target, checks.counterfactuals.matrix_classes


def test_names_resolve_through_every_source_of_class_names(workspace: Path) -> None:
    """[model] class_names_file, the data file's names, the model's metadata: the names the audit uses."""
    folder = workspace.parent
    (folder / "names.txt").write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    with np.load(folder / "data.npz") as data:
        np.savez(folder / "named.npz", X=data["X"], y=data["y"], class_names=np.array(NAMES))
    save(image_classifier(metadata={"class_names": json.dumps(NAMES)}), folder / "meta.onnx")
    sources = {
        "file.toml": ('class_names_file = "names.txt"', None),
        "data.toml": ("", "named.npz"),
        "meta.toml": ('path = "meta.onnx"', None),
    }
    for name, (model, data) in sources.items():
        config = configured(workspace, name, BY_NAME, model)
        if data is not None:
            config.write_text(config.read_text(encoding="utf-8").replace("data.npz", data), encoding="utf-8")
        if name == "meta.toml":
            text = config.read_text(encoding="utf-8").replace('path = "model.onnx"\n', "", 1)
            config.write_text(text, encoding="utf-8")
        assert opened_classes(config) == ((0, 2), 1, (0, 2)), name


@pytest.mark.parametrize(
    ("settings", "model", "message"),
    [
        (
            {"exemplars": 'classes = ["cat", "zebra"]'},
            'class_names = ["cat", "dog", "eel"]',
            "'checks.exemplars.classes' holds 'zebra', neither a class name nor an index 0..2; "
            "classes: 'cat', 'dog', 'eel'",
        ),
        (
            {"counterfactuals": 'target = "zebra"'},
            'class_names = ["cat", "dog", "eel"]',
            "'checks.counterfactuals.target' holds 'zebra', neither a class name nor an index 0..2",
        ),
        (
            {"counterfactuals": 'matrix_classes = ["eel", 2]'},
            'class_names = ["cat", "dog", "eel"]',
            "'checks.counterfactuals.matrix_classes' holds class 2 ('eel') twice; list each class once",
        ),
        (
            {"exemplars": 'classes = ["cat"]'},
            "",
            "'checks.exemplars.classes' holds 'cat', but the model's classes have no names (only indices 0..2); "
            "give [model] class_names_file or class_names, or a data file with class names",
        ),
    ],
)
def test_an_unknown_class_name_is_one_line_naming_the_file_the_key_and_the_name(
    workspace: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    settings: dict[str, str],
    model: str,
    message: str,
) -> None:
    config = configured(workspace, f"{tmp_path.name}.toml", settings, model)
    line = next(
        i
        for i, text in enumerate(config.read_text(encoding="utf-8").splitlines(), 1)
        if "=" in text and any(text.startswith(key) for key in ("classes", "target", "matrix_classes"))
    )
    assert run_main("audit", "--config", str(config), "--out", str(tmp_path / "out"), "--trust-model") == 2
    err = capsys.readouterr().err
    assert (
        f"{config}:{line}: {message}" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    )
    assert not (tmp_path / "out").exists()
    # validate-config catches it without the model when [model] names the classes; else the model must tell
    assert run_main("validate-config", str(config)) == (2 if model else 0)
    err = capsys.readouterr().err
    assert (f"{config}:{line}: {message}" in err) == bool(model)


def test_checks_refuse_class_names_that_were_not_resolved() -> None:
    """Settings built by hand with names reach no search: the checks ask for indices."""
    with pytest.raises(ArgumentError, match="hold class names; resolve them first"):
        resolved_classes(("cat", 1))
    with pytest.raises(ArgumentError, match="'dog' is a class name; resolve it first"):
        resolved_target("dog")
    assert resolved_classes((2, 0)) == (2, 0) and resolved_classes("auto") == "auto"
    assert resolved_target(1) == 1 and resolved_target("second") == "second"
