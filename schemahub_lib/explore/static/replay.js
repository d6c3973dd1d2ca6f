// Replay page: pick a moment, then animate the window the server computed. Every number shown
// (last prices, spread, trades/s, lead-lag, gaps) comes from /api/replay and /api/leadlag;
// this script only indexes the server's grid by the slider position and draws.
const $ = (id) => document.getElementById(id);
const COLORS = ["#d9480f", "#1c7ed6", "#2b8a3e", "#862e9c", "#e67700", "#0b7285"];
const GAP_COLORS = {ledger: "rgba(224,49,49,0.22)", no_data: "rgba(134,142,150,0.25)", silence: "rgba(245,159,0,0.22)"};
let catalog = null, data = null, chart = null, step = 0, playing = false, lastFrame = null, playMs = 0;

function params() {
  const picked = [...document.querySelectorAll("#markets input:checked")].map((el) => el.value);
  const p = new URLSearchParams({asset: $("asset").value, start: $("start").value, end: $("end").value});
  if (picked.length) p.set("markets", picked.join(","));
  if ($("asof").value) p.set("as_of", $("asof").value);
  return p;
}

function renderMarkets(selected) {
  const list = catalog.assets[$("asset").value] || [];
  $("markets").innerHTML = "";
  for (const m of list) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.value = m.market;
    box.checked = !selected || selected.includes(m.market);
    label.append(box, ` ${m.market} (${m.rows.toLocaleString()})`);
    $("markets").append(label);
  }
}

async function loadEvents() {
  const q = new URLSearchParams({asset: $("asset").value});
  if ($("asof").value) q.set("as_of", $("asof").value);
  const events = await getJSON("/api/events?" + q);
  $("events").innerHTML = "";
  for (const e of events) {
    const li = document.createElement("li");
    li.textContent = `${fmtTime(e.start_ns)}  range ${fmtNum(e.range_bps, 1)} bps (${e.markets} markets, ${e.trades} trades in 10 s)`;
    li.onclick = () => { pickEvent(e); loadReplay(); };
    $("events").append(li);
  }
  return events;
}

function pickEvent(e) {
  $("start").value = fmtTime(Number(e.start_ns) - 120e9);
  $("end").value = fmtTime(Number(e.end_ns) + 120e9);
}

async function loadReplay() {
  showMessage("");
  pause();
  const q = params();
  history.replaceState(null, "", "/?" + q);
  $("leadlag").textContent = "lead-lag: computing…";
  try {
    data = await getJSON("/api/replay?" + q);
  } catch (err) {
    $("player").classList.add("hidden");
    showMessage(err.message);
    return;
  }
  const notes = [data.notice, data.mixed_quotes].filter(Boolean);
  $("notice").textContent = notes.join(" · ");
  $("notice").classList.toggle("hidden", notes.length === 0);
  $("player").classList.remove("hidden");
  $("timeline").max = data.steps - 1;
  buildTable();
  buildGaps();
  buildChart();
  seek(0);
  getJSON("/api/leadlag?" + q)
    .then((ll) => { $("leadlag").textContent = ll.text; $("leadlag").title = JSON.stringify(ll.pairs); })
    .catch((err) => { $("leadlag").textContent = "lead-lag: " + err.message; });
}

function buildTable() {
  const body = document.querySelector("#venues tbody");
  body.innerHTML = "";
  data.markets.forEach((m, i) => {
    const tr = document.createElement("tr");
    tr.id = "venue-" + m.exchange.toLowerCase();
    tr.innerHTML = `<td style="color:${COLORS[i % COLORS.length]}">${m.market}</td><td class="price"></td><td class="bps"></td><td class="rate"></td><td>${m.trades.toLocaleString()}</td>`;
    body.append(tr);
  });
}

function buildGaps() {
  $("gaps").innerHTML = "";
  for (const g of data.gaps) {
    const li = document.createElement("li");
    li.className = "gap-marker"; li.dataset.market = g.market; li.dataset.kind = g.kind;
    li.textContent = `${g.market}: ${g.kind === "ledger" ? "gap" : g.kind.replace("_", " ")} ${fmtTime(data.start_ns + g.start_ms * 1e6)} – ${fmtTime(data.start_ns + g.end_ms * 1e6)} (${g.detail})`;
    $("gaps").append(li);
  }
}

function buildChart() {
  const x0 = data.start_ns / 1e9, x1 = data.end_ns / 1e9;
  let lo = Infinity, hi = -Infinity;
  for (const ys of data.draw.prices) for (const y of ys) if (y !== null) { lo = Math.min(lo, y); hi = Math.max(hi, y); }
  if (!isFinite(lo)) { lo = 0; hi = 1; }
  const pad = (hi - lo) * 0.05 || 1;
  const opts = {
    width: Math.max(600, document.querySelector("main").clientWidth - 40), height: 340,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
    scales: {x: {time: true, auto: false, range: [x0, x1]}, y: {auto: false, range: [lo - pad, hi + pad]}},
    series: [{}].concat(data.markets.map((m, i) => ({label: m.market, stroke: COLORS[i % COLORS.length], width: 1.2, spanGaps: true, points: {show: false}}))),
    axes: [{}, {size: 80}],
    hooks: {draw: [drawOverlays]},
  };
  if (chart) chart.destroy();
  chart = new uPlot(opts, sliceTo(Infinity), $("chart"));
}

