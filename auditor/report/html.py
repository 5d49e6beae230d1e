"""report.html: Jinja2 with autoescaping, no JavaScript; images inline (data: URIs) or as files beside it.

Every string that comes from the model, the data or file names is untrusted and reaches the page
only through autoescaped expressions; only our own packaged CSS is inserted verbatim.
"""

from __future__ import annotations

import base64
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from auditor.audit.results import AuditReport, Figure, Stage
from auditor.report.interface import WriteOptions, fmt, status_word

FILENAME = "report.html"
CSS_NAME = "report.css"
SHADES = 8


def css() -> str:
    return resources.files("auditor.report").joinpath("static", CSS_NAME).read_text(encoding="utf-8")


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("auditor.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = fmt
    env.filters["pct"] = lambda v: "—" if v is None else f"{100 * v:.1f}%"
    env.filters["status_word"] = status_word
    env.filters["shade"] = shade
    env.filters["reduced"] = lambda v: f"{len(v)} classes" if isinstance(v, tuple) else fmt(v)
    return env


def shade(value: float | int, total: float | int) -> str:
    """A CSS class for a heat-shaded table cell (classes, not inline styles, so strict CSPs allow it)."""
    if not total or not value:
        return "shade-0"
    return f"shade-{1 + min(SHADES - 1, int((SHADES - 1) * float(value) / float(total)))}"


def render(report: AuditReport, options: WriteOptions) -> str:
    folder = options.html_mode == "folder"

    def src(figure: Figure) -> str:
        if folder:
            return f"{options.images_dir}/{figure.name}.png"
        return "data:image/png;base64," + base64.b64encode(figure.png).decode("ascii")

    doc = report.to_dict()
    pairs = list(zip(report.checks, doc["checks"]))
    # Findings first; the long facts table (provenance) closes the page (the summary table still lists it first).
    sections = sorted(pairs, key=lambda pair: pair[0].stage is Stage.FACTS)
    context: dict[str, Any] = {
        "report": report,
        "plan": report.plan,
        "planned": [
            (entry, report.check(entry.name))
            for entry in (report.plan.checks if report.plan is not None else ())
            if any(c.name == entry.name for c in report.checks)
        ],
        "sections": sections,
        "model_name": Path(report.model_path).name,
        "src": src,
        "folder_mode": folder,
        "css_href": CSS_NAME,
        "inline_css": None if folder else Markup(css()),  # our own packaged file, not user input
    }
    return environment().get_template("report.html.j2").render(context)


def write(report: AuditReport, folder: Path, options: WriteOptions) -> None:
    (folder / FILENAME).write_text(render(report, options), encoding="utf-8")
    if options.html_mode == "folder":
        (folder / CSS_NAME).write_text(css(), encoding="utf-8")
