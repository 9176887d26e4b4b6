// The dashboard's page and style sheet, shipped inside the gateway (no CDN, no external fonts:
// it works on an observatory network without internet). Every URL in them is relative, so that
// the page works at the gateway's root and behind nginx under `/api/`.

extension DashboardAssets {
    static let indexHTML = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Aperture</title>
<link rel="icon" href="assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="assets/dashboard.css">
<script src="assets/dashboard.js" defer></script>
</head>
<body>
<header id="top">
  <h1>Aperture</h1>
  <span id="camera-state" class="badge" title="camera state">…</span>
  <span id="stream-state" class="badge" title="live events stream">connecting</span>
  <span class="spacer"></span>
  <button type="button" id="token-button" class="quiet" title="set the bearer token used for commands">Token</button>
  <button type="button" id="night-button" class="quiet" title="red display for dark-adapted eyes">Night</button>
</header>

<div id="auth" class="banner" hidden>
  <form id="auth-form">
    <label for="token-input">This gateway needs a bearer token for commands.</label>
    <input type="password" id="token-input" autocomplete="off" placeholder="token" spellcheck="false">
    <button type="submit">Save</button>
    <button type="button" id="token-forget" class="quiet">Forget</button>
    <button type="button" id="token-close" class="quiet">Close</button>
  </form>
  <p id="auth-message"></p>
</div>
<div id="message" class="banner" role="status" hidden></div>

<main>
  <section id="camera-panel">
    <h2>Camera</h2>
    <dl class="facts">
      <dt>State</dt><dd id="camera-state-text">–</dd>
      <dt>Driver</dt><dd id="camera-driver">–</dd>
      <dt>Sensor</dt><dd id="camera-sensor">–</dd>
      <dt>Filter</dt><dd id="camera-filter">–</dd>
      <dt>Exposure</dt><dd id="camera-exposure">–</dd>
    </dl>
  </section>

  <section id="temperature-panel">
    <h2>Temperature</h2>
    <div class="readout">
      <div><span class="label">Sensor</span><span id="temp-celsius" class="big">–</span></div>
      <div><span class="label">Set-point</span><span id="temp-setpoint" class="big">–</span></div>
      <div><span class="label">Cooler</span><span id="temp-cooler">–</span></div>
    </div>
    <canvas id="temp-chart" aria-label="sensor temperature and set-point over the last hour"></canvas>
    <form id="cooling-form" class="row">
      <label>Set-point <input type="number" id="cool-setpoint" step="1" required> °C</label>
      <button type="submit">Cool</button>
      <button type="button" id="cooler-off" class="quiet">Cooler off</button>
    </form>
  </section>

  <section id="exposure-panel">
    <h2>Exposure</h2>
    <form id="exposure-form" class="grid-form" novalidate>
      <label>Type
        <select id="exp-type">
          <option value="object">object</option>
          <option value="flat">flat</option>
          <option value="dark">dark</option>
          <option value="bias">bias</option>
        </select>
      </label>
      <label>Time (s) <input type="number" id="exp-time" min="0" step="any" value="1" required></label>
      <label>Count <input type="number" id="exp-count" min="1" step="1" value="1" required></label>
      <label>Filter <select id="exp-filter"><option value="">(as is)</option></select></label>
      <label class="wide">Object <input type="text" id="exp-object" maxlength="68" placeholder="OBJECT keyword"></label>
      <label class="wide">Comment <input type="text" id="exp-comment" maxlength="500" placeholder="free text; 'focus: N' sets FOCUS"></label>
      <div class="buttons wide">
        <button type="submit" id="expose-button">Start exposure</button>
        <button type="button" id="abort-button" class="danger">Abort</button>
      </div>
    </form>
    <progress id="progress" max="100" value="0"></progress>
    <div id="progress-text" class="muted">No exposure yet.</div>
  </section>

  <section id="preview-panel">
    <h2>Latest frame</h2>
    <div class="row">
      <label>Stretch
        <select id="stretch">
          <option value="zscale">zscale</option>
          <option value="asinh">asinh</option>
          <option value="linear">linear (min–max)</option>
        </select>
      </label>
      <label><input type="checkbox" id="show-rois" checked> ROIs</label>
      <span id="preview-caption" class="muted"></span>
    </div>
    <div id="preview-box">
      <img id="preview" alt="the latest frame" hidden>
      <canvas id="roi-overlay"></canvas>
      <p id="preview-empty" class="muted">No frame yet.</p>
    </div>
    <table id="stats" class="compact"><tbody></tbody></table>
  </section>

  <section id="files-panel">
    <h2>Files</h2>
    <div class="row">
      <label>Night <select id="night-select"></select></label>
      <span id="night-summary" class="muted"></span>
    </div>
    <div class="scroll">
      <table id="files-table" class="compact">
        <thead><tr><th>File</th><th class="num">Size</th><th>Modified (UTC)</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
  </section>

