// The checks of one page view, run in the page by tests/pages_support.page_findings:
// (a) sideways scroll, (b) a visible text ending in an ellipsis that holds a digit,
// (c) a line of a diagram crossing a text box, and the visible texts for (d).
() => {
  const HIDDEN_TAGS = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "TITLE", "DESC",
                               "OPTION", "title", "desc"]);
  // code, and a span's attributes (keys and values as the trace carries them), are data
  const DATA = "code, pre, kbd, samp, dl.attributes";
  const short = (t) => t.replace(/\s+/g, " ").trim().slice(0, 100);

  function visible(el) {
    if (!el || HIDDEN_TAGS.has(el.tagName)) { return false; }
    if (el.closest("title, desc, defs, marker, symbol")) { return false; }
    return el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});
  }

  function describe(el) {
    const parts = [];
    for (let e = el; e && e !== document.body && parts.length < 3; e = e.parentElement) {
      let p = e.tagName.toLowerCase();
      if (e.id) { p += "#" + e.id; parts.unshift(p); break; }
      const cls = (e.getAttribute("class") || "").trim().split(/\s+/)[0];
      if (cls) { p += "." + cls; }
      parts.unshift(p);
    }
    return parts.join(" > ");
  }

  // (a) the document scrolls sideways: name the elements that stick out on the right
  const scroll = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) {
    const width = root.clientWidth;
    const wide = [];
    document.body.querySelectorAll("*").forEach((el) => {
      if (el.closest("svg") && el.tagName.toLowerCase() !== "svg") { return; }
      const r = el.getBoundingClientRect();
      if (r.right + window.scrollX > width + 1 && r.width > 0 && visible(el)) {
        // the innermost offenders say most: skip an element one of whose children sticks out
        const childOut = Array.from(el.children).some((c) => {
          const cr = c.getBoundingClientRect();
          return cr.right + window.scrollX > width + 1 && cr.width > 0;
        });
        if (!childOut) { wide.push(el); }
      }
    });
    const names = wide.slice(0, 4).map((el) =>
      describe(el) + " (right " + Math.round(el.getBoundingClientRect().right + window.scrollX) +
      " px) " + JSON.stringify(short(el.textContent || "").slice(0, 60)));
    scroll.push("scrollWidth " + root.scrollWidth + " > clientWidth " + width + "; " +
                (names.join("; ") || "no single element"));
  }

  // the visible texts: SVG <text> whole (tspans joined), HTML text nodes one by one
  const texts = [];  // [text, element]
  document.querySelectorAll("svg text").forEach((t) => {
    if (visible(t)) { texts.push([t.textContent, t]); }
  });
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.nodeValue.trim() || !el || el.closest("svg") || !visible(el)) { continue; }
    texts.push([n.nodeValue, el]);
  }
  // (b) a number cut off: an ellipsis (at the end, or right after a letter or digit: "(u… (+1)")
  // ending a clause (the text after the last " · ", ", " or "; ") that holds a number, digits
  // not glued to letters (S3, p95, 4bf92f35 are names; "SELECT price_r…" a shortened name);
  // and an element cut by CSS text-overflow whose text holds a number
  const NUMBER = /(^|[^\p{L}\d])\d+([^\p{L}\d]|$)/u;
  const cutNumber = (t) => {
    const marks = /(?:…|\.\.\.)$|(?<=[\p{L}\d])…/gu;
    for (let m = marks.exec(t); m; m = marks.exec(t)) {
      const clauses = t.slice(0, m.index).split(/ · |, |; /);
      if (NUMBER.test(clauses[clauses.length - 1])) { return true; }
      if (m.index === t.length - m[0].length) { break; }
    }
    return false;
  };
  const cut = [];
  texts.forEach(([text, el]) => {
    const t = text.trim();
    if (cutNumber(t)) { cut.push(short(t) + " (" + describe(el) + ")"); }
  });
  document.body.querySelectorAll("*").forEach((el) => {
    if (el.scrollWidth <= el.clientWidth + 1 || el.closest("svg")) { return; }
    if (getComputedStyle(el).textOverflow === "ellipsis" && NUMBER.test(el.textContent) &&
        visible(el)) {
      cut.push(short(el.textContent) + " (cut by CSS, " + describe(el) + ")");
    }
  });

  // placeholders are read too, for (d) only: "A-100042, C-00123, 4bf92f35…" is an example
  document.querySelectorAll("input[placeholder], textarea[placeholder]").forEach((el) => {
    if (visible(el)) { texts.push([el.getAttribute("placeholder"), el]); }
  });

  // (c) a line of a diagram through a text box, other than its own label's
  const crossings = [];
  const group = (el) => el.closest("g.edge, g.node") || el;
  const edgeName = (el) => {
    const g = el.closest("g.edge, g.node, g[id]");
    if (!g) { return el.tagName; }
    const title = g.querySelector(":scope > title");
    const label = Array.from(g.querySelectorAll("text")).map((t) => t.textContent).join(" ");
    return (g.id || "") + " " + short((title ? title.textContent : "") + " " + label).slice(0, 80);
  };
  document.querySelectorAll("svg").forEach((svg) => {
    if (!svg.querySelector("g.node, g.edge") || !visible(svg)) { return; }
    const boxes = [];
    svg.querySelectorAll("text").forEach((t) => {
      if (!visible(t) || !t.textContent.trim()) { return; }
      const b = t.getBBox();
      const m = t.getCTM();
      if (!m || b.width === 0) { return; }
      const p1 = new DOMPoint(b.x, b.y).matrixTransform(m);
      const p2 = new DOMPoint(b.x + b.width, b.y + b.height).matrixTransform(m);
      const x0 = Math.min(p1.x, p2.x), x1 = Math.max(p1.x, p2.x);
      const y0 = Math.min(p1.y, p2.y), y1 = Math.max(p1.y, p2.y);
      // the glyphs' core: the box less a fifth of its height above and below, 1 unit aside
      const inset = (y1 - y0) / 5;
      boxes.push({t, g: group(t), x0: x0 + 1, x1: x1 - 1, y0: y0 + inset, y1: y1 - inset});
    });
    svg.querySelectorAll("path, line, polyline").forEach((line) => {
      if (!visible(line) || line.closest("defs, marker, pattern")) { return; }
      const style = getComputedStyle(line);
      if (style.stroke === "none" || (style.fill !== "none" && line.tagName !== "line")) { return; }
      const m = line.getCTM();
      const length = line.getTotalLength();
      if (!m || !length) { return; }
      const own = group(line);
      const hit = new Set();
      const step = Math.max(0.5, Math.min(2, length / 400));
      for (let l = 0; l <= length; l += step) {
        const p = line.getPointAtLength(l).matrixTransform(m);
        boxes.forEach((b) => {
          if (b.g !== own && !hit.has(b) && p.x > b.x0 && p.x < b.x1 && p.y > b.y0 && p.y < b.y1) {
            hit.add(b);
          }
        });
      }
      hit.forEach((b) => {
        crossings.push("line of " + JSON.stringify(edgeName(line)) + " crosses text " +
                       JSON.stringify(short(b.t.textContent)));
      });
    });
  });

  // (d) the texts a Russian page shows, less data and texts marked as another language
  const chrome = texts
    .filter(([, el]) => !el.closest("[lang]:not([lang|=ru])") && !el.closest(DATA))
    .map(([text]) => text.replace(/\s+/g, " ").trim());  // whole: a data name may end late
  return {scroll, cut, crossings, texts: Array.from(new Set(chrome))};
}
