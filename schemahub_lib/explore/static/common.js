// Shared helpers: fetch JSON and show the API's own error message on the page.
async function getJSON(url) {
  const resp = await fetch(url);
  let body;
  try { body = await resp.json(); } catch (e) { body = {error: `HTTP ${resp.status} from ${url}`}; }
  if (!resp.ok) throw new Error(body.error || `HTTP ${resp.status}`);
  return body;
}
function showMessage(text, kind) {
  const el = document.getElementById("message");
  el.textContent = text || "";
  el.className = "message " + (kind || "error") + (text ? "" : " hidden");
}
function fmtTime(ns) { return new Date(Number(ns) / 1e6).toISOString(); }
function fmtNum(v, digits) { return v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US", {minimumFractionDigits: digits, maximumFractionDigits: digits}); }
