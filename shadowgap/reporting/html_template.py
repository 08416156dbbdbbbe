# ruff: noqa: E501
"""Jinja2 markup of the weekly report page (markup lines run long; the logic is in html.py)."""

WEEKLY_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>shadowgap weekly report {{ s.period.since[:10] }} – {{ s.period.until[:10] }}</title>
<style>
@font-face { font-family: 'Material Icons'; font-style: normal; font-weight: 400;
  src: url(data:font/woff2;base64,{{ font }}) format('woff2'); }
.material-icons { font-family: 'Material Icons'; font-weight: normal; font-style: normal;
  font-size: 24px; line-height: 1; display: inline-block; white-space: nowrap;
  word-wrap: normal; direction: ltr; -webkit-font-smoothing: antialiased; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2933;
  margin: 0; background: #f5f7fa; }
header { background: #1f2933; color: #fff; padding: 18px 32px; }
header h1 { margin: 0; font-size: 20px; font-weight: 600; }
header p { margin: 4px 0 0; color: #cbd2d9; }
main { padding: 20px 32px 60px; }
h2 { font-size: 16px; margin: 28px 0 10px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: #fff; border: 1px solid #e4e7eb; border-radius: 6px; padding: 10px 14px;
  min-width: 130px; }
.card b { display: block; font-size: 20px; }
.card span { color: #616e7c; font-size: 12px; }
table { border-collapse: collapse; background: #fff; width: 100%; }
th, td { border-bottom: 1px solid #e4e7eb; padding: 5px 7px; font-size: 13px; text-align: right;
  white-space: nowrap; }
th { background: #eef2f7; font-weight: 600; position: sticky; top: 0; }
td.key, th.key { text-align: left; white-space: normal; overflow-wrap: anywhere; }
td.seg { min-width: 12em; }
td.key { min-width: 5em; }
.scroll { overflow-x: auto; }
.muted { color: #7b8794; font-size: 12px; }
.badge { display: inline-block; white-space: nowrap; border-radius: 10px; padding: 0 8px; margin: 1px;
  font-size: 12px; background: #fde2e1; color: #a61b1b; }
.ok { background: #e3f9e5; color: #207227; }
details { background: #fff; border: 1px solid #e4e7eb; border-radius: 6px; margin: 10px 0; }
details > summary { cursor: pointer; padding: 10px 14px; font-weight: 600; }
details .body { padding: 0 14px 14px; }
.evidently-root { min-height: 40px; }
</style>
</head>
<body>
<header>
<h1>shadowgap weekly drift report</h1>
<p>{{ s.period.since|when }} → {{ s.period.until|when }}, compared with
{{ s.period.previous_since|when }} → {{ s.period.previous_until|when }}</p>
</header>
<main>
<div class="cards">
<div class="card"><b>{{ t.events|num }}</b><span>events ({{ t.previous_events|num }} before)</span></div>
<div class="card"><b>{{ t.segments|num }}</b><span>segments</span></div>
<div class="card"><b>{{ t.segments_with_drift|num }}</b><span>segments with drift</span></div>
<div class="card"><b>{{ t.cost_saved_usd|usd }}</b><span>saved by the cheap path</span></div>
<div class="card"><b>{{ t.quality_lost|num }}</b><span>answers worse than flagship (est.)</span></div>
<div class="card"><b>{{ t.alerts_opened }} / {{ t.alerts_resolved }}</b><span>alerts opened / resolved</span></div>
</div>

<h2>Segments, ranked by excess gap × cheap volume</h2>
<div class="scroll"><table id="summary">
<thead><tr>
<th>#</th><th class="key">segment</th><th>cheap events</th><th>routing share</th>
<th>excess gap (95% CI)</th><th>latency mean</th><th>cost / request</th>
<th>cost saved</th><th>quality lost</th><th>p95 added</th><th class="key">drift (Evidently)</th>
<th>alerts opened / resolved</th><th>SLO budget left / burn</th><th>latency / errors SLO budget left</th>
</tr></thead>
<tbody>
{% for r in s.segments[:table_rows] %}
<tr>
<td>{{ r.rank }}</td>
<td class="key seg">{% if r.segment_id in dashboards %}<a href="#seg-{{ r.segment_id }}">{{ r.key }}</a>{% else %}{{ r.key }}{% endif %}</td>
<td>{{ r.current.cheap_events|num }}</td>
<td>{{ r.previous.routing_share|pct }} → {{ r.current.routing_share|pct }}</td>
<td>{{ r.previous.excess_gap|pct }} → {{ r.current.excess_gap|pct }}
<span class="muted">{{ r.current.excess_gap_ci|ci }}</span></td>
<td>{{ r.previous.latency_ms_mean|num }} → {{ r.current.latency_ms_mean|num }} ms</td>
<td>{{ r.previous.cost_per_request_usd|usd }} → {{ r.current.cost_per_request_usd|usd }}</td>
<td>{{ r.cost_saved_usd|usd }}</td>
<td>{{ r.quality_lost|num(1) }}</td>
<td>{% if r.p95_added_ms is not none %}{{ r.p95_added_ms|num }} ms{% else %}–{% endif %}</td>
<td class="key">{% for sig in r.drifted_signals %}<span class="badge">{{ labels.get(sig, sig) }}</span>{% else %}{% if r.evidently == "ok" %}<span class="badge ok">none</span>{% else %}<span class="muted">{{ r.evidently }}</span>{% endif %}{% endfor %}</td>
<td>{{ r.alerts.opened }} / {{ r.alerts.resolved }}</td>
<td>{% if r.slo and r.slo.budget_remaining is not none %}{{ r.slo.budget_remaining|pct }} / {% if r.slo.burn_rate is not none %}{{ "%.1f"|format(r.slo.burn_rate) }}x{% else %}–{% endif %}{% if r.slo.burning %} <span class="badge">burning</span>{% endif %}{% else %}–{% endif %}</td>
<td>{% for kind in ["latency", "error"] %}{% set q = (r.request_slo or {}).get(kind) %}{% if not loop.first %} / {% endif %}{% if q and q.budget_remaining is not none %}{{ q.budget_remaining|pct }}{% else %}–{% endif %}{% if q and q.burning %} <span class="badge">{{ kind }} burning</span>{% endif %}{% endfor %}</td>
</tr>
{% endfor %}
</tbody>
</table></div>
{% if s.segments|length > table_rows %}
<p class="muted">{{ s.segments|length - table_rows }} more segments are in the JSON summary.</p>
{% endif %}

<h2 id="why">Why the top segments moved</h2>
<p class="muted">This period against the one before, for the top of the ranking: the change in
expected flagship wins per request and in cost per request split (Shapley) into the router's
share, the cheap path on comparable requests (same router-score band) and the traffic mix, with
95% bootstrap intervals; and the p95 latency against its counterfactual with the old tier mix.</p>
<table id="attribution">
<thead><tr><th>#</th><th class="key">segment</th><th class="key">quality</th><th class="key">cost</th>
<th class="key">p95 latency</th></tr></thead>
<tbody>
{% for r in s.segments if r.attribution and r.attribution.available %}
<tr data-segment="{{ r.segment_id }}"><td>{{ r.rank }}</td><td class="key seg">{{ r.key }}</td>
<td class="key">{{ r.attribution.quality.sentence }}
<span class="muted">({{ r.attribution.quality.before|pct(2) }} → {{ r.attribution.quality.after|pct(2) }} flagship wins / request)</span></td>
<td class="key">{{ r.attribution.cost.sentence }}
<span class="muted">({{ r.attribution.cost.before|usd }} → {{ r.attribution.cost.after|usd }})</span></td>
<td class="key">{{ r.attribution.latency.sentence }}</td></tr>
{% else %}
<tr><td colspan="5" class="muted">No segment has traffic in both periods.</td></tr>
{% endfor %}
</tbody>
</table>

<h2>Drift methods</h2>
<table>
<thead><tr><th class="key">signal</th><th class="key">column</th><th class="key">method</th>
<th>threshold</th><th class="key">drift when</th><th class="key">why</th></tr></thead>
<tbody>
{% for name, m in s.drift_methods.items() %}
<tr><td class="key">{{ labels.get(name, name) }}</td><td class="key">{{ m.column }}</td>
<td class="key">{{ m.method }}</td><td>{{ m.threshold }}</td><td class="key">{{ m.detected_when }}</td>
<td class="key">{{ m.why }}</td></tr>
{% endfor %}
</tbody>
</table>
<p class="muted">At most {{ s.sample_limit_per_segment_period|num }} rows per segment and period
reach the drift tests; every rate and cost above is computed over all events. Excess gap is the
share of judged pairs the flagship won, weighted by 1 / inclusion probability, minus the
flagship-vs-flagship noise floor ({{ s.noise_floor.rate|pct }} over {{ s.noise_floor.pairs }}
pairs deployment-wide).</p>

<h2>Alerts</h2>
{% for name in ["opened", "resolved"] %}
<h3 class="muted">{{ name }} in the period ({{ s.alerts[name]|length }}{% if s.alerts[name]|length >= 200 %}+{% endif %})</h3>
{% if s.alerts[name] %}
<table>
<thead><tr><th>id</th><th class="key">segment</th><th class="key">signal</th>
<th class="key">severity</th><th class="key">status</th><th>opened</th><th>resolved</th></tr></thead>
<tbody>
{% for a in s.alerts[name] %}
<tr><td>{{ a.id }}</td><td class="key">{{ a.segment }}</td><td class="key">{{ a.signal }}</td>
<td class="key">{{ a.severity }}</td><td class="key">{{ a.status }}</td><td>{{ a.opened_at|when }}</td>
<td>{{ (a.resolved_at or "")|when }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endif %}
{% endfor %}

<h2>Per-segment Evidently reports</h2>
{% for r in s.segments if r.segment_id in dashboards %}
<details id="seg-{{ r.segment_id }}" data-segment="{{ r.segment_id }}"{% if loop.index <= open_sections %} open{% endif %}>
<summary>#{{ r.rank }} {{ r.key }}
{% for sig in r.drifted_signals %}<span class="badge">{{ labels.get(sig, sig) }}</span>{% endfor %}</summary>
<div class="body">
<table>
<thead><tr><th class="key">signal</th><th class="key">method</th><th>score</th><th>threshold</th>
<th>rows before / now</th><th class="key">drift</th></tr></thead>
<tbody>
{% for name, d in r.drift.items() %}
<tr><td class="key">{{ labels.get(name, name) }}</td><td class="key">{{ d.method }}</td>
<td>{{ d.score|num(4) }}</td><td>{{ d.threshold|num(4) }}</td>
<td>{{ d.n_reference|num }} / {{ d.n_current|num }}</td>
<td class="key">{% if d.skipped %}<span class="muted">{{ d.skipped }}</span>{% elif d.drift_detected %}<span class="badge">drift</span>{% else %}<span class="badge ok">stable</span>{% endif %}</td></tr>
{% endfor %}
</tbody>
</table>
{% if "page" in dashboards[r.segment_id] %}
<iframe title="Evidently report" width="100%" height="900" frameborder="0" srcdoc="{{ dashboards[r.segment_id].page }}"></iframe>
{% else %}
<div class="evidently-root" id="root_seg_{{ r.segment_id }}"></div>
{% endif %}
</div>
</details>
{% endfor %}
</main>
<script>var global = globalThis;</script>
<script>{{ bundle }}</script>
<script>
window.shadowgapDashboards = {};
{% for seg_id, d in dashboards.items() if "info" in d %}
window.shadowgapDashboards["{{ seg_id }}"] = {info: {{ script_json(d.info) }}, graphs: {{ script_json(d.graphs) }}};
{% endfor %}
(function () {
  var drawn = {};
  function draw(section) {
    var id = section.getAttribute("data-segment");
    var data = window.shadowgapDashboards[id];
    if (!section.open || drawn[id] || !data || !window.drawDashboard) { return; }
    drawn[id] = true;
    window.drawDashboard(data.info, new Map(Object.entries(data.graphs)), "root_seg_" + id);
  }
  document.querySelectorAll("details[data-segment]").forEach(function (section) {
    section.addEventListener("toggle", function () { draw(section); });
    draw(section);
  });
})();
</script>
</body>
</html>
"""
