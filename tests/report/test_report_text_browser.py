"""The text sample's report in headless Chromium: highlighted words, marked edits and exemplar sentences are
there, and texts that are HTML or script stay text and run nothing."""

from __future__ import annotations

import html
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("tokenizers")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_report_browser import CHROMIUM, chromium

from auditor.audit import checks as C
from auditor.audit.config import load_config
from auditor.audit.runner import run_audit
from auditor.report.writer import write_report

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")

SAMPLE = Path(__file__).resolve().parents[2] / "sample_models" / "text"
ALERT = "<script>alert(1)</script>"
MARK_SCRIPT = "<script>document.title='pwned'</script>"
MARK_IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
TEXTS = [
    (f"{ALERT} the linux kernel compiles on every computer", "linux"),
    (f"I love you {MARK_SCRIPT} my dear, with all my heart", "love"),
    (f"The team won the game {MARK_IMG} in the last minute", "sports"),
    ("Unix & <b>bold</b> programs crash & burn on the system", "linux"),
    ("the players of the baseball team lost the season <i>again</i>", "sports"),
    ("love is a kiss & a <u>heart</u> that never ends", "love"),
]


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("text-browser")
    for name in ("classifier.onnx", "generator.onnx", "tokenizer.json", "config.json"):
        shutil.copy(SAMPLE / name, root / name)
    (root / "texts.jsonl").write_text("\n".join(json.dumps({"text": t, "label": y}) for t, y in TEXTS) + "\n")
    (root / "audit.toml").write_text(
        """
[model]
path = "classifier.onnx"
[generator]
path = "generator.onnx"
[data]
path = "texts.jsonl"
[run]
budget = 2000
[checks.stability]
samples = 6
[checks.exemplars]
classes = "all"
per_class = 1
[checks.counterfactuals]
samples = 6
matrix = false
[checks.attributions]
methods = ["occlusion", "lime"]
samples = 6
lime_samples = 300
"""
    )
    config = load_config(root / "audit.toml")
    report = run_audit(config, C.Context.open(config))
    write_report(report, root / "out", ["html", "json"])
    return root / "out" / "report.html"


def test_text_report_shows_words_edits_and_sentences(report_html: Path) -> None:
    page = report_html.read_text(encoding="utf-8")
    assert re.search(r'<span class="word (pos|neg)[1-4]" title="[+-]\d\.\d{3}">', page)
    assert re.search(r'<del class="edit">[^<]+</del>', page)
    assert page.count('<q class="sentence">') >= 3  # an exemplar sentence per class at least
    doc = json.loads((report_html.parent / "report.json").read_text())
    exemplars = next(c for c in doc["checks"] if c["name"] == "exemplars")
    assert {e["target_name"] for e in exemplars["details"]["exemplars"]} == {"linux", "love", "sports"}


def test_text_payloads_are_escaped_and_run_nothing(report_html: Path, tmp_path: Path) -> None:
    dom = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", report_html.as_uri())
    assert "<title>pwned" not in dom and "data-pwned" not in dom.split("<body", 1)[1].split(">", 1)[0]
    assert "<script" not in dom.lower()
    assert not re.search(r"<img [^>]*src=\"?x", dom) and "<b>bold</b>" not in dom and "<u>heart" not in dom
    shown = html.unescape(re.sub(r"<[^>]+>", "", dom))  # the page's text, as a reader sees it
    for payload in (ALERT, MARK_SCRIPT, MARK_IMG, "<b>bold</b>"):
        assert payload in shown, payload