function drawOverlays(u) {
  const ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
  ctx.save();
  const names = data.markets.map((m) => m.market);
  for (const g of data.gaps) {
    const a = u.valToPos(data.start_ns / 1e9 + g.start_ms / 1e3, "x", true);
    const b = u.valToPos(data.start_ns / 1e9 + g.end_ms / 1e3, "x", true);
    ctx.fillStyle = GAP_COLORS[g.kind] || GAP_COLORS.ledger;
    ctx.fillRect(a, top, Math.max(b - a, 2), height);
    ctx.fillStyle = "#8a1c1c";
    ctx.font = `${11 * devicePixelRatio}px system-ui`;
    ctx.textAlign = "left"; ctx.textBaseline = "alphabetic";
    ctx.fillText(`${g.market.split(":")[0]} ${g.kind}`, a + 3, top + 14 * devicePixelRatio * (1 + names.indexOf(g.market)));
  }
  const x = u.valToPos(data.start_ns / 1e9 + playMs / 1e3, "x", true);
  ctx.strokeStyle = "#1d2733"; ctx.lineWidth = devicePixelRatio;
  ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + height); ctx.stroke();
  ctx.restore();
}

function sliceTo(ms) {
  const t = data.draw.t_ms;
  let lo = 0, hi = t.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (t[mid] <= ms) lo = mid + 1; else hi = mid; }
  const xs = t.slice(0, lo).map((v) => data.start_ns / 1e9 + v / 1e3);
  return [xs].concat(data.draw.prices.map((ys) => ys.slice(0, lo)));
}

function seek(i) {
  step = Math.max(0, Math.min(i, data.steps - 1));
  playMs = step * data.step_ms;
  render();
}

function render() {
  $("timeline").value = step;
  $("clock").textContent = fmtTime(data.start_ns + playMs * 1e6);
  const rows = document.querySelectorAll("#venues tbody tr");
  data.markets.forEach((m, i) => {
    rows[i].querySelector(".price").textContent = fmtNum(m.last_price[step], 2);
    rows[i].querySelector(".bps").textContent = fmtNum(m.bps_vs_median[step], 2);
    rows[i].querySelector(".rate").textContent = fmtNum(m.trades_per_s[step], 0);
  });
  $("spread").textContent = fmtNum(data.spread_bps[step], 2);
  $("rate").textContent = fmtNum(data.trades_per_s[step], 0);
  chart.setData(sliceTo(playMs));
}

function frame(now) {
  if (!playing) return;
  if (lastFrame !== null) {
    playMs += (now - lastFrame) * Number($("speed").value);
    step = Math.min(Math.floor(playMs / data.step_ms), data.steps - 1);
    render();
    if (step >= data.steps - 1) { pause(); return; }
  }
  lastFrame = now;
  requestAnimationFrame(frame);
}

function play() { if (!data) return; if (step >= data.steps - 1) seek(0); playing = true; lastFrame = null; $("play").textContent = "Pause"; requestAnimationFrame(frame); }
function pause() { playing = false; $("play").textContent = "Play"; }

async function init() {
  $("play").onclick = () => (playing ? pause() : play());
  $("timeline").oninput = (e) => seek(Number(e.target.value));
  $("load").onclick = loadReplay;
  const url = new URLSearchParams(location.search);
  try {
    catalog = await getJSON("/api/markets" + (url.get("as_of") ? "?as_of=" + url.get("as_of") : ""));
  } catch (err) { showMessage(err.message); return; }
  const assets = Object.keys(catalog.assets);
  if (!assets.length) { showMessage("trades_unified holds no trades yet: nothing to replay"); return; }
  for (const a of assets) $("asset").append(new Option(a, a));
  // An asset the table does not hold still goes to the API, whose 404 message the page shows.
  if (url.get("asset") && !assets.includes(url.get("asset"))) $("asset").append(new Option(url.get("asset"), url.get("asset")));
  for (const s of catalog.snapshots.slice().reverse()) $("asof").append(new Option(`${s.committed_at} ${s.operation} (${s.snapshot_id})`, s.snapshot_id));
  $("asset").value = url.get("asset") || (assets.includes("BTC") ? "BTC" : assets[0]);
  if (url.get("as_of")) $("asof").value = url.get("as_of");
  renderMarkets(url.get("markets") ? url.get("markets").split(",") : null);
  $("asset").onchange = () => { renderMarkets(null); loadEvents().catch((e) => showMessage(e.message)); };
  $("asof").onchange = () => loadEvents().catch((e) => showMessage(e.message));
  let events = [];
  try { events = await loadEvents(); } catch (err) { showMessage(err.message); }
  if (url.get("start") && url.get("end")) { $("start").value = url.get("start"); $("end").value = url.get("end"); }
  else if (events.length) pickEvent(events[0]);
  else return;
  await loadReplay();
}
init();
