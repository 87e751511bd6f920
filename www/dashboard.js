// The collector's dashboard: the A/B report, traffic and latency over time, accuracy with its
// interval, drift per feature, the now-test, the review queue and recent alerts, refreshed every
// 5 s from the admin-only report API. Chart.js (from npm, served with the page) draws the charts.
// State goes to data-state on <body> for the browser tests.

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const TOKEN_KEY = "wasm-predict.admin-token";
const COLORS = ["#38bdf8", "#f472b6", "#a3e635", "#fbbf24", "#c084fc"];
/** @type {any} */
const Chart = /** @type {any} */ (globalThis).Chart;

Chart.defaults.color = "#94a3b8";
Chart.defaults.borderColor = "#233250";
Chart.defaults.font.family = "system-ui, sans-serif";
Chart.defaults.animation = false;

function takeToken() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

/** @param {string} path */
async function api(path) {
  const response = await fetch(path, { headers: { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` } });
  if (response.status === 401) throw Object.assign(new Error("the admin token was refused"), { unauthorized: true });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${(await response.json().catch(() => ({}))).error ?? ""}`);
  return path.endsWith(".csv") ? response.text() : response.json();
}

/** @type {Record<string, any>} */
const charts = {};

/**
 * @param {string} id
 * @param {object} config
 */
function chart(id, config) {
  if (charts[id]) {
    charts[id].data = /** @type {any} */ (config).data;
    charts[id].update();
  } else {
    charts[id] = new Chart(/** @type {HTMLCanvasElement} */ ($(id)), { ...config, options: { responsive: true, maintainAspectRatio: false, ...(/** @type {any} */ (config).options ?? {}) } });
  }
}

/** @param {number | null | undefined} v @param {number} digits */
const fmt = (v, digits = 3) => (v === null || v === undefined ? "–" : v.toFixed(digits));

/** @param {HTMLElement} list @param {Array<[string, string, string?]>} rows */
function fillList(list, rows) {
  list.replaceChildren(
    ...rows.flatMap(([term, detail, cls]) => {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = detail;
      if (cls) dd.className = cls;
      return [dt, dd];
    }),
  );
}

/** @param {number} v */
const signed = (v) => `${v >= 0 ? "+" : ""}${fmt(v, 4)}`;

/**
 * One challenger against the champion: the always-valid interval (safe to read at every
 * refresh), the fixed-horizon p-value, both Holm-adjusted, and the outcomes still needed.
 * @param {any} ab @param {any} c
 */
function comparisonText(ab, c) {
  const d = c.decision;
  if (!d) return `${c.arm}: not enough outcomes to compare with ${ab.champion} yet`;
  const level = Math.round(100 * (1 - ab.analysis.alpha));
  const metric = d.metric === "accuracy" ? "accuracy" : "MAE";
  const sequence = d.sequential ? `[${signed(d.sequential.low)}, ${signed(d.sequential.high)}]` : "–";
  const verdict = { better: `${c.arm} is better`, worse: `${c.arm} is worse`, undecided: "no verdict yet" }[/** @type {"better" | "worse" | "undecided"} */ (d.verdict)];
  const size = c.sample_size ? ` · to detect ${c.sample_size.minimum_detectable_effect}: ${c.sample_size.remaining} more outcomes` : "";
  return `${c.arm} − ${ab.champion}: ${metric} ${signed(d.difference)}, always-valid ${level}% interval ${sequence} (p = ${fmt(d.sequential_adjusted_p_value, 4)}) → ${verdict} · fixed-horizon p = ${fmt(d.adjusted_p_value, 4)} (read only at the planned size)${size}`;
}

/**
 * Precision / recall of the positive class at the model's decision threshold, or "–" (not a
 * binary classifier, or no outcomes).
 * @param {any} t a report's `at_threshold`
 */
function thresholdText(t) {
  if (!t) return "–";
  const rule = t.positive.threshold == null ? "most probable" : `≥ ${t.positive.threshold}`;
  return `${fmt(t.precision?.value)} / ${fmt(t.recall?.value)} (${t.positive.class} ${rule})`;
}

/** @param {any} ab */
function showArms(ab) {
  $("experiment-id").textContent = `${ab.experiment} · champion ${ab.champion} · ${ab.events} events`;
  const rows = ab.arms.map((/** @type {any} */ a) => {
    const tr = document.createElement("tr");
    const accuracy = a.accuracy ? `${fmt(a.accuracy.value)} [${fmt(a.accuracy.low)}, ${fmt(a.accuracy.high)}]` : a.mean_absolute_error ? `MAE ${fmt(a.mean_absolute_error.mean)}` : "–";
    const cells = [a.arm, fmt(a.weight, 2), a.clients, a.exposures, a.predictions, a.errors, a.fallbacks, fmt(a.latency_ms?.p50), fmt(a.latency_ms?.p95), fmt(a.latency_ms?.p99), fmt(a.mean_confidence), a.outcomes, accuracy, thresholdText(a.at_threshold)];
    tr.replaceChildren(...cells.map((c) => Object.assign(document.createElement("td"), { textContent: String(c) })));
    return tr;
  });
  $("arms").querySelector("tbody")?.replaceChildren(...rows);
  $("comparison").replaceChildren(
    ...ab.comparisons.map((/** @type {any} */ c) => Object.assign(document.createElement("li"), { textContent: comparisonText(ab, c), className: c.decision?.verdict ?? "undecided" })),
  );
  const srm = ab.sample_ratio;
  const chip = $("srm");
  if (!srm.test) {
    chip.textContent = "sample ratio: no exposures yet";
    chip.className = "chip";
  } else {
    chip.textContent = srm.mismatch ? `sample ratio MISMATCH: p = ${srm.test.p_value.toExponential(2)}` : `sample ratio ok: p = ${fmt(srm.test.p_value, 3)} (${srm.observed.join(" / ")})`;
    chip.className = `chip ${srm.mismatch ? "bad" : "good"}`;
  }
  document.body.dataset.srm = srm.test ? (srm.mismatch ? "mismatch" : "ok") : "none";
  const withOutcomes = ab.arms.filter((/** @type {any} */ a) => a.accuracy);
  chart("chart-accuracy", {
    data: {
      labels: withOutcomes.map((/** @type {any} */ a) => a.arm),
      datasets: [
        { type: "bar", label: "95% interval", data: withOutcomes.map((/** @type {any} */ a) => [a.accuracy.low, a.accuracy.high]), backgroundColor: withOutcomes.map((/** @type {any} */ _a, /** @type {number} */ i) => `${COLORS[i % COLORS.length]}66`), borderColor: withOutcomes.map((/** @type {any} */ _a, /** @type {number} */ i) => COLORS[i % COLORS.length]), borderWidth: 1, barPercentage: 0.4 },
        { type: "line", label: "accuracy", data: withOutcomes.map((/** @type {any} */ a) => a.accuracy.value), showLine: false, pointRadius: 6, pointBackgroundColor: "#e2e8f0" },
      ],
    },
    options: { scales: { y: { min: 0, max: 1 } } },
  });
}

/** @param {any[]} points */
function showTimeline(points) {
  const times = [...new Set(points.map((p) => p.time))].sort();
  const arms = [...new Set(points.map((p) => p.arm))].sort();
  const days = times.length > 1 && Date.parse(times[times.length - 1]) - Date.parse(times[0]) > 86_400_000;
  const labels = times.map((t) =>
    days ? new Date(t).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }) : new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
  );
  const series = (/** @type {string} */ field) =>
    arms.map((arm, i) => ({
      label: arm,
      data: times.map((t) => points.find((p) => p.time === t && p.arm === arm)?.[field] ?? null),
      borderColor: COLORS[i % COLORS.length],
      backgroundColor: `${COLORS[i % COLORS.length]}99`,
      spanGaps: true,
    }));
  chart("chart-predictions", { type: "bar", data: { labels, datasets: series("predictions") }, options: { scales: { x: { stacked: true }, y: { stacked: true } } } });
  chart("chart-latency", { type: "line", data: { labels, datasets: series("p50_latency_ms") }, options: { scales: { y: { beginAtZero: true } } } });
}

