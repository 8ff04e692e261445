"""report.html: the page's data from a journal, its self-containment, and a real browser."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from hpfw.search.space import Categorical, Float, Int, to_json
from hpfw.sweeper import report_data
from hpfw.sweeper.journal import Journal
from hpfw.sweeper.report_html import HTML_FILE
from hpfw.sweeper.reports import write_reports
from tests import browser

SPACE = {
    "optimizer.lr": Float(1e-4, 1e-1, log=True),
    "model.layers": Int(1, 4),
    "optimizer": Categorical(["sgd", "adam"]),
    "optimizer.momentum": Float(0.0, 0.99),
}


def header(**extra) -> dict:
    return {
        "strategy": "random",
        "direction": "minimize",
        "objective": "val_loss",
        "seed": 0,
        "space": {n: to_json(d) for n, d in SPACE.items()},
        "command": "hpfw",
        "created": "2026-01-01T00:00:00+00:00",
        **extra,
    }


def trials(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        params = {name: d.from_unit(rng.random()) for name, d in SPACE.items()}
        inactive = ["optimizer.momentum"] if params["optimizer"] == "adam" else []
        loss = (math.log10(params["optimizer.lr"]) + 2.5) ** 2 + 0.1 * params["model.layers"]
        loss += 0.5 * (params["optimizer"] == "sgd")
        state = "failed" if k % 13 == 5 else "complete"
        out.append(
            {
                "id": k,
                "job": k,
                "params": params,
                "inactive": inactive,
                "overrides": [f"{a}={b}" for a, b in params.items() if a not in inactive],
                "state": state,
                "value": loss if state == "complete" else None,
                "metrics": {"val_loss": loss, "val_accuracy": 1 - loss / 10, "train_time": 1.5}
                if state == "complete"
                else {},
                "error": "RuntimeError: boom" if state == "failed" else None,
                "info": {},
            }
        )
    return out


def write_sweep(sweep: Path, head: dict, records: list[dict], curves: bool = True) -> Path:
    journal = Journal(sweep)
    journal.write_header(head)
    journal.append_many(records)
    for t in records:
        if curves and t["state"] == "complete":
            job = sweep / str(t["job"])
            job.mkdir()
            values = [t["value"] * (1 + 1 / e) for e in (1, 2, 3)]
            (job / "metrics.json").write_text(
                json.dumps(
                    {"objective": "val_loss", "epochs": {"epoch": [1, 2, 3], "val_loss": values}}
                )
            )
    return sweep


def page_data(path: Path) -> dict:
    text = path.read_text()
    start = text.index('id="hpfw-data">') + len('id="hpfw-data">')
    return json.loads(text[start : text.index("</script>", start)])


def test_page_is_self_contained(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "s", header(), trials(40))
    write_reports(sweep)
    text = (sweep / HTML_FILE).read_text()
    assert "<script src" not in text and "<link" not in text  # nothing loaded from elsewhere
    data = page_data(sweep / HTML_FILE)
    assert data["columns"]["id"] == list(range(40))
    assert data["importance"]["main"][0][0] == "optimizer.lr"  # the squared log term dominates
    assert data["importance"]["skipped"] == {"optimizer.momentum": "inactive in some trials"}
    assert len(data["contours"]) == 3 and len(data["contours"][0]["cells"]) > 1
    assert {row[0] for row in data["curves"]["rows"]} == {
        t["id"] for t in trials(40) if t["state"] == "complete"
    }
    assert data["curves"]["name"] == "val_loss"
    best = min((t for t in trials(40) if t["state"] == "complete"), key=lambda t: t["value"])
    assert data["best_so_far"][-1][1] == pytest.approx(best["value"], rel=1e-5)
    assert data["pareto"] is None


def test_best_so_far_is_exact_and_large_sweeps_are_sampled() -> None:
    head = header()
    records = trials(3000)
    chart = report_data.sample(head, records)
    assert len(chart) == report_data.CHART_CAP
    done = [t for t in records if t["state"] == "complete"]
    best = sorted(done, key=lambda t: t["value"])[: report_data.BEST_KEPT]
    assert {t["id"] for t in best} <= {t["id"] for t in chart}
    points = report_data._best_so_far(head, records)
    running = math.inf
    expected = []
    for t in done:
        if t["value"] < running:
            running = t["value"]
            expected.append(t["id"])
    assert [p[0] for p in points[: len(expected)]] == expected
    assert points[-1][0] == done[-1]["id"]


def test_pareto_front() -> None:
    points = [(0.1, 0.8), (0.2, 0.9), (0.3, 0.85), (0.05, 0.5), (0.1, 0.8)]
    front = report_data.pareto_front(points, ["minimize", "maximize"])
    assert front == [True, True, False, True, True]  # equal points do not dominate each other


def two_objectives(tmp_path: Path) -> Path:
    head = header(objectives={"val_loss": "minimize", "val_accuracy": "maximize"})
    records = trials(30)
    for t in records:
        if t["state"] == "complete":  # accuracy no longer a function of the loss alone
            t["metrics"]["val_accuracy"] = 1 - t["params"]["model.layers"] / 10
    return write_sweep(tmp_path / "two", head, records, curves=False)


def test_two_objectives_have_a_pareto_front(tmp_path: Path) -> None:
    sweep = two_objectives(tmp_path)
    write_reports(sweep)
    pareto = page_data(sweep / HTML_FILE)["pareto"]
    assert pareto["x"] == "val_loss" and pareto["y"] == "val_accuracy"
    front = [r for r in pareto["rows"] if r[3]]
    assert front and all(0 < r[2] <= 1 for r in front)
    assert len(front) < len(pareto["rows"])


def check_in_browser(b, path: Path) -> tuple[object, dict]:
    page, status, errors, remote = browser.load(b, path)
    assert errors == [] and remote == []
    charts = page.query_selector_all(".chart")
    assert status["errors"] == []
    assert status["rendered"] == status["charts"] == len(charts) > 0
    for chart in charts:
        share = browser.ink(chart.screenshot())
        assert share > 0.02, f"{chart.get_attribute('id')} looks blank ({share:.1%} ink)"
    return page, status


def test_report_in_a_browser(tmp_path: Path) -> None:
    browser.chromium()
    sweep = write_sweep(tmp_path / "s", header(), trials(60))
    write_reports(sweep)
    with browser.browser() as b:
        page, _ = check_in_browser(b, sweep / HTML_FILE)
        ids = {c.get_attribute("id") for c in page.query_selector_all(".chart")}
        assert {"chart-history", "chart-importance", "chart-parallel", "chart-slices"} <= ids
        assert {"chart-contour-0", "chart-curves"} <= ids
        # The table shows every trial a page at a time and sorts on a click.
        assert "1-50 of 60" in page.inner_text("#pager span")
        page.click("#trials th:nth-child(3)")  # val_loss, ascending
        first = page.inner_text("#trials tbody tr:first-child td:first-child")
        best = min((t for t in trials(60) if t["state"] == "complete"), key=lambda t: t["value"])
        assert int(first) == best["id"]
        page.click("#pager .next")
        assert "51-60 of 60" in page.inner_text("#pager span")

        two = two_objectives(tmp_path)
        write_reports(two)
        page, _ = check_in_browser(b, two / HTML_FILE)
        assert page.query_selector("#chart-pareto") is not None
