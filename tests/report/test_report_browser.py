"""report.html in headless Chromium: it renders, every image loads, and hostile model strings stay text."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "audit"))
from workspace import build

from auditor.audit import checks as C
from auditor.audit.config import load_config
from auditor.audit.runner import run_audit
from auditor.report.interface import WriteOptions
from auditor.report.writer import write_report

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")

ALERT_SCRIPT = "<script>alert(1)</script>"
ALERT_IMG = "<img src=x onerror=alert(1)>"
# Payloads that would leave a visible trace in the DOM if they ever ran.
MARK_SCRIPT = "<script>document.title='pwned'</script>"
MARK_IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"

# A page of ours (not the report) that loads report pages in frames and records what their images did.
PROBE = """<!DOCTYPE html><html><body>
<iframe id="good" src="{good}"></iframe><iframe id="folder" src="{folder}"></iframe><iframe id="bad" src="{bad}"></iframe>
<script>
let pending = 3;
for (const id of ["good", "folder", "bad"]) {{
  document.getElementById(id).addEventListener("load", () => {{
    const doc = document.getElementById(id).contentDocument;
    const images = Array.from(doc.images);
    const broken = images.filter((i) => !(i.complete && i.naturalWidth > 0)).length;
    document.body.setAttribute("data-" + id, images.length + "/" + broken + "/" + doc.title + "/"
      + (doc.body.getAttribute("data-pwned") || "clean"));
    if (--pending === 0) document.body.setAttribute("data-done", "1");
  }});
}}
</script></body></html>
"""


def chromium(tmp_path: Path, *args: str) -> str:
    done = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hostile model's report twice (inline and folder mode) and a copy with one image broken on purpose."""
    root = tmp_path_factory.mktemp("browser")
    config_path = build(
        root / "ws",
        model_name=f"{ALERT_IMG}.onnx",
        output_name=MARK_IMG,
        metadata={
            ALERT_SCRIPT: ALERT_IMG,
            "notes": MARK_SCRIPT + MARK_IMG,
            "class_names": json.dumps([ALERT_SCRIPT, MARK_IMG, MARK_SCRIPT]),
        },
        doc_string=MARK_SCRIPT,
    )
    config = load_config(config_path)
    report = run_audit(config, C.Context.open(config))
    write_report(report, root / "inline", ["html"])
    write_report(report, root / "folder", ["html"], WriteOptions(html_mode="folder"))
    html = (root / "inline" / "report.html").read_text(encoding="utf-8")
    broken = re.sub(r'src="data:image/png;base64,[^"]{40}', 'src="data:image/png;base64,AAAA', html, count=1)
    (root / "broken.html").write_text(broken, encoding="utf-8")
    return root


def test_the_page_renders_and_every_image_loads(reports: Path, tmp_path: Path) -> None:
    probe = reports / "probe.html"
    probe.write_text(
        PROBE.format(good="inline/report.html", folder="folder/report.html", bad="broken.html"), "utf-8"
    )
    dom = chromium(
        tmp_path,
        "--allow-file-access-from-files",
        "--virtual-time-budget=10000",
        "--dump-dom",
        probe.as_uri(),
    )
    assert 'data-done="1"' in dom
    found = {key: value.split("/") for key, value in re.findall(r'data-(good|folder|bad)="([^"]*)"', dom)}
    for mode in ("good", "folder"):
        images, broken = int(found[mode][0]), int(found[mode][1])
        assert images >= 5 and broken == 0, (mode, found[mode])
        assert found[mode][-1] == "clean" and "pwned" not in found[mode][2]
    assert int(found["bad"][1]) == 1  # the probe does notice a broken image


def test_hostile_strings_show_as_text_and_run_no_script(reports: Path, tmp_path: Path) -> None:
    dom = chromium(
        tmp_path, "--virtual-time-budget=5000", "--dump-dom", (reports / "inline" / "report.html").as_uri()
    )
    assert "<title>pwned" not in dom and "data-pwned" not in dom.split("<body", 1)[1].split(">", 1)[0]
    # no element came out of the payloads: the only <img> elements are ours, with data: sources
    assert re.findall(r"<img [^>]*>", dom) and all(
        'src="data:image/png' in tag for tag in re.findall(r"<img [^>]*>", dom)
    )
    assert "<script" not in dom.lower()
    # ...and they are shown as text
    for payload in (ALERT_SCRIPT, ALERT_IMG, MARK_SCRIPT):
        escaped = payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert escaped in dom, payload
