"use strict";
// Builds an exchange's conversation and raw events when it is opened. Recorded text is untrusted:
// it only ever becomes textContent, never HTML.
(function () {
  const data = JSON.parse(document.getElementById("data").textContent);
  const pool = data.strings;
  // An exchange lists its turns by index: Claude Code resends the conversation, the page stores it once.
  for (const ex of data.exchanges) ex.turns = ex.turns.map((n) => data.turns[n]);
  const bySeq = new Map(data.exchanges.map((ex) => [ex.seq, ex]));
  const FOLD = 3000;
  const RECENT = 2; // messages shown at once; earlier ones (the previous exchanges showed them) on demand

  const text = (x) => (typeof x === "number" ? pool[x] : x || "");

  function el(tag, className, content) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (content !== undefined && content !== null) node.textContent = content;
    return node;
  }

  function button(label, onClick) {
    const b = el("button", "more", label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  // Long text shows its start and a button for the rest, as the viewer folds it.
  function folded(body) {
    if (body.length <= FOLD) return [el("pre", null, body)];
    const pre = el("pre", null, body.slice(0, FOLD) + "…");
    const more = button("show all (+" + (body.length - FOLD).toLocaleString("en") + " characters)", () => {
      pre.textContent = body;
      more.remove();
    });
    return [pre, more];
  }

  function turn(t) {
    const classes = ["turn", t.k];
    if (t.e) classes.push("error");
    const body = text(t.x);
    if (t.k === "stop") return el("div", "turn stop", body);
    if (t.k === "system") {
      // Collapsed, as in the viewer: it is long and the same in every request.
      const d = el("details", classes.join(" "));
      d.append(el("summary", null, t.t));
      d.addEventListener("toggle", () => {
        if (d.open && d.children.length === 1) d.append(el("pre", null, body));
      });
      return d;
    }
    const div = el("div", classes.join(" "));
    if (t.t) div.append(el("h4", null, t.t));
    div.append(...folded(body));
    for (const [kind, message] of t.n || []) div.append(el("p", "note " + kind, kind + ": " + message));
    return div;
  }

  function earlierMessages(turns, count) {
    const d = el("details", "earlier");
    d.append(el("summary", null, count + " earlier message" + (count > 1 ? "s" : "") + " (as the previous exchanges sent them)"));
    d.addEventListener("toggle", () => {
      if (d.open && d.children.length === 1) for (const t of turns) d.append(turn(t));
    });
    return d;
  }

  function events(list) {
    const lines = list.reduce((n, d) => n + d.lines.length + d.more, 0);
    const d = el("details", "raw");
    d.append(el("summary", null, "raw events (" + lines.toLocaleString("en") + " lines, both directions)"));
    d.addEventListener("toggle", () => {
      if (!d.open || d.children.length > 1) return;
      for (const part of list) {
        const where = part.d === "backend" ? "from the backend" : "to the client";
        const arrow = part.d === "backend" ? " ← " : " → ";
        d.append(el("h4", null, where + ": HTTP " + part.status));
        const pre = el("pre", "events");
        for (const [t, line] of part.lines) {
          pre.append(el("span", "t", (t === null ? "end" : t.toFixed(3) + "s") + arrow));
          pre.append(el("span", line.slice(0, 40).includes("error") ? "err" : null, line + "\n"));
        }
        if (part.more) pre.append(el("span", "t", "… " + part.more.toLocaleString("en") + " more lines in the recording\n"));
        d.append(pre);
      }
    });
    return d;
  }

  function render(details) {
    if (details.dataset.rendered) return;
    details.dataset.rendered = "1";
    const ex = bySeq.get(Number(details.dataset.seq));
    const body = details.querySelector(".body");
    body.textContent = "";
    if (!ex) return;
    const headers = el("details", "headers");
    headers.append(el("summary", null, ex.head + " · " + ex.headers.length + " headers"));
    headers.append(el("pre", null, ex.headers.map(([k, v]) => k + ": " + v).join("\n")));
    body.append(headers);
    const last = ex.turns.reduce((m, t) => (t.m !== undefined && t.m > m ? t.m : m), -1);
    const cut = last - RECENT + 1;
    const earlier = ex.turns.filter((t) => t.m !== undefined && t.m < cut);
    let placed = false;
    for (const t of ex.turns) {
      if (cut >= 2 && t.m !== undefined && t.m < cut) {
        if (!placed) body.append(earlierMessages(earlier, cut));
        placed = true;
        continue;
      }
      body.append(turn(t));
    }
    if (!ex.turns.length) body.append(el("p", "muted", "(no conversation: not a Messages request)"));
    if (ex.notes.length || ex.error || ex.problems.length) {
      body.append(el("h4", null, "translation notes"));
      const ul = el("ul", "notes");
      for (const [kind, message, count] of ex.notes) {
        ul.append(el("li", "note " + kind, kind + ": " + message + (count > 1 ? "  (×" + count + ")" : "")));
      }
      if (ex.error) ul.append(el("li", "note error", "the client got " + ex.error[0] + ": " + ex.error[1]));
      for (const problem of ex.problems) ul.append(el("li", "note error", "problem: " + problem));
      body.append(ul);
    }
    if (ex.events.length) body.append(events(ex.events));
  }

  function open(seq, scroll) {
    const d = document.getElementById("ex-" + seq);
    if (!d) return;
    d.open = true;
    render(d);
    if (scroll) d.scrollIntoView({ block: "start" });
  }

  const all = Array.from(document.querySelectorAll("details.exchange"));
  for (const d of all) {
    d.addEventListener("toggle", () => { if (d.open) render(d); });
    if (d.open) render(d);
  }
  for (const row of document.querySelectorAll("table.exchanges tbody tr")) {
    row.addEventListener("click", () => open(row.dataset.seq, true));
  }
  const fromHash = () => {
    const m = /^#ex-(\d+)$/.exec(location.hash);
    if (m) open(m[1], true);
  };
  window.addEventListener("hashchange", fromHash);
  fromHash();
  document.getElementById("open-all").addEventListener("click", () => all.forEach((d) => { d.open = true; render(d); }));
  document.getElementById("close-all").addEventListener("click", () => all.forEach((d) => { d.open = false; }));
  document.body.dataset.ready = "1";
})();
