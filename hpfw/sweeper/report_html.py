"""report.html: one self-contained page of a sweep's interactive charts and trials table.

The page inlines Vega, Vega-Lite and vega-embed (``assets/``, about 830 kB)
and the sweep's data as JSON, so it opens from disk, offline, with no server.
Why Vega-Lite: plotly.js alone is 4.8 MB minified (4.1.2), which leaves little of
a 5 MB page for a large sweep's data, and its parallel coordinates need WebGL;
Vega-Lite draws every chart here (parallel coordinates, heatmaps, linked
tooltips, zoom) on a plain canvas from a few lines of JSON per chart.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from hpfw.sweeper import importance, report_data
from hpfw.sweeper.importance import describe
from hpfw.sweeper.reports import replace_atomically

HTML_FILE = "report.html"
ASSETS = {
    "VEGA": "vega.min.js",
    "VEGA_LITE": "vega-lite.min.js",
    "VEGA_EMBED": "vega-embed.min.js",
    "REPORT_JS": "report.js",
}

Record = dict[str, Any]


@cache
def _asset(name: str) -> str:
    return (files("hpfw.sweeper") / "assets" / name).read_text(encoding="utf-8")


def _script_safe(text: str) -> str:
    # Inside <script>, only "</" can end the element early; JSON allows "<\/".
    return text.replace("</", "<\\/")


def write_html(sweep_dir: Path, header: dict[str, Any], trials: Sequence[Record]) -> Path:
    """Writes ``<sweep dir>/report.html``; returns its path."""
    imp = importance.cached(header, trials)
    data = report_data.build(sweep_dir, header, trials, imp)
    text = page(sweep_dir, header, data, describe(imp, trials))
    path = Path(sweep_dir) / HTML_FILE
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def page(
    sweep_dir: Path, header: dict[str, Any], data: dict[str, Any], importance_note: str
) -> str:
    """The whole page as text."""
    parts = {key: _asset(name) for key, name in ASSETS.items()}
    parts["TITLE"] = html.escape(f"hpfw sweep: {Path(sweep_dir).name}")
    parts["BODY"] = _body(sweep_dir, header, data, importance_note)
    parts["DATA"] = _script_safe(json.dumps(data, separators=(",", ":"), allow_nan=False))
    # One pass: text put in is never scanned for placeholders again.
    return re.sub(r"@@([A-Z_]+)@@", lambda m: parts[m.group(1)], _asset("report.template.html"))


def _body(
    sweep_dir: Path, header: dict[str, Any], data: dict[str, Any], importance_note: str
) -> str:
    meta = data["meta"]
    esc = html.escape
    found = meta["counts"]
    facts = [
        ("sweep", esc(str(Path(sweep_dir).resolve()))),
        ("strategy", esc(str(meta["strategy"]))),
        ("objective", f"{esc(data['objective'])} ({esc(data['direction'])})"),
        ("trials", esc(f"{meta['n_trials']}: " + ", ".join(f"{v} {k}" for k, v in found.items()))),
        ("started", esc(str(meta["created"] or ""))),
    ]
    best = meta["best"]
    if best is not None:
        facts.append(("best", esc(f"trial {best['id']}: {data['objective']} = {best['value']}")))
        facts.append(("reproduce", f"<code>{esc(best['command'])}</code>"))
    out = [f"<h1>{esc('hpfw sweep report')}</h1>", "<dl class='facts'>"]
    out += [f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts]
    out.append("</dl>")
    drawn = meta["drawn"]
    sampled = (
        f"Showing {drawn} of {meta['n_trials']} trials: the best {meta['best_kept']} and a "
        "random sample of the rest (every trial is in the table)."
        if drawn < meta["n_trials"]
        else ""
    )
    columns = data["columns"]
    has_points = bool(data["params"]) and any(
        s == "complete" and v is not None
        for s, v in zip(columns["state"], columns["value"], strict=True)
    )

    def section(title: str, caption: str, chart: str | None, note: str = "") -> None:
        out.append(f"<h2>{esc(title)}</h2>")
        if caption:
            out.append(f"<p class='caption'>{esc(caption)}</p>")
        if chart is not None:
            out.append(chart)
        elif note:
            out.append(f"<p class='note'>{esc(note)}</p>")

    section(
        "Optimisation history",
        f"{data['objective']} of each completed trial and the best so far (red); failed and "
        f"diverged trials are marked along the bottom. Drag to pan, scroll to zoom. {sampled}",
        "<div class='chart' id='chart-history'></div>",
    )
    imp = data["importance"]
    pairs = (
        " Interactions: "
        + "; ".join(f"{a} \N{MULTIPLICATION SIGN} {b}: {v:.1%}" for a, b, v in imp["pairs"])
        + "."
        if imp and imp["pairs"]
        else ""
    )
    skipped = (
        " Not ranked: " + "; ".join(f"{k} ({v})" for k, v in imp["skipped"].items()) + "."
        if imp and imp["skipped"]
        else ""
    )
    section(
        "Parameter importance",
        f"{importance_note}.{pairs}{skipped}" if imp else "",
        "<div class='chart' id='chart-importance'></div>" if imp else None,
        importance_note,
    )
    section(
        "Parallel coordinates",
        "One line per completed trial across every parameter (each axis spans its search "
        f"range) and {data['objective']}; hover over a line to pick it out. {sampled}",
        "<div class='chart' id='chart-parallel'></div>" if has_points else None,
        "no completed trials yet",
    )
    section(
        "Slices",
        f"{data['objective']} against each parameter; the red line is the random forest's "
        "prediction along it with the other parameters averaged out (fANOVA main effect).",
        "<div class='chart' id='chart-slices'></div>" if has_points else None,
        "no completed trials yet",
    )
    contours = data["contours"]
    section(
        "Contours of the most important pairs",
        "The forest's predicted objective over two parameters, the others averaged out; "
        "dots are the trials.",
        "<div class='contours'>"
        + "".join(f"<div class='chart' id='chart-contour-{k}'></div>" for k in range(len(contours)))
        + "</div>"
        if contours
        else None,
        "needs parameter importance with at least two ranked parameters",
    )
    curves = data["curves"]
    section(
        "Intermediate values",
        f"Per-epoch {curves['name']} of up to {report_data.CURVE_CAP} trials (the best first), "
        "coloured by the final objective."
        if curves["rows"]
        else "",
        "<div class='chart' id='chart-curves'></div>" if curves["rows"] else None,
        "no trial reported intermediate values (hpfw's trainer writes them per epoch "
        "to each job's metrics.json)",
    )
    if data["pareto"] is not None:
        section(
            "Pareto front",
            "Trials no other trial beats on both objectives.",
            "<div class='chart' id='chart-pareto'></div>" if data["pareto"]["rows"] else None,
            "no completed trial reported both objectives",
        )
    hidden = meta["hidden_metrics"]
    section(
        "Trials",
        "Every trial; click a column to sort."
        + (f" {hidden} more metric columns are in trials.csv." if hidden else ""),
        "<div id='pager'><button class='prev'>&lsaquo; previous</button>"
        "<button class='next'>next &rsaquo;</button><span></span></div>"
        "<div class='scroll'><table id='trials'></table></div>",
    )
    return "\n".join(out)