/**
 * The features with missing values, live against the reference: " · missing: f3 12% (ref 10%)".
 * @param {any[]} features
 */
function missingNote(features) {
  const shown = features
    .filter((d) => (d.missing_share ?? 0) > 0 || (d.reference_missing_share ?? 0) > 0)
    .map((d) => `${d.name} ${(100 * (d.missing_share ?? 0)).toFixed(1)}% (ref ${(100 * (d.reference_missing_share ?? 0)).toFixed(1)}%)`);
  return shown.length ? ` · missing: ${shown.join(", ")}` : "";
}

/** @param {any} drift */
function showDrift(drift) {
  $("drift-model").textContent = drift.model;
  const rows = [...drift.features, ...drift.predictions_drift].filter((d) => d.psi !== null);
  chart("chart-psi", {
    type: "bar",
    data: {
      labels: rows.map((d) => d.name.replace(/^pixel_/, "")),
      datasets: [
        { label: "PSI", data: rows.map((d) => d.psi), backgroundColor: rows.map((d) => (d.drifted ? "#f87171" : "#38bdf8")) },
        { type: "line", label: `threshold ${drift.threshold}`, data: rows.map(() => drift.threshold), borderColor: "#fbbf24", borderDash: [6, 4], pointRadius: 0 },
      ],
    },
    options: { scales: { x: { ticks: { autoSkip: true, maxRotation: 0 } } } },
  });
  $("drift-note").textContent =
    drift.with_inputs === 0
      ? `${drift.predictions} predictions, none with inputs (includeInputs is off): only the predictions' distribution is checked.`
      : `${drift.with_inputs} of ${drift.predictions} predictions logged inputs · drifted: ${drift.drifted.length ? drift.drifted.join(", ") : "none"}${missingNote(drift.features)}`;
}