  <section id="health-panel">
    <h2>Processes</h2>
    <table id="children-table" class="compact">
      <thead><tr><th>Process</th><th class="num">PID</th><th>State</th><th>Ping</th><th class="num">Restarts</th><th>Last exit</th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="supervisor-summary" class="muted"></p>
  </section>
</main>
<footer class="muted">Aperture · <a href="v1/openapi.json">API</a> · <a href="metrics">metrics</a> · <a href="healthz">health</a></footer>
</body>
</html>
"""#

    static let stylesheet = #"""
:root {
  --bg: #11151b; --panel: #1a2028; --line: #2c3542; --text: #d8dee6; --muted: #8a96a6;
  --accent: #5fa8ff; --good: #4cc38a; --warn: #e0b341; --bad: #ef5f5f; --signal: #ffd24a; --background: #45d4e6;
  color-scheme: dark;
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html.night body { filter: grayscale(1) sepia(1) saturate(5) hue-rotate(-45deg) brightness(0.75); }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header#top { display: flex; align-items: center; gap: .75rem; padding: .6rem 1rem; background: var(--panel);
  border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 5; }
header h1 { font-size: 1.15rem; margin: 0 .5rem 0 0; letter-spacing: .04em; }
.spacer { flex: 1; }
.badge { padding: .1rem .55rem; border-radius: 999px; background: var(--line); font-size: .85rem; white-space: nowrap; }
.badge.good { background: #1e4d37; color: #b8f0d2; }
.badge.busy { background: #1d3f66; color: #cfe5ff; }
.badge.warn { background: #5a4a1a; color: #ffe9a8; }
.badge.bad { background: #5e2323; color: #ffd0d0; }
.banner { margin: .75rem 1rem 0; padding: .6rem .8rem; border-radius: 6px; background: #23314a; border: 1px solid var(--line); }
.banner.error { background: #4a2323; border-color: #7a3434; }
.banner.ok { background: #1f3d2f; border-color: #2f6b4f; }
#auth form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
#auth p { margin: .4rem 0 0; color: var(--muted); }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 1rem; padding: 1rem; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem 1rem; min-width: 0; }
#preview-panel { grid-row: span 2; }
h2 { font-size: 1rem; margin: 0 0 .6rem; color: var(--muted); text-transform: uppercase; letter-spacing: .06em; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.readout { display: flex; gap: 1.5rem; margin-bottom: .5rem; align-items: flex-end; }
.readout .label { display: block; color: var(--muted); font-size: .8rem; }
.big { font-size: 1.6rem; font-variant-numeric: tabular-nums; }
canvas#temp-chart { width: 100%; height: 180px; display: block; background: #141a21; border-radius: 4px; }
.row { display: flex; flex-wrap: wrap; gap: .6rem; align-items: center; margin: .5rem 0; }
.grid-form { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: .5rem .75rem; }
.grid-form label { display: flex; flex-direction: column; gap: .2rem; color: var(--muted); font-size: .85rem; }
.grid-form .wide { grid-column: 1 / -1; }
.buttons { display: flex; gap: .5rem; }
input, select, button { font: inherit; color: var(--text); background: #0f1318; border: 1px solid var(--line); border-radius: 5px; padding: .35rem .5rem; }
input[type=checkbox] { padding: 0; }
input:focus, select:focus, button:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
button { background: #24476f; border-color: #2f5d91; cursor: pointer; }
button:hover { filter: brightness(1.15); }
button:disabled { opacity: .5; cursor: default; filter: none; }
button.quiet { background: transparent; }
button.danger { background: #6b2626; border-color: #8f3434; }
progress { width: 100%; height: 1.1rem; margin-top: .8rem; accent-color: var(--accent); }
.muted { color: var(--muted); }
#preview-box { position: relative; background: #000; border-radius: 4px; min-height: 160px; display: flex; align-items: center; justify-content: center; overflow: hidden; }
#preview { display: block; width: 100%; height: auto; image-rendering: auto; }
#roi-overlay { position: absolute; left: 0; top: 0; pointer-events: none; }
#preview-empty { margin: 0; }
table { border-collapse: collapse; width: 100%; }
table.compact th, table.compact td { padding: .25rem .5rem; border-bottom: 1px solid var(--line); text-align: left; font-variant-numeric: tabular-nums; }
table.compact th { color: var(--muted); font-weight: 500; }
#stats { margin-top: .6rem; }
#stats th { width: 40%; }
.num { text-align: right !important; }
.scroll { max-height: 320px; overflow: auto; }
a { color: var(--accent); }
.ok-text { color: var(--good); } .bad-text { color: var(--bad); } .warn-text { color: var(--warn); }
footer { padding: 0 1rem 1rem; font-size: .85rem; }
"""#

    static let faviconSVG = #"""
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="14" fill="#1a2028" stroke="#5fa8ff" stroke-width="3"/><circle cx="16" cy="16" r="5" fill="#5fa8ff"/></svg>
"""#
}
