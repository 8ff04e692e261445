/* hpfw report.html: draws a sweep's data (embedded as JSON) with Vega-Lite; needs no network.
 *
 * window.hpfwReport tells a test (or a curious reader) how drawing went:
 * charts to draw, charts drawn, errors, and done once every chart settled.
 */
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("hpfw-data").textContent);
  const status = (window.hpfwReport = { charts: 0, rendered: 0, errors: [], done: false });
  const params = data.params;
  const objective = data.objective;
  const minimize = data.direction === "minimize";
  const field = (k) => "p" + k; // param names hold dots, which Vega-Lite reads as nesting

  // --- rows from the page's columns -------------------------------------------------
  const cols = data.columns;
  const rows = cols.id.map((id, i) => {
    const row = { id: id, state: cols.state[i], value: cols.value[i] };
    if (cols.budget) row.budget = cols.budget[i];
    params.forEach((p, k) => {
      const v = data.param_columns[p.name][i];
      row[field(k)] = v === null ? null : p.type === "categorical" ? String(v) : v;
    });
    return row;
  });
  const byId = new Map(rows.map((r) => [r.id, r]));
  const drawn = data.sample.map((id) => byId.get(id));
  const complete = drawn.filter((r) => r.state === "complete" && r.value !== null);
  const values = complete.map((r) => r.value);
  const low = values.length ? values.reduce((a, b) => Math.min(a, b)) : 0;
  const high = values.length ? values.reduce((a, b) => Math.max(a, b)) : 1;
  // Losses spanning orders of magnitude are unreadable on a linear axis.
  const logValue = values.length > 0 && low > 0 && high / low > 100;
  const valueScale = logValue ? { type: "log" } : { zero: false };
  const better = { scheme: "viridis", reverse: minimize }; // the best trials are bright
  const tooltip = [
    { field: "id", type: "quantitative", title: "trial" },
    { field: "value", type: "quantitative", title: objective },
  ]
    .concat(cols.budget ? [{ field: "budget", type: "quantitative" }] : [])
    .concat(params.map((p, k) => ({ field: field(k), title: p.name })));

  function paramAxis(p, k, channel) {
    if (p.type === "float" || p.type === "int") {
      return { field: field(k), type: "quantitative", title: p.name, scale: p.log ? { type: "log" } : { zero: false } };
    }
    return { field: field(k), type: "nominal", title: p.name, sort: p.choices || "ascending" };
  }

  // --- the charts --------------------------------------------------------------------
  function history() {
    const failed = drawn.filter((r) => r.state === "failed" || r.state === "diverged");
    const layers = [
      {
        data: { values: data.best_so_far.map((p) => ({ id: p[0], best: p[1] })) },
        mark: { type: "line", interpolate: "step-after", color: "#d62728", strokeWidth: 2 },
        encoding: { x: { field: "id", type: "quantitative" }, y: { field: "best", type: "quantitative" } },
      },
      {
        data: { values: complete },
        mark: { type: "point", filled: true, opacity: 0.7, size: 45, color: "#1f77b4" },
        params: [{ name: "zoom", select: "interval", bind: "scales" }],
        encoding: {
          x: { field: "id", type: "quantitative", title: "trial", axis: { format: "d", tickMinStep: 1 } },
          y: { field: "value", type: "quantitative", title: objective, scale: valueScale },
          tooltip: tooltip,
        },
      },
    ];
    if (failed.length) {
      layers.push({
        data: { values: failed },
        mark: { type: "tick", thickness: 2 },
        encoding: {
          x: { field: "id", type: "quantitative" },
          y: { value: 292 },
          color: { field: "state", type: "nominal", scale: { domain: ["failed", "diverged"], range: ["#ff7f0e", "#9467bd"] } },
          tooltip: [{ field: "id", title: "trial" }, { field: "state" }],
        },
      });
    }
    return { width: 760, height: 300, layer: layers };
  }

  function importance() {
    const bars = data.importance.main.map((m) => ({ name: m[0], share: m[1] }));
    return {
      width: 500,
      height: { step: 24 },
      data: { values: bars },
      mark: "bar",
      encoding: {
        y: { field: "name", type: "nominal", sort: "-x", title: null },
        x: { field: "share", type: "quantitative", title: "share of the objective's variance (main effect)", axis: { format: ".0%" } },
        tooltip: [{ field: "name", title: "parameter" }, { field: "share", format: ".1%" }],
      },
    };
  }

  function unit(p, v) {
    if (v === null || v === undefined) return null;
    if (p.type === "categorical") {
      const k = p.choices.indexOf(String(v));
      return k < 0 ? null : (k + 0.5) / p.choices.length;
    }
    if (p.high === p.low) return 0.5;
    if (p.log) return Math.log(v / p.low) / Math.log(p.high / p.low);
    return (v - p.low) / (p.high - p.low);
  }

  function fromUnit(p, u) {
    const v = p.log ? p.low * Math.pow(p.high / p.low, u) : p.low + u * (p.high - p.low);
    return Number(v.toPrecision(3));
  }

  function parallel() {
    const axes = [];
    const ticks = [];
    params.forEach((p, k) => {
      if (p.type === "unknown") return;
      axes.push({ name: p.name, k: k });
      if (p.type === "categorical") {
        p.choices.forEach((c) => ticks.push({ axis: p.name, u: unit(p, c), text: c }));
      } else {
        [0, 0.5, 1].forEach((u) => ticks.push({ axis: p.name, u: u, text: String(fromUnit(p, u)) }));
      }
    });
    const span = logValue ? Math.log(high / low) : high - low || 1;
    const scaled = (v) => (logValue ? Math.log(v / low) / span : (v - low) / span);
    ticks.push({ axis: objective, u: 0, text: String(Number(low.toPrecision(4))) });
    ticks.push({ axis: objective, u: 1, text: String(Number(high.toPrecision(4))) });
    const lines = [];
    complete.forEach((r) => {
      axes.forEach((a) => {
        const u = unit(params[a.k], r[field(a.k)]);
        if (u !== null) lines.push({ id: r.id, axis: a.name, u: u, value: r.value });
      });
      lines.push({ id: r.id, axis: objective, u: scaled(r.value), value: r.value });
    });
    const order = axes.map((a) => a.name).concat([objective]);
    const x = { field: "axis", type: "nominal", sort: order, title: null, axis: { orient: "top", labelAngle: 0, domain: false, ticks: false } };
    return {
      width: Math.max(420, 130 * order.length),
      height: 320,
      layer: [
        {
          data: { values: lines },
          mark: { type: "line", strokeWidth: 1.2 },
          params: [{ name: "hover", select: { type: "point", fields: ["id"], on: "pointerover", clear: "pointerout" } }],
          encoding: {
            x: x,
            y: { field: "u", type: "quantitative", axis: null, scale: { domain: [0, 1] } },
            detail: { field: "id", type: "nominal" },
            color: { field: "value", type: "quantitative", title: objective, scale: Object.assign({ type: logValue ? "log" : "linear" }, better) },
            opacity: { condition: { param: "hover", value: 1, empty: false }, value: 0.35 },
            tooltip: [{ field: "id", title: "trial" }, { field: "value", title: objective }],
          },
        },
        {
          data: { values: order.map((a) => ({ axis: a })) },
          mark: { type: "rule", color: "#888" },
          encoding: { x: { field: "axis", type: "nominal", sort: order }, y: { datum: 0 }, y2: { datum: 1 } },
        },
        {
          data: { values: ticks },
          mark: { type: "text", align: "left", dx: 4, fontSize: 10, color: "#333" },
          encoding: { x: { field: "axis", type: "nominal", sort: order }, y: { field: "u", type: "quantitative" }, text: { field: "text" } },
        },
      ],
    };
  }

  function slices() {
    return {
      columns: 3,
      concat: params.map((p, k) => {
        const layers = [
          {
            data: { values: complete.filter((r) => r[field(k)] !== null) },
            mark: { type: "point", filled: true, opacity: 0.6, size: 36 },
            encoding: {
              x: paramAxis(p, k),
              y: { field: "value", type: "quantitative", title: objective, scale: valueScale },
              tooltip: tooltip,
            },
          },
        ];
        const curve = data.slices[p.name];
        if (curve) {
          layers.push({
            data: { values: curve.map((c) => ({ [field(k)]: c[0], fit: c[1] })) },
            mark: { type: "line", color: "#d62728", point: p.type === "categorical" },
            encoding: { x: paramAxis(p, k), y: { field: "fit", type: "quantitative" } },
          });
        }
        return { width: 230, height: 180, title: p.name, layer: layers };
      }),
    };
  }

  function contour(c) {
    const kx = params.findIndex((p) => p.name === c.x);
    const ky = params.findIndex((p) => p.name === c.y);
    const px = params[kx];
    const py = params[ky];
    const cell = (p, v, key) => (Array.isArray(v) ? { [key + "0"]: v[0], [key + "1"]: v[1] } : { [key + "c"]: v });
    const cells = c.cells.map((t) => Object.assign({ v: t[2] }, cell(px, t[0], "x"), cell(py, t[1], "y")));
    const channel = (p, key, title) =>
      p.type === "categorical"
        ? [{ field: key + "c", type: "nominal", scale: { domain: p.choices }, title: title }, null]
        : [{ field: key + "0", type: "quantitative", title: title, scale: p.log ? { type: "log", nice: false } : { zero: false, nice: false } }, { field: key + "1" }];
    const [x, x2] = channel(px, "x", c.x);
    const [y, y2] = channel(py, "y", c.y);
    const rect = { x: x, y: y, color: { field: "v", type: "quantitative", title: "predicted", scale: better }, tooltip: [{ field: "v", title: "predicted " + objective, format: ".4g" }] };
    if (x2) rect.x2 = x2;
    if (y2) rect.y2 = y2;
    return {
      width: 300,
      height: 300,
      title: c.x + " × " + c.y,
      layer: [
        { data: { values: cells }, mark: "rect", encoding: rect },
        {
          data: { values: complete.filter((r) => r[field(kx)] !== null && r[field(ky)] !== null) },
          mark: { type: "point", filled: true, size: 14, color: "#222", opacity: 0.6 },
          encoding: { x: { field: field(kx), type: x.type }, y: { field: field(ky), type: y.type }, tooltip: tooltip },
        },
      ],
    };
  }

  function curves() {
    const lines = data.curves.rows.map((r) => ({ id: r[0], step: r[1], v: r[2], final: (byId.get(r[0]) || {}).value }));
    return {
      width: 760,
      height: 300,
      data: { values: lines },
      mark: { type: "line", strokeWidth: 1.2, opacity: 0.7 },
      params: [{ name: "zoom", select: "interval", bind: "scales" }],
      encoding: {
        x: { field: "step", type: "quantitative", title: "epoch (step)" },
        y: { field: "v", type: "quantitative", title: data.curves.name, scale: { zero: false } },
        detail: { field: "id", type: "nominal" },
        color: { field: "final", type: "quantitative", title: "final " + objective, scale: better },
        tooltip: [{ field: "id", title: "trial" }, { field: "step" }, { field: "v", title: data.curves.name }],
      },
    };
  }

  function pareto() {
    const pr = data.pareto;
    const points = pr.rows.map((r) => ({ id: r[0], a: r[1], b: r[2], front: r[3] ? "Pareto front" : "dominated" }));
    const front = points.filter((p) => p.front === "Pareto front").sort((p, q) => p.a - q.a);
    return {
      width: 500,
      height: 360,
      layer: [
        { data: { values: front }, mark: { type: "line", color: "#d62728", interpolate: "linear" }, encoding: { x: { field: "a", type: "quantitative" }, y: { field: "b", type: "quantitative" } } },
        {
          data: { values: points },
          mark: { type: "point", filled: true, size: 40 },
          encoding: {
            x: { field: "a", type: "quantitative", title: pr.x + " (" + pr.directions[0] + ")", scale: { zero: false } },
            y: { field: "b", type: "quantitative", title: pr.y + " (" + pr.directions[1] + ")", scale: { zero: false } },
            color: { field: "front", type: "nominal", scale: { domain: ["Pareto front", "dominated"], range: ["#d62728", "#9ecae1"] }, title: null },
            tooltip: [{ field: "id", title: "trial" }, { field: "a", title: pr.x }, { field: "b", title: pr.y }],
          },
        },
      ],
    };
  }

  // --- drawing -----------------------------------------------------------------------
  const pending = [];
  function draw(id, spec) {
    const el = document.getElementById(id);
    if (!el) return;
    status.charts += 1;
    spec.config = { view: { stroke: "#ddd" }, axis: { labelFontSize: 11, titleFontSize: 12 } };
    const options = { mode: "vega-lite", renderer: "canvas", actions: { export: true, source: false, compiled: false, editor: false } };
    pending.push(
      vegaEmbed(el, spec, options)
        .then(() => {
          status.rendered += 1;
        })
        .catch((error) => {
          status.errors.push(id + ": " + error);
          el.textContent = "could not draw this chart: " + error;
        })
    );
  }

  draw("chart-history", history());
  if (data.importance) draw("chart-importance", importance());
  if (complete.length && params.length) draw("chart-parallel", parallel());
  if (complete.length && params.length) draw("chart-slices", slices());
  data.contours.forEach((c, k) => draw("chart-contour-" + k, contour(c)));
  if (data.curves.rows.length) draw("chart-curves", curves());
  if (data.pareto && data.pareto.rows.length) draw("chart-pareto", pareto());
  Promise.allSettled(pending).then(() => {
    status.done = true;
  });

  // --- the trials table: every trial, sortable, a page at a time ----------------------
  const columns = [
    { title: "trial", get: (i) => cols.id[i] },
    { title: "state", get: (i) => cols.state[i] },
    { title: objective, get: (i) => cols.value[i] },
  ];
  if (cols.budget) columns.push({ title: "budget", get: (i) => cols.budget[i] });
  params.forEach((p) => columns.push({ title: p.name, get: (i) => data.param_columns[p.name][i] }));
  Object.keys(data.metric_columns).forEach((m) => columns.push({ title: m, get: (i) => data.metric_columns[m][i] }));
  const table = document.getElementById("trials");
  const pager = document.getElementById("pager");
  const PAGE = 50;
  let order = cols.id.map((_, i) => i);
  let sortBy = 0;
  let ascending = true;
  let page = 0;

  function compare(a, b) {
    if (a === b) return 0;
    if (a === null || a === undefined) return 1; // blanks last, either way
    if (b === null || b === undefined) return -1;
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }

  function sort(k) {
    ascending = k === sortBy ? !ascending : true;
    sortBy = k;
    const get = columns[k].get;
    order.sort((i, j) => {
      const a = get(i);
      const b = get(j);
      if (a === null || a === undefined || b === null || b === undefined) return compare(a, b);
      return ascending ? compare(a, b) : compare(b, a);
    });
    page = 0;
    render();
  }

  function render() {
    const head = columns
      .map((c, k) => "<th data-k='" + k + "'>" + escape(c.title) + (k === sortBy ? (ascending ? " ▲" : " ▼") : "") + "</th>")
      .join("");
    const body = order
      .slice(page * PAGE, (page + 1) * PAGE)
      .map((i) => "<tr class='" + escape(cols.state[i]) + "'>" + columns.map((c) => "<td>" + escape(c.get(i)) + "</td>").join("") + "</tr>")
      .join("");
    table.innerHTML = "<thead><tr>" + head + "</tr></thead><tbody>" + body + "</tbody>";
    const pages = Math.max(1, Math.ceil(order.length / PAGE));
    pager.querySelector("span").textContent =
      "trials " + (order.length ? page * PAGE + 1 : 0) + "-" + Math.min(order.length, (page + 1) * PAGE) + " of " + order.length + " (page " + (page + 1) + " of " + pages + ")";
    pager.querySelector(".prev").disabled = page === 0;
    pager.querySelector(".next").disabled = page >= pages - 1;
  }

  function escape(value) {
    if (value === null || value === undefined) return "";
    return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  table.addEventListener("click", (event) => {
    const th = event.target.closest("th");
    if (th) sort(Number(th.dataset.k));
  });
  pager.querySelector(".prev").addEventListener("click", () => {
    page -= 1;
    render();
  });
  pager.querySelector(".next").addEventListener("click", () => {
    page += 1;
    render();
  });
  render();
})();
