"""The viewer's inline CSS and JavaScript (no CDN, no fonts, no network) and the page skeleton around them.

Pages carry a Content-Security-Policy that allows no network at all and runs only this script (by its sha256):
the content shown is untrusted agent output, escaped everywhere, and the policy is a second wall if an escape
were ever missed.
"""

from __future__ import annotations

import base64
import hashlib
import html

CSS = """
:root { --student: #1f6feb; --teacher: #bf5700; --ok: #1a7f37; --bad: #cf222e; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1400px; padding: 16px 24px; color: #1f2328; }
h1 { font-size: 20px; margin: 4px 0 12px; } h2 { font-size: 16px; margin: 20px 0 8px; }
a { color: var(--student); }
pre { margin: 0; padding: 8px; background: #f6f8fa; border-radius: 4px; white-space: pre-wrap;
      overflow-wrap: anywhere; font: 12px/1.4 ui-monospace, monospace; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #d0d7de; vertical-align: top; }
th { cursor: pointer; user-select: none; background: #f6f8fa; position: sticky; top: 0; }
th[data-dir=asc]::after { content: " ▲"; } th[data-dir=desc]::after { content: " ▼"; }
.meta { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 8px 0; color: var(--muted); }
.meta b { color: #1f2328; font-weight: 600; }
.controls { display: flex; gap: 12px; margin: 8px 0 12px; align-items: center; }
.controls input { width: 320px; padding: 4px 6px; }
.turn { border-left: 5px solid var(--muted); margin: 14px 0; padding: 6px 12px; background: #fff;
        box-shadow: 0 0 0 1px #d0d7de; border-radius: 4px; }
.turn.student { border-left-color: var(--student); } .turn.teacher { border-left-color: var(--teacher); }
.turn header { display: flex; gap: 14px; align-items: baseline; margin-bottom: 6px; }
.who { font-weight: 700; text-transform: uppercase; font-size: 12px; }
.student .who, .who.student { color: var(--student); } .teacher .who, .who.teacher { color: var(--teacher); }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
.pair h3, .turn h3 { font-size: 12px; margin: 6px 0 3px; color: var(--muted); font-weight: 600; }
.badge { font-size: 11px; padding: 1px 6px; border-radius: 8px; background: #eaeef2; }
.badge.bad { background: #ffebe9; color: var(--bad); } .badge.ok { background: #dafbe1; color: var(--ok); }
.diff .add { background: #dafbe1; display: block; } .diff .del { background: #ffebe9; display: block; }
.diff .hunk { color: #8250df; display: block; } .elided { color: var(--muted); font-style: italic; }
details > summary { cursor: pointer; color: var(--muted); margin: 4px 0; }
.mix { display: inline-flex; height: 10px; width: 80px; background: #eaeef2; vertical-align: middle; }
.mix span { display: block; height: 10px; }
.mix .s { background: var(--student); } .mix .t { background: var(--teacher); }
tr[hidden] { display: none; }
"""

SCRIPT = """
(function () {
  const table = document.getElementById("episodes");
  if (table) {
    const body = table.tBodies[0], rows = Array.from(body.rows);
    const q = document.getElementById("q"), split = document.getElementById("split");
    const res = document.getElementById("res"), shown = document.getElementById("shown");
    const params = new URLSearchParams(location.hash.slice(1));
    q.value = params.get("q") || ""; split.value = params.get("split") || ""; res.value = params.get("res") || "";
    const apply = function () {
      const text = q.value.toLowerCase();
      let n = 0;
      for (const r of rows) {
        const ok = (!text || r.textContent.toLowerCase().includes(text)) &&
          (!split.value || r.dataset.split === split.value) && (!res.value || r.dataset.res === res.value);
        r.hidden = !ok; n += ok ? 1 : 0;
      }
      shown.textContent = String(n);
    };
    [q, split, res].forEach(function (el) { el.addEventListener("input", apply); });
    Array.from(table.tHead.rows[0].cells).forEach(function (th, i) {
      th.addEventListener("click", function () {
        const dir = th.dataset.dir === "asc" ? "desc" : "asc", num = th.dataset.type === "num";
        Array.from(table.tHead.rows[0].cells).forEach(function (o) { delete o.dataset.dir; });
        th.dataset.dir = dir;
        const key = function (r) {
          const c = r.cells[i];
          return c.dataset.v !== undefined ? c.dataset.v : c.textContent;
        };
        rows.sort(function (a, b) {
          const x = key(a), y = key(b);
          const c = num ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y);
          return dir === "asc" ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
    apply();
  }
  document.body.dataset.ready = "1";
})();
"""


def _script_hash() -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()


def page(title: str, body: str) -> str:
    """A whole HTML document: ``title`` is escaped here; ``body`` must already be escaped markup."""
    csp = f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src '{_script_hash()}'"
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style></head>\n<body>\n{body}\n"
        f"<script>{SCRIPT}</script>\n</body></html>\n"
    )