/** @param {any} test */
function showNowTest(test) {
  const verdict = { pass: ["PASS", "ok"], fail: ["FAIL: below the minimum", "fail"], "not-enough-data": ["not enough outcomes yet", ""] }[/** @type {"pass"} */ (test.verdict)];
  /** @type {Array<[string, string, string?]>} */
  const rows = [
    ["Model", test.model],
    [test.metric, `${fmt(test.achieved, 4)} on ${test.outcomes} outcomes`],
    ["Minimum", `${test.minimum} (at bundling ${fmt(test.at_bundling, 4)})`],
  ];
  if (test.at_threshold) rows.push(["Precision / recall", thresholdText(test.at_threshold)]);
  rows.push(["Verdict", verdict[0], verdict[1]]);
  fillList($("now-test"), rows);
}

/** @param {any[]} items @param {any[]} alerts */
function showQueue(items, alerts) {
  fillList($("review"), [
    ["Waiting", String(items.filter((i) => !i.labelled).length)],
    ["Labelled", String(items.filter((i) => i.labelled).length)],
    ["With inputs", String(items.filter((i) => i.inputs).length)],
  ]);
  const list = $("alerts");
  if (alerts.length === 0) {
    list.replaceChildren(Object.assign(document.createElement("li"), { className: "none", textContent: "no alerts" }));
    return;
  }
  list.replaceChildren(
    ...alerts.map((a) => {
      const item = document.createElement("li");
      const time = Object.assign(document.createElement("time"), { textContent: new Date(a.time).toLocaleString() });
      item.append(time, `${a.kind}: ${a.message}`);
      return item;
    }),
  );
}

/** What the pickers chose, kept in the page's query string so that a link shows the same view. */
const selection = (() => {
  const params = new URLSearchParams(location.search);
  return { experiment: params.get("experiment") ?? "", model: params.get("model") ?? "", hours: params.get("hours") ?? "" };
})();

