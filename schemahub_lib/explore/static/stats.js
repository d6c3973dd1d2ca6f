// Stats page: renders /api/stats (the `schemahub status` report plus open gaps) and refreshes.
const REFRESH_S = 10;
const el = (id) => document.getElementById(id);

function fill(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.innerHTML = "";
  for (const cells of rows) {
    const tr = document.createElement("tr");
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c === null || c === undefined ? "–" : c; tr.append(td); }
    body.append(tr);
  }
}
function bytes(n) { const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return `${n.toFixed(i ? 1 : 0)} ${u[i]}`; }
function span(s) { if (s === null || s === undefined) return null; if (s < 120) return `${s.toFixed(0)} s`; if (s < 7200) return `${(s / 60).toFixed(0)} min`; return `${(s / 3600).toFixed(1)} h`; }

async function refresh() {
  try {
    const s = await getJSON("/api/stats");
    showMessage(s.errors.length ? s.errors.join("; ") : "");
    el("generated").textContent = s.generated_at; el("took").textContent = s.seconds; el("warehouse").textContent = s.warehouse;
    fill("tables", s.tables.map((t) => [t.table, t.records.toLocaleString(), bytes(t.bytes), t.data_files, t.small_files, t.snapshots]));
    fill("streams", s.streams.map((r) => [r.exchange, r.product, r.raw_rows === null ? null : r.raw_rows.toLocaleString(), r.unified_rows === null ? null : r.unified_rows.toLocaleString(), r.newest_trade_ts, span(r.lag_s), r.last_run_status ? `${r.last_run_kind} ${r.last_run_status} ${r.last_run_at || ""}` : null, r.last_run_trades]));
    const total = s.market_bytes.reduce((a, m) => a + m.bytes_estimate, 0);
    fill("market-bytes", s.market_bytes.map((m) => [m.exchange, m.symbol, m.rows.toLocaleString(), `≈ ${bytes(m.bytes_estimate)}`, total ? `${(100 * m.bytes_estimate / total).toFixed(1)} %` : null]));
    fill("gaps", s.open_gaps.map((g) => [g.exchange, g.symbol, g.layer, `${g.first_id}..${g.last_id}`, `${g.first_ts} – ${g.last_ts}`]));
    el("nogaps").classList.toggle("hidden", s.open_gaps.length > 0);
    el("unify").textContent = s.unify.last_commit_at ? `last commit ${s.unify.last_commit_at}, snapshot ${s.unify.snapshot_id}; raw commits not consumed yet: ${JSON.stringify(s.unify.pending_commits)}` : "unify has not committed yet";
  } catch (err) { showMessage(err.message); }
}
el("every").textContent = REFRESH_S;
refresh();
setInterval(refresh, REFRESH_S * 1000);
