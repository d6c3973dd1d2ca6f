// Live page: draws each board the server streams (server-sent events); computes nothing.
const byId = (id) => document.getElementById(id);

function draw(snap) {
  byId("updated").textContent = new Date(snap.updated_ns / 1e6).toISOString();
  byId("threshold").textContent = snap.threshold_bps;
  byId("stale").textContent = snap.stale_s;
  const body = document.querySelector("#live tbody");
  body.innerHTML = "";
  for (const r of snap.rows) {
    const tr = document.createElement("tr");
    tr.dataset.market = r.market;
    tr.className = r.flags.includes("stale") ? "stale" : r.flags.includes("spread") ? "flag" : "";
    const cells = [r.asset, r.market, r.price === null ? "–" : r.price.toLocaleString("en-US", {maximumFractionDigits: 8}),
      r.age_s === null ? "–" : `${r.age_s} s`, r.bps_vs_median === null ? "–" : r.bps_vs_median.toFixed(2),
      r.compared, r.flags.join(", ") + (r.error ? ` (${r.error})` : "")];
    cells.forEach((c, i) => { const td = document.createElement("td"); td.textContent = c; td.className = ["asset", "market", "price", "age", "bps", "compared", "flags"][i]; tr.append(td); });
    body.append(tr);
  }
  const leaders = [...new Set(snap.rows.map((r) => `${r.asset}: ${r.leader}`))];
  byId("leaders").textContent = leaders.join(" · ");
  const l = snap.landed;
  byId("landed").textContent = `landing (the board's only fetch path): ${l.pages.toLocaleString()} pages fetched; ${l.trades.toLocaleString()} trades committed in ${l.commits} commits, ${l.held.toLocaleString()} held for the next commit (one per stream every ${l.flush_s} s)` + (l.last_error ? ` (last error: ${l.last_error})` : "");
  const list = byId("episodes");
  list.innerHTML = "";
  for (const e of snap.episodes) {
    const li = document.createElement("li");
    // peak_bps is signed (the largest distance from the median either side): say which side.
    const side = e.peak_bps < 0 ? "below" : "above";
    li.textContent = `${e.exchange}:${e.symbol} ${e.start_ts} – ${e.end_ts}: peak ${Math.abs(e.peak_bps).toFixed(2)} bps ${side} (${e.comparison})`;
    list.append(li);
  }
}

async function start() {
  try { draw(await getJSON("/api/live")); } catch (err) { showMessage(err.message); return; }
  const source = new EventSource("/api/live/stream");
  source.onmessage = (ev) => { showMessage(""); draw(JSON.parse(ev.data)); };
  source.onerror = () => showMessage("live stream interrupted; reconnecting…");
}
start();
