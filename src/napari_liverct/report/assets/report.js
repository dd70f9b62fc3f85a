/* napari-liverct QC report: sortable, filterable case table; a case's section is built only when opened.
   Plain JavaScript, no library, no network. */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var COLS = DATA.columns;
  var sortKey = null, sortDir = 1, openIndex = null;

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "class") e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c != null) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }
  function num(v) { return v === "inf" ? Infinity : (v === "-inf" ? -Infinity : v); }
  function fmt(v, digits) {
    if (v === null || v === undefined || v === "") return "";
    if (v === "inf") return "\u221e";
    if (v === "-inf") return "-\u221e";
    if (typeof v === "number") {
      if (digits === undefined) digits = Math.abs(v) >= 100 ? 1 : 3;
      return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
    }
    if (typeof v === "boolean") return v ? "yes" : "no";
    return String(v);
  }
  function swatch(rgba) {
    var s = el("span", { class: "swatch" });
    if (rgba) s.style.background = "rgb(" + rgba.slice(0, 3).map(function (x) { return Math.round(255 * x); }).join(",") + ")";
    return s;
  }
  function table(headers, rows, cls) {
    var t = el("table", { class: cls || "small" });
    var tr = el("tr");
    headers.forEach(function (h) { tr.appendChild(el("th", { text: h[0], class: h[1] || "" })); });
    t.appendChild(el("thead", null, [tr]));
    var tb = el("tbody");
    rows.forEach(function (r) {
      var row = el("tr");
      r.forEach(function (c, j) {
        var td = el("td", { class: headers[j][1] || "" });
        if (c instanceof Node) td.appendChild(c); else td.textContent = c;
        row.appendChild(td);
      });
      tb.appendChild(row);
    });
    t.appendChild(tb);
    return t;
  }

  /* ---------- summary ---------- */
  function card(n, k, cls) { return el("div", { class: "card " + (cls || "") }, [el("div", { class: "n", text: n }), el("div", { class: "k", text: k })]); }
  function vec(v, d) { return v ? v.map(function (x) { return fmt(x, d); }).join(" \u00d7 ") : ""; }
  function buildSummary() {
    var s = DATA.summary, box = document.getElementById("summary");
    var cards = el("div", { class: "cards" });
    cards.appendChild(card(String(s.n_cases), "cases"));
    cards.appendChild(card(String(s.n_failed), "images failed to read", s.n_failed ? "bad" : ""));
    cards.appendChild(card(String(DATA.failed.length), "cases failed (image, labels or evaluation)", DATA.failed.length ? "bad" : ""));
    cards.appendChild(card(String(s.n_labelled), "with labels"));
    cards.appendChild(card(String(DATA.anomalies.length), "anomalies", DATA.anomalies.length ? "warn" : ""));
    if (s.spacing) cards.appendChild(card(vec(s.spacing.median, 2), "median spacing x \u00d7 y \u00d7 z (mm)"));
    if (s.shape) cards.appendChild(card(vec(s.shape.median, 0), "median size x \u00d7 y \u00d7 z (voxels)"));
    if (s.intensity) cards.appendChild(card(fmt(s.intensity.p00_5, 0) + " / " + fmt(s.intensity.p50, 0) + " / " + fmt(s.intensity.p99_5, 0), "foreground 0.5 / 50 / 99.5 %"));
    if (s.lesions) cards.appendChild(card(String(s.lesions.total), "lesions (max " + s.lesions.max + " in a case)"));
    box.appendChild(cards);
    var rows = [];
    Object.keys(s.classes || {}).forEach(function (v) {
      var c = s.classes[v];
      var info = DATA.classes[v] || {};
      var name = el("span", null, [swatch(info.color), c.name || info.name || ("label " + v)]);
      rows.push([v, name, fmt(c.cases_share === null ? null : 100 * c.cases_share, 1), fmt(c.voxel_share === null ? null : 100 * c.voxel_share, 2),
        c.volume_ml ? fmt(c.volume_ml.median, 1) : "", c.volume_ml ? fmt(c.volume_ml.min, 1) + " \u2013 " + fmt(c.volume_ml.max, 1) : ""]);
    });
    if (rows.length) {
      box.appendChild(el("h3", { text: "Classes" }));
      box.appendChild(table([["value", "num"], ["class"], ["% of cases", "num"], ["% of voxels", "num"], ["median mL", "num"], ["range mL", "num"]], rows));
    }
    var ev = DATA.evaluation;
    if (ev) {
      box.appendChild(el("h3", { text: "Evaluation of " + ev.predictions }));
      var smet = DATA.metrics.summary, eh = [["class"]];
      smet.forEach(function (m) {
        eh.push(["mean " + m.label, "num"]);
        if (m.key === "dice") eh.push(["median Dice", "num"], ["global Dice", "num"]);
      });
      eh.push(["cases", "num"]);
      var erows = Object.keys(ev.classes).map(function (lab) {
        var c = ev.classes[lab], r = [c.name];
        smet.forEach(function (m) {
          r.push(fmt(c[m.key].mean, m.digits));
          if (m.key === "dice") r.push(fmt(c.dice.median, m.digits), fmt(c.global_dice, m.digits));
        });
        r.push((c.dice ? c.dice.n : 0) + " / " + ev.n_evaluated);
        return r;
      });
      box.appendChild(table(eh, erows));
      if (ev.lesions) {
        var l = ev.lesions;
        box.appendChild(el("p", { text: "Lesions (" + l.match + " matching, pooled): " + l.n_gt + " true, " + l.tp + " detected, " + l.fn + " missed, " + l.fp + " false; precision " + fmt(l.precision, 3) + ", recall " + fmt(l.recall, 3) + ", F1 " + fmt(l.f1, 3) + "." }));
      }
      if (ev.errors.length) {
        box.appendChild(table([["case"], ["problem"], ["message"]], ev.errors.map(function (e) { return [caseLink(e.id), e.kind, e.error]; })));
      }
    }
    var plots = document.getElementById("plots");
    DATA.plots.forEach(function (p) {
      plots.appendChild(el("figure", null, [el("img", { src: p.file, alt: p.title, loading: "lazy" }), el("figcaption", null, [el("b", { text: p.title + ". " }), p.caption])]));
    });
    var an = document.getElementById("anomalies");
    if (!DATA.anomalies.length) an.appendChild(el("p", { text: "No anomalies." }));
    else an.appendChild(table([["case"], ["kind"], ["message"]], DATA.anomalies.map(function (a) { return [caseLink(a.case), a.kind, a.message]; })));
  }
  function caseLink(id) {
    if (id === null || id === undefined) return el("span", { text: "(dataset)" });
    var a = el("a", { class: "caselink", text: String(id), tabindex: "0" });
    a.addEventListener("click", function () { openById(id, true); });
    return a;
  }

  /* ---------- table ---------- */
  var tbody, rowsEls = [];
  function sortValue(c, col) {
    var k = col.sort || col.key, v = c.cells[k];
    if (col.type === "num" || col.sort) return (v === null || v === undefined) ? null : num(v);
    return v === null || v === undefined ? null : String(v).toLowerCase();
  }
  function buildTable() {
    var thead = document.querySelector("#cases thead"), tr = el("tr");
    COLS.forEach(function (col) {
      var th = el("th", { class: col.type === "num" ? "num" : "", "data-key": col.key, "aria-sort": "none" });
      var b = el("button", { type: "button", text: col.label, title: "sort by " + col.label });
      b.addEventListener("click", function () { sortBy(col.key); });
      th.appendChild(b);
      tr.appendChild(th);
    });
    thead.appendChild(tr);
    tbody = document.querySelector("#cases tbody");
    DATA.cases.forEach(function (c) {
      var r = el("tr", { class: "case", tabindex: "0", "data-i": String(c.i), "data-id": String(c.id) });
      if (c.anomalies.length) r.classList.add("anomalous");
      if (c.error || c.failed) r.classList.add("failed");
      COLS.forEach(function (col, j) {
        if (c.error && j === 2) {
          r.appendChild(el("td", { class: "reason", colspan: String(COLS.length - 3), text: "failed to read: " + c.error }));
          return;
        }
        if (c.error && j > 2 && j < COLS.length - 1) return;
        var v = c.cells[col.key];
        var td = el("td", { class: col.type === "num" ? "num" : "" });
        if (col.key === "anomalies") {
          c.anomalies.forEach(function (k, n) { td.appendChild(el("span", { class: "badge" + (k === "read_error" || k === "label_read_error" || k.indexOf("evaluation_") === 0 ? " bad" : ""), text: k, title: c.messages[n] || k })); });
        } else {
          td.textContent = fmt(v, col.digits);
          if (v !== null && v !== undefined) td.title = String(v);
        }
        if (col.key === "id" && c.anomalies.length) td.insertBefore(el("span", { text: "\u26a0 ", title: c.messages.join("\n") }), td.firstChild);
        r.appendChild(td);
      });
      r.addEventListener("click", function () { toggle(c.i); });
      r.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(c.i); } });
      rowsEls[c.i] = r;
      tbody.appendChild(r);
    });
    document.getElementById("filter").addEventListener("input", applyFilter);
    document.getElementById("only-anomalies").addEventListener("change", applyFilter);
    applyFilter();
  }
  function sortBy(key) {
    if (sortKey === key) sortDir = -sortDir; else { sortKey = key; sortDir = 1; }
    var col = COLS.filter(function (c) { return c.key === key; })[0];
    document.querySelectorAll("#cases > thead > tr > th").forEach(function (th) {
      th.setAttribute("aria-sort", th.getAttribute("data-key") === key ? (sortDir > 0 ? "ascending" : "descending") : "none");
    });
    var order = DATA.cases.slice().sort(function (a, b) {
      var x = sortValue(a, col), y = sortValue(b, col);
      if (x === y) return a.i - b.i;
      if (x === null) return 1;  /* empty cells last, whichever the direction */
      if (y === null) return -1;
      return (x < y ? -1 : 1) * sortDir;
    });
    closeSection();
    var frag = document.createDocumentFragment();
    order.forEach(function (c) { frag.appendChild(rowsEls[c.i]); });
    tbody.appendChild(frag);
  }
  function applyFilter() {
    var q = document.getElementById("filter").value.trim().toLowerCase();
    var only = document.getElementById("only-anomalies").checked, shown = 0;
    DATA.cases.forEach(function (c) {
      var ok = (!only || c.anomalies.length > 0) && (!q || rowsEls[c.i].textContent.toLowerCase().indexOf(q) >= 0);
      rowsEls[c.i].hidden = !ok;
      if (ok) shown++;
      if (!ok && openIndex === c.i) closeSection();
    });
    document.getElementById("count").textContent = "showing " + shown + " of " + DATA.cases.length + " cases";
  }

  /* ---------- case section (built on demand) ---------- */
  function closeSection() {
    var d = document.querySelector("tr.detail");
    if (d) d.parentNode.removeChild(d);
    if (openIndex !== null && rowsEls[openIndex]) rowsEls[openIndex].classList.remove("open");
    openIndex = null;
  }
  function setHash(h) {  /* a link to the open case; some browsers refuse this on file:// pages */
    try { history.replaceState(null, "", h || location.pathname); } catch (e) { /* not needed to work */ }
  }
  function toggle(i) {
    if (openIndex === i) { closeSection(); setHash(""); return; }
    openCase(i, false);
  }
  function openById(id, scroll) {
    var c = DATA.cases.filter(function (x) { return String(x.id) === String(id); })[0];
    if (c) openCase(c.i, scroll);
  }
  function openCase(i, scroll) {
    closeSection();
    var c = DATA.cases[i], row = rowsEls[i];
    row.hidden = false;
    row.classList.add("open");
    var sec = caseSection(c);
    /* as wide as the page, even when the table is wider and scrolls sideways */
    sec.style.maxWidth = (document.querySelector("main").clientWidth - 60) + "px";
    var td = el("td", { colspan: String(COLS.length) }, [sec]);
    var tr = el("tr", { class: "detail" }, [td]);
    row.parentNode.insertBefore(tr, row.nextSibling);
    openIndex = i;
    setHash("#case=" + encodeURIComponent(c.id));
    if (scroll) row.scrollIntoView({ block: "start" });
  }
  function caseSection(c) {
    var s = c.section, sec = el("section", { class: "case-section", id: "case-" + c.i, "data-id": String(c.id) });
    sec.appendChild(el("h3", { text: "Case " + c.id }));
    sec.appendChild(el("div", { class: "paths", text: "image: " + s.image + (s.label ? "   labels: " + s.label : "   (no labels)") + (s.eval && s.eval.pred ? "   prediction: " + s.eval.pred : "") }));
    if (c.error) sec.appendChild(el("p", { class: "error", text: "Failed to read: " + c.error }));
    if (c.label_error) sec.appendChild(el("p", { class: "error", text: "Labels: " + c.label_error }));
    c.messages.forEach(function (m) { sec.appendChild(el("div", { class: "notes", text: "\u26a0 " + m })); });
    s.notes.forEach(function (m) { sec.appendChild(el("div", { class: "notes", text: m })); });
    if (s.focus) sec.appendChild(el("p", { text: "Slices through the " + s.focus + (s.focus_ras ? " at RAS (" + s.focus_ras.map(function (x) { return fmt(x, 1); }).join(", ") + ") mm" : "") + ". Radiological view: the patient's right is on the left." }));
    var groups = [["labels", "Labels outlined in their viewer colours on the viewer's CT window"], ["compare", null], ["FN", null]];
    var pics = s.pictures;
    function figs(filter) {
      var box = el("div", { class: "pics" });
      pics.filter(filter).forEach(function (p) {
        box.appendChild(el("figure", null, [el("img", { src: s.dir + "/" + p.file, alt: c.id + " " + p.caption, loading: "lazy", width: String(p.width), height: String(p.height) }), el("figcaption", { text: p.caption })]));
      });
      return box;
    }
    if (pics.some(function (p) { return p.kind === "labels"; })) {
      var leg = el("div", { class: "legend" }, [groups[0][1] + ": "]);
      s.labels.forEach(function (r) { leg.appendChild(el("span", null, [swatch(s.colors[r.label]), r.name + "  "])); });
      sec.appendChild(leg);
      sec.appendChild(figs(function (p) { return p.kind === "labels"; }));
    }
    if (pics.some(function (p) { return p.kind !== "labels"; })) {
      sec.appendChild(el("div", { class: "legend" }, [swatch([1, 0.843, 0]), "ground truth  ", swatch([0, 0.784, 1]), "prediction  ", swatch([1, 0.235, 0.235]), "missed lesion (ring)  ", swatch([1, 0, 1]), "false lesion (ring)"]));
      sec.appendChild(figs(function (p) { return p.kind !== "labels"; }));
    }
    var cols = el("div", { class: "cols2" }), left = el("div"), right = el("div");
    if (s.labels.length) {
      left.appendChild(el("h3", { text: "Labels" + (s.tumour_burden != null ? " (tumour burden " + fmt(100 * s.tumour_burden, 2) + " %)" : "") }));
      left.appendChild(table([["value", "num"], ["name"], ["voxels", "num"], ["mL", "num"], ["mean HU", "num"], ["SD", "num"], ["median", "num"], ["p5", "num"], ["p95", "num"], ["min", "num"], ["max", "num"]],
        s.labels.map(function (r) { return [String(r.label), el("span", null, [swatch(s.colors[r.label]), r.name]), fmt(r.voxels, 0), fmt(r.volume_ml, 2), fmt(r.mean, 1), fmt(r.std, 1), fmt(r.median, 1), fmt(r.p05, 1), fmt(r.p95, 1), fmt(r.min, 0), fmt(r.max, 0)]; })));
    }
    if (s.lesions.length) {
      left.appendChild(el("h3", { text: "Lesions (" + s.n_lesions + (s.n_lesions > s.lesions.length ? ", largest " + s.lesions.length + " shown" : "") + ")" }));
      left.appendChild(el("p", { text: "RECIST 1.1: " + (s.targets.length ? "targets " + s.targets.join(", ") + ", sum of diameters " + fmt(s.sum_of_diameters_mm, 1) + " mm" : "no measurable target (long axis >= 10 mm)") + "; long and short axis on the axial slice, between voxel centres." }));
      left.appendChild(table([["id", "num"], ["label", "num"], ["mL", "num"], ["max diameter mm", "num"], ["long axis mm", "num"], ["short axis mm", "num"], ["axial slice", "num"], ["target"], ["mean HU", "num"], ["centroid RAS mm"]],
        s.lesions.map(function (r) { return [String(r.id), String(r.label), fmt(r.volume_ml, 3), fmt(r.max_diameter_mm, 1), fmt(r.long_axis_mm, 1), fmt(r.short_axis_mm, 1), r.recist_slice == null ? "" : String(r.recist_slice), r.target ? "target" : "", fmt(r.mean, 1), r.centroid_mm.map(function (x) { return fmt(x, 1); }).join(", ")]; })));
    }
    if (s.eval) {
      right.appendChild(el("h3", { text: "Prediction" }));
      if (s.eval.error) right.appendChild(el("p", { class: "error", text: s.eval.error_kind + ": " + s.eval.error }));
      var tmet = DATA.metrics.table;
      if (s.eval.classes.length) right.appendChild(table([["class"]].concat(tmet.map(function (m) { return [m.label, "num"]; })),
        s.eval.classes.map(function (r) {
          var inf = (r.gt_empty || r.pred_empty) && !r.both_empty;
          return [r.name].concat(tmet.map(function (m) { return r[m.key] === null && inf && m.inf_when_one_empty ? "\u221e" : fmt(r[m.key], m.digits); }));
        })));
      var ls = s.eval.lesion_summary;
      if (ls) right.appendChild(el("p", { text: "Lesions: " + ls.n_gt + " true, " + ls.n_pred + " predicted, " + ls.tp + " detected, " + ls.fn + " missed, " + ls.fp + " false (F1 " + fmt(ls.f1, 3) + ")." }));
      if (s.eval.lesions.length) right.appendChild(table([["lesion"], ["status"], ["GT mL", "num"], ["pred mL", "num"], ["diameter mm", "num"], ["centroid RAS mm"]],
        s.eval.lesions.map(function (r) { return [r.id, r.status === "FN" ? "missed" : "false", fmt(r.gt_ml, 3), fmt(r.pred_ml, 3), fmt(r.diameter_mm, 1), r.centroid_ras.map(function (x) { return fmt(x, 1); }).join(", ")]; })));
    }
    cols.appendChild(left);
    cols.appendChild(right);
    sec.appendChild(cols);
    return sec;
  }

  buildSummary();
  buildTable();
  function fromHash() {  /* index.html#case=ID opens that case (also when only the hash changes) */
    var m = /^#case=(.*)$/.exec(location.hash);
    if (m && (openIndex === null || String(DATA.cases[openIndex].id) !== decodeURIComponent(m[1]))) openById(decodeURIComponent(m[1]), true);
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
  document.body.setAttribute("data-ready", "1");
})();