/** The reports' query string for the selection; `withModel` for drift and the now-test. */
function query(withModel = false, extra = {}) {
  const params = new URLSearchParams(extra);
  if (selection.experiment) params.set("experiment", selection.experiment);
  if (selection.hours) params.set("hours", selection.hours);
  if (withModel && selection.model) params.set("model", selection.model);
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** @type {any[]} */
let experiments = [];

/** Fills the pickers from the configs and the stored events (once, and when the experiment changes). */
async function loadPickers() {
  ({ experiments } = await api("/v1/experiments"));
  const pickExperiment = /** @type {HTMLSelectElement} */ ($("pick-experiment"));
  pickExperiment.replaceChildren(
    ...experiments.map((e) =>
      Object.assign(document.createElement("option"), { value: e.served ? "" : e.id, textContent: e.configured ? e.id : `${e.id} (no config)`, disabled: !e.configured }),
    ),
  );
  pickExperiment.value = selection.experiment;
  const current = experiments.find((e) => (selection.experiment ? e.id === selection.experiment : e.served));
  const pickModel = /** @type {HTMLSelectElement} */ ($("pick-model"));
  pickModel.replaceChildren(
    Object.assign(document.createElement("option"), { value: "", textContent: "the champion's" }),
    ...(current?.models ?? []).map((/** @type {string} */ m) => Object.assign(document.createElement("option"), { value: m, textContent: m })),
  );
  pickModel.value = selection.model;
  /** @type {HTMLSelectElement} */ ($("pick-window")).value = selection.hours;
  $("pickers").hidden = false;
}

/** @param {Event} event */
function pick(event) {
  const target = /** @type {HTMLSelectElement} */ (event.target);
  const field = /** @type {"experiment" | "model" | "hours"} */ ({ "pick-experiment": "experiment", "pick-model": "model", "pick-window": "hours" }[target.id]);
  selection[field] = target.value;
  if (field === "experiment") selection.model = "";
  const params = new URLSearchParams(Object.entries(selection).filter(([, v]) => v));
  history.replaceState(null, "", `${location.pathname}${params.size ? `?${params}` : ""}`);
  document.body.dataset.state = "loading";
  (field === "experiment" ? loadPickers() : Promise.resolve()).then(refresh).catch(showFailure);
}

async function refresh() {
  const [ab, timeline, drift, test, review, alerts] = await Promise.all([
    api(`/v1/reports/ab${query()}`),
    api(`/v1/reports/timeline${query(false, { minutes: "1" })}`),
    api(`/v1/reports/drift${query(true)}`),
    api(`/v1/reports/now-test${query(true)}`),
    api(`/v1/reports/review${query()}`),
    api("/v1/alerts"),
  ]);
  showArms(ab);
  showTimeline(timeline);
  showDrift(drift);
  showNowTest(test);
  showQueue(review, alerts);
  $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  document.body.dataset.state = "ready";
}

async function start() {
  $("board").hidden = false;
  $("login").hidden = true;
  try {
    await loadPickers();
    await refresh();
  } catch (error) {
    if (/** @type {any} */ (error).unauthorized) return askForToken("That token was refused.");
    throw error;
  }
  const poll = () => refresh().catch((e) => ($("updated").textContent = `refresh failed: ${e.message}`));
  // A hidden tab asks nothing: six reports every 5 s from every forgotten tab add up.
  setInterval(() => document.hidden || poll(), 5000);
  document.addEventListener("visibilitychange", () => document.hidden || poll());
}

/** @param {string} [problem] */
function askForToken(problem = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  $("board").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = problem;
  document.body.dataset.state = "login";
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, /** @type {HTMLInputElement} */ ($("token")).value);
  start().catch(showFailure);
});
$("review-csv").addEventListener("click", async () => {
  const csv = await api(`/v1/reports/review.csv${query()}`);
  const link = Object.assign(document.createElement("a"), { href: URL.createObjectURL(new Blob([csv], { type: "text/csv" })), download: "review.csv" });
  link.click();
  URL.revokeObjectURL(link.href);
});

/** @param {Error} error */
function showFailure(error) {
  console.error(error);
  $("updated").textContent = `failed: ${error.message}`;
  document.body.dataset.state = "failed";
}

$("pickers").addEventListener("change", pick);

if (takeToken()) start().catch(showFailure);
else askForToken();
