"""Executors without a cluster: the executor names, the replica a worker rebuilds, and `ray` missing."""

from __future__ import annotations

import dataclasses
import pickle
import shutil
import sys
from pathlib import Path

import pytest
from small_samples import digits_config

from auditor.audit.checks import CHECKS, Context
from auditor.audit.config import load_config
from auditor.audit.executors.local import local_mapper
from auditor.audit.executors.replica import Replica
from auditor.audit.executors.spec import ExecutorSpec, executor_problem, parse_executor
from auditor.audit.runner import plan_units
from auditor.cli import main
from auditor.errors import ArgumentError, ConfigError, ModelError


def test_executor_names() -> None:
    assert parse_executor("local") == ExecutorSpec("local")
    assert parse_executor("ray") == ExecutorSpec("ray")
    assert parse_executor("ray:10.0.0.5:6379") == ExecutorSpec("ray", "10.0.0.5:6379")
    for wrong in ("dask", "ray:", "local:x", "ray:a b", "Ray"):
        assert executor_problem(wrong) is not None, wrong
        with pytest.raises(ArgumentError, match="local, ray or ray:ADDRESS"):
            parse_executor(wrong)


def test_run_executor_in_the_config_is_checked_with_its_line(tmp_path: Path, digits_dir: Path) -> None:
    path = digits_config(tmp_path)
    assert load_config(path).run.executor == "local"
    text = path.read_text().replace("budget = 150", 'budget = 150\nexecutor = "ray:"')
    path.write_text(text)
    line = text.splitlines().index('executor = "ray:"') + 1
    with pytest.raises(
        ConfigError, match=rf"digits.toml:{line}: 'run.executor' must be local, ray or ray:ADDRESS"
    ):
        load_config(path)
    path.write_text(text.replace('"ray:"', '"ray:head:6379"'))
    config = load_config(path)
    assert config.run.executor == "ray:head:6379"
    assert config.digest() == load_config(digits_config(tmp_path / "plain")).digest()  # not a result setting


def test_a_replica_runs_units_as_this_process_does_without_reading_the_files(
    tmp_path: Path, digits_dir: Path
) -> None:
    folder = tmp_path / "models"
    shutil.copytree(digits_dir, folder)
    path = digits_config(tmp_path)
    path.write_text(path.read_text().replace(str(digits_dir), str(folder)))
    config = load_config(path)
    context = Context.open(config, sandbox=None)
    shipped = pickle.dumps(Replica.of(context))
    shutil.rmtree(folder)  # a worker never opens a path: it has the bytes this process checked
    remote = pickle.loads(shipped).open(threads=1)
    assert remote.blackbox.threads == 1 and remote.blackbox.class_names == context.blackbox.class_names
    check = next(c for c in CHECKS if c.name == "stability")
    settings = check.settings(config)
    units = plan_units(check, context, settings, config.run.seed)
    here = [part for part, _, _ in local_mapper(check, context, settings, units)]
    there = [part for part, _, _ in local_mapper(check, remote, settings, units)]
    assert all((a.noisy == b.noisy).all() and (a.clean == b.clean).all() for a, b in zip(here, there))
    tampered = Replica.of(context)
    flipped = bytearray(tampered.classifier.serialized)
    flipped[len(flipped) // 2] ^= 1
    tampered = dataclasses.replace(
        tampered, classifier=dataclasses.replace(tampered.classifier, serialized=bytes(flipped))
    )
    with pytest.raises(ModelError, match="bytes changed on their way to a worker"):
        tampered.open(threads=1)


def test_executor_ray_without_the_extra_exits_2_naming_it(
    tmp_path: Path, digits_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as where the extra is not installed
    out = tmp_path / "out"
    args = ["audit", "--config", str(digits_config(tmp_path)), "--executor", "ray", "--out", str(out)]
    with pytest.raises(SystemExit) as exited:
        main([*args, "--trust-model", "--quiet"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "executor ray needs the optional extra 'ray'" in err and "onnx-auditor[ray]" in err
    assert not out.exists()
