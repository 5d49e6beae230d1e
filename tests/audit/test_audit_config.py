"""audit.toml: validated into frozen dataclasses; every error names the file, the line and the key."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from auditor.audit.config import AuditConfig, RunConfig, load_config, override, quick_config
from auditor.audit.schema import Source, knob, plain, read_table
from auditor.cli.setting_flags import setting_flag
from auditor.errors import ConfigError


def write(folder: Path, text: str, name: str = "audit.toml") -> Path:
    (folder / "m.onnx").write_bytes(b"")
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[model]\npath = "m.onnx"\n\n[checks.accuracy]\nmin = 0.9\nminn = 0.8\n')
    message = error_of(path)
    assert message.startswith(f"{path}:6: 'checks.accuracy.minn' is not a known key")
    assert "min_class_recall" in message  # the known keys are listed


def test_unknown_table_points_at_its_header(tmp_path: Path) -> None:
    path = write(tmp_path, '[model]\npath = "m.onnx"\n[checks.acuracy]\nmin = 0.9\n')
    assert error_of(path).startswith(f"{path}:3: 'checks.acuracy' is not a known key")


def test_wrong_type_names_the_expected_type(tmp_path: Path) -> None:
    path = write(tmp_path, '[model]\npath = "m.onnx"\n[run]\nseed = "zero"\n')
    assert error_of(path) == f"{path}:4: 'run.seed' must be an integer, got a string (\"zero\")"


def test_out_of_range_fraction_is_rejected_on_its_line(tmp_path: Path) -> None:
    text = 'model.path = "m.onnx"\nchecks.exemplars = { per_class = 2, min_confidence = 1.5 }\n'
    assert error_of(write(tmp_path, text)).startswith(
        f"{tmp_path / 'audit.toml'}:2: 'checks.exemplars.min_confidence'"
    )


def test_missing_file_is_an_error_naming_the_resolved_path(tmp_path: Path) -> None:
    path = write(tmp_path, '[model]\npath = "m.onnx"\n\n[data]\npath = "nowhere.npz"\n')
    message = error_of(path)
    assert message.startswith(f"{path}:5: 'data.path' points to ")
    assert str(tmp_path / "nowhere.npz") in message


def test_a_folder_is_refused_where_a_model_file_is_needed_but_allowed_for_data(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    path = write(tmp_path, '[model]\npath = "images"\n')
    assert error_of(path).startswith(
        f"{path}:2: 'model.path' points to {tmp_path / 'images'}, which is a folder"
    )
    path = write(tmp_path, '[model]\npath = "m.onnx"\n[data]\npath = "images"\n')
    assert load_config(path).data is not None


def test_missing_config_and_bad_toml(tmp_path: Path) -> None:
    assert "no such config file" in error_of(tmp_path / "absent.toml")
    bad = write(tmp_path, "[model\npath = 1\n")
    assert error_of(bad).startswith(f"{bad}: not valid TOML")


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    sub = tmp_path / "cfg"
    sub.mkdir()
    (sub / "gen.onnx").write_bytes(b"")
    path = write(sub, '[model]\npath = "m.onnx"\n[generator]\npath = "gen.onnx"\n[run]\nout = "report"\n')
    config = load_config(path)
    assert config.model.path == sub / "m.onnx"
    assert config.generator is not None and config.generator.path == sub / "gen.onnx"
    assert config.run.out == sub / "report"
    assert config.source == path


def test_values_are_read_into_frozen_dataclasses(tmp_path: Path) -> None:
    text = (
        '[model]\npath = "m.onnx"\nclass_names = ["a", "b"]\n'
        "[run]\nseed = 7\nbudget = 99\n"
        '[checks.exemplars]\nclasses = [1]\nmethod = "cmaes"\n'
        "[checks.stability]\nenabled = false\n"
        '[checks.attributions]\nmethods = ["lime"]\nbaseline = 0.5\n'
    )
    config = load_config(write(tmp_path, text))
    assert config.model.class_names == ("a", "b")
    assert (config.run.seed, config.run.budget) == (7, 99)
    assert config.checks.exemplars.classes == (1,) and config.checks.exemplars.method == "cmaes"
    assert config.checks.stability.enabled is False
    assert config.checks.attributions.methods == ("lime",) and config.checks.attributions.baseline == 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.run.seed = 1  # type: ignore[misc]


def test_choices_are_enforced(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[model]\npath = "m.onnx"\n[checks.attributions]\nmethods = ["occlusion", "shap"]\n'
    )
    assert "unknown method 'shap'" in error_of(path)


def test_overrides_replace_only_given_values(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[model]\npath = "m.onnx"\n[run]\nseed = 3\nbudget = 10\n'))
    changed = dataclasses.replace(
        config,
        run=override(config.run, seed=5, budget=None),
        baseline=override(config.baseline, max_regression=0.1),
    )
    assert (changed.run.seed, changed.run.budget, changed.baseline.max_regression) == (5, 10, 0.1)
    assert config.run.seed == 3
    with pytest.raises(TypeError):
        override(config.run, sed=1)  # a misspelt setting is refused, not dropped


def test_config_hash_ignores_output_options_but_not_settings(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[model]\npath = "m.onnx"\n'))
    outputs = override(
        config.run, out=Path("elsewhere"), fail_on="never", html_mode="folder", formats=("json",)
    )
    assert dataclasses.replace(config, run=outputs).digest() == config.digest()
    assert dataclasses.replace(config, run=override(config.run, seed=1)).digest() != config.digest()


def test_quick_form_checks_its_paths(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(b"")
    config = quick_config(tmp_path / "m.onnx")
    assert isinstance(config, AuditConfig) and config.generator is None and config.data is None
    with pytest.raises(ConfigError, match=r"--data .*no such file"):
        quick_config(tmp_path / "m.onnx", data=tmp_path / "missing.npz")
    with pytest.raises(ConfigError, match="--encoder needs --generator"):
        quick_config(tmp_path / "m.onnx", encoder=tmp_path / "m.onnx")


ABSURD = [
    ("run", "seed", "-1"),
    ("run", "threads", "1000000000000000000"),
    ("run", "threads", "1e18"),
    ("run", "budget", "9223372036854775807"),
    ("run", "max_queries", "0"),
    ("run", "check_timeout", "-1"),
    ("run", "check_timeout", "inf"),
    ("model", "batch_size", "1000000000000000000"),
    ("model", "input_shape", "[3, 9223372036854775807]"),
    ("preprocess", "size", "[100000, 100000]"),
    ("preprocess", "scale", "[1.0, 0.0]"),
    ("preprocess", "scale", "[0.0, nan]"),
    ("baseline", "max_regression", "nan"),
    ("checks.accuracy", "bins", "1000000000000000000"),
    ("checks.accuracy", "bins", "1e18"),
    ("checks.stability", "repeats", "9223372036854775807"),
    ("checks.stability", "samples", "9223372036854775807"),
    ("checks.stability", "noise", "1e308"),
    ("checks.stability", "noise", "nan"),
    ("checks.stability", "noise", "inf"),
    ("checks.stability", "timeout", "-0.5"),
    ("checks.exemplars", "per_class", "1000000000000000000"),
    ("checks.exemplars", "budget", "1000000000000000000"),
    ("checks.exemplars", "classes", "[1, 1]"),
    ("checks.exemplars", "min_confidence", "1.0"),
    ("checks.counterfactuals", "target", "-1"),
    ("checks.counterfactuals", "matrix_per_class", "1000000000000000000"),
    ("checks.counterfactuals", "matrix_budget", "9223372036854775807"),
    ("checks.attributions", "steps", "9223372036854775807"),
    ("checks.attributions", "lime_samples", "1000000000000000000"),
    ("checks.attributions", "lime_samples", "2"),
    ("checks.attributions", "orders", "1000000000000000000"),
    ("checks.attributions", "window", "1000000000000000000"),
    ("checks.attributions", "stride", "1000000000000000000"),
    ("checks.attributions", "samples", "1000000000000000000"),
    ("checks.attributions", "baseline", "nan"),
]


@pytest.mark.parametrize(("table", "key", "value"), ABSURD, ids=[f"{t}.{k}={v}" for t, k, v in ABSURD])
def test_absurd_numbers_are_refused_naming_file_line_and_key(
    tmp_path: Path, table: str, key: str, value: str
) -> None:
    """Values of the right type that would crash, overflow or run for ages once the audit starts."""
    header = "" if table == "model" else f"\n[{table}]\n"
    path = write(tmp_path, f'[model]\npath = "m.onnx"\n{header}{key} = {value}\n')
    message = error_of(path)
    assert message.startswith(f"{path}:{3 if table == 'model' else 5}: '{table}.{key}' "), message
    assert len(message.splitlines()) == 1


def test_limits_and_timeouts_are_read(tmp_path: Path) -> None:
    text = '[model]\npath = "m.onnx"\n[run]\nmax_queries = 5000\ncheck_timeout = 0\n[checks.stability]\ntimeout = 2.5\n'
    config = load_config(write(tmp_path, text))
    assert (config.run.max_queries, config.run.check_timeout, config.checks.stability.timeout) == (
        5000,
        0.0,
        2.5,
    )
    assert config.checks.accuracy.timeout is None  # falls back to [run] check_timeout
    defaults = load_config(write(tmp_path, '[model]\npath = "m.onnx"\n'))
    assert (defaults.run.max_queries, defaults.run.check_timeout) == (10_000_000, 600.0)
    fewer = dataclasses.replace(defaults, run=override(defaults.run, max_queries=5))
    assert fewer.digest() != defaults.digest()  # limits change results


@dataclasses.dataclass(frozen=True)
class Toy:
    """A settings table declared the way every config table is: one `knob()` line per setting."""

    steps: int = knob(5, "pos", "steps to take", within=(1, 9))
    mode: str = knob("fast", "str", "how to go", choices=("fast", "slow"))
    goal: str | int = knob("best", "int", "a class index or best", within=(0, 3), choices=("best",))
    names: tuple[str, ...] = knob(("a",), "strs", "names to use", choices=("a", "b"))
    output: Path = knob(Path("out"), "out", "where to write", output=True)


def read_toy(tmp_path: Path, text: str) -> Toy:
    path = tmp_path / "toy.toml"
    path.write_text(text, encoding="utf-8")
    return read_table(Source(path, text), Toy, tomllib.loads(text))


def test_a_new_knob_is_one_line_read_checked_and_reported_by_the_generic_reader(tmp_path: Path) -> None:
    assert read_toy(tmp_path, "") == Toy()  # every default comes from the declaration
    toy = read_toy(tmp_path, 'steps = 9\nmode = "slow"\ngoal = 2\nnames = ["b", "a"]\noutput = "x"\n')
    assert toy == Toy(
        9, "slow", 2, ("b", "a"), tmp_path / "x"
    )  # lists as tuples, paths from the file's folder
    assert read_toy(tmp_path, 'goal = "best"\n').goal == "best"  # a word in place of a number
    wrong = {
        "\n\nsteps = 10\n": "3: 'steps' is out of range: the value must be from 1 to 9, got 10",
        'mode = "fastest"\n': "1: 'mode' must be one of fast, slow, got 'fastest'",
        'goal = "worst"\n': "1: 'goal' must be one of best, got 'worst'",
        "goal = 1.5\n": "1: 'goal' must be a string, got a number (1.5)",
        'names = ["a", "c"]\n': "1: 'names' holds unknown name 'c' (known: a, b)",
        "stepz = 1\n": "1: 'stepz' is not a known key (known: steps, mode, goal, names, output)",
    }
    for text, message in wrong.items():
        with pytest.raises(ConfigError) as info:
            read_toy(tmp_path, text)
        assert str(info.value) == f"{tmp_path / 'toy.toml'}:{message}"
    assert plain(toy) == {
        "steps": 9,
        "mode": "slow",
        "goal": 2,
        "names": ["b", "a"],
        "output": f"{tmp_path}/x",
    }
    assert "output" not in plain(toy, digest=True)  # output options stay out of the config digest


def test_flags_take_their_bounds_choices_and_help_from_the_knob() -> None:
    @click.command()
    @setting_flag("--budget", RunConfig, "budget")
    @setting_flag("--fail-on", RunConfig, "fail_on")
    @setting_flag("--format", RunConfig, "formats")
    def probe(budget: int | None, fail_on: str | None, formats: tuple[str, ...] | None) -> None:
        click.echo(f"{budget} {fail_on} {formats}")

    runner = CliRunner()
    assert (
        runner.invoke(probe, ["--budget", "7", "--format", "json, html"]).output
        == "7 None ('json', 'html')\n"
    )
    assert runner.invoke(probe, ["--budget", str(10**8 + 1)]).exit_code == 2  # the knob's upper bound
    assert runner.invoke(probe, ["--fail-on", "sometimes"]).exit_code == 2  # the knob's choices
    assert "Classifier queries per search [default: 1,000]" in runner.invoke(probe, ["--help"]).output
