"""Reduced audit configs over the bundled sample models (seconds, not minutes), for executor and fleet tests."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "sample_models"

DIGITS = """\
[model]
path = "{samples}/digits/classifier.onnx"

[generator]
path = "{samples}/digits/generator.onnx"
encoder = "{samples}/digits/encoder.onnx"

[data]
path = "{samples}/digits/samples.npz"
limit = 120

[run]
seed = 0
device = "cpu"
threads = 1
budget = 150

[checks.accuracy]
min = {min_accuracy}

[checks.stability]
samples = 100
repeats = 2

[checks.exemplars]
classes = [0, 1, 2, 3, 4, 5, 6]
per_class = 1

[checks.counterfactuals]
samples = 3
method = "es"
matrix = false

[checks.attributions]
methods = ["occlusion"]
samples = 2
steps = 8
orders = 2
"""

TABULAR = """\
[model]
path = "{samples}/tabular/classifier.onnx"
class_names = ["malignant", "benign"]

[generator]
path = "{samples}/tabular/generator.onnx"
encoder = "{samples}/tabular/encoder.onnx"

[data]
path = "{samples}/tabular/samples.npz"

[run]
device = "cpu"
threads = 1
budget = 150

[checks.stability]
samples = 60
repeats = 2

[checks.exemplars]
per_class = 1

[checks.counterfactuals]
samples = 2
method = "es"
matrix = false

[checks.attributions]
samples = 1
steps = 8
orders = 2
min_faithful = 0.0
"""


def digits_config(folder: Path, name: str = "digits.toml", min_accuracy: float = 0.9) -> Path:
    """The digits audit cut to 120 rows, 7 classes and small searches; `min_accuracy` 0.999 makes it fail."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(DIGITS.format(samples=SAMPLES.as_posix(), min_accuracy=min_accuracy), encoding="utf-8")
    return path


def tabular_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tabular.toml"
    path.write_text(TABULAR.format(samples=SAMPLES.as_posix()), encoding="utf-8")
    return path


FLEET = {"digits": "digits.toml", "tabular": "tabular.toml", "digits-strict": "strict.toml"}


def fleet_file(folder: Path, models: tuple[str, ...] = tuple(FLEET)) -> Path:
    """digits and tabular, which pass, and digits with an accuracy threshold of 0.999, which fails (exit 1)."""
    digits_config(folder)
    tabular_config(folder)
    digits_config(folder, "strict.toml", min_accuracy=0.999)
    path = folder / "fleet.toml"
    path.write_text(
        "".join(f'[models.{name}]\nconfig = "{FLEET[name]}"\n\n' for name in models), encoding="utf-8"
    )
    return path
