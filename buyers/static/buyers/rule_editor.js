/* Rule editors for the campaign and endpoint forms (buyers/widgets.py).
 *
 * Each <textarea data-rule-editor="KIND"> holds the rules as JSON, as the config file
 * writes them. This script shows structured rows beside it and writes the textarea
 * only when a row is edited, so rules nobody touched are posted exactly as they were.
 * Keys a row does not show (a filter group, a mapping's `when`) stay in the JSON as
 * they are. "JSON" shows the textarea itself; "Rows" reads it back. The server checks
 * whatever is posted, with the config import's own checks.
 */
(function () {
  "use strict";

  var OPERATORS = ["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between",
    "contains", "starts_with", "regex", "exists", "not_exists", "age_between", "zip_radius"];
  var NO_VALUE = ["exists", "not_exists"];
  var LIST_OPS = ["in", "not_in"];
  var PAIR_OPS = ["between", "age_between", "zip_radius"];
  var SPECIAL_SOURCES = ["lead.id", "bid.reference", "bid.price", "publisher.id", "sub_id",
    "lead.created_at"];
  var TRANSFORMS = ["digits", "upper", "lower", "trim", "truncate", "date", "state_name",
    "yes_no", "boolean", "currency", "default"];
  var TAKES_ARGUMENT = ["truncate", "date", "boolean", "default"];
  var DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  var DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
    "Sunday"];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }

  function button(label, cls, onClick) {
    var b = el("button", { type: "button", "class": "rule-button " + (cls || ""), text: label });
    b.addEventListener("click", function (event) { event.preventDefault(); onClick(); });
    return b;
  }

  function select(options, value, cls) {
    var s = el("select", { "class": cls || "" });
    var seen = false;
    options.forEach(function (option) {
      var pair = Array.isArray(option) ? option : [option, option];
      var o = el("option", { value: pair[0], text: pair[1] });
      if (pair[0] === value) { o.selected = true; seen = true; }
      s.appendChild(o);
    });
    if (!seen && value !== undefined && value !== null) {
      // A value the list does not offer (a field the vertical lost) is kept, not dropped.
      var kept = el("option", { value: String(value), text: String(value) });
      kept.selected = true;
      s.insertBefore(kept, s.firstChild);
    }
    return s;
  }

  function input(value, placeholder, cls) {
    var i = el("input", { type: "text", "class": cls || "", placeholder: placeholder || "" });
    i.value = value === undefined || value === null ? "" : String(value);
    return i;
  }

  function shown(value) {
    if (value === undefined || value === null) { return ""; }
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  // A typed text as the JSON value it means: numbers for numeric fields, true/false
  // for boolean ones, text otherwise ("01234" stays text on a zip field).
  function typed(text, type, numeric) {
    var t = text.trim();
    if ((numeric || type === "integer" || type === "decimal") && /^-?\d+(\.\d+)?$/.test(t)) {
      return Number(t);
    }
    if (type === "boolean" && (t === "true" || t === "false")) { return t === "true"; }
    return t;
  }

  // Rebuild an object with `oldKey` replaced by `newKey` in the same place.
  function renameKey(obj, oldKey, newKey, value) {
    var out = {};
    var placed = false;
    Object.keys(obj).forEach(function (key) {
      if (key === oldKey) { out[newKey] = value; placed = true; } else if (key !== newKey) { out[key] = obj[key]; }
    });
    if (!placed) { out[newKey] = value; }
    return out;
  }

  /* --- the vertical's fields ------------------------------------------------------- */

  function schemaOf(textarea) {
    var schemas = {};
    try { schemas = JSON.parse(textarea.getAttribute("data-schemas") || "{}"); } catch (e) { schemas = {}; }
    var vertical = textarea.getAttribute("data-vertical");
    var box = document.getElementById("id_vertical");
    if (box && box.value) { vertical = box.value; }
    return schemas[vertical] || [];
  }

  function fieldOptions(fields, extra) {
    var options = fields.map(function (f) {
      var note = f.stage === "post" ? " (post only)" : "";
      return [f.name, f.name + (f.type !== f.name ? " — " + f.type : "") + note];
    });
    return options.concat(extra.map(function (name) { return [name, name]; }));
  }

  function fieldType(fields, name) {
    var found = fields.filter(function (f) { return f.name === name; })[0];
    return found ? found.type : "string";
  }

  function choicesList(fields, name, container) {
    var found = fields.filter(function (f) { return f.name === name; })[0];
    if (!found || !found.choices || !found.choices.length) { return null; }
    var id = "choices-" + Math.random().toString(36).slice(2);
    var list = el("datalist", { id: id });
    found.choices.forEach(function (c) { list.appendChild(el("option", { value: c })); });
    container.appendChild(list);
    return id;
  }

  /* --- filters: field, operator, value ------------------------------------------------ */

  function filtersEditor(ctx) {
    var rules = ctx.value;
    if (!Array.isArray(rules)) { return null; }
    var fields = schemaOf(ctx.textarea);
    var box = el("div", { "class": "rule-rows" });
    rules.forEach(function (rule, index) {
      var row = el("div", { "class": "rule-row" });
      var isRule = rule && typeof rule === "object" && !Array.isArray(rule) && !("any" in rule) && !("all" in rule);
      if (!isRule) {
        row.appendChild(el("code", { "class": "rule-raw", text: JSON.stringify(rule) }));
        row.appendChild(el("span", { "class": "rule-note", text: "a group: edit it in the JSON view" }));
      } else {
        var field = select(fieldOptions(fields, ["publisher", "sub_id"]), rule.field, "rule-field");
        var op = select(OPERATORS, rule.op, "rule-op");
        var values = el("span", { "class": "rule-values" });
        var draw = function () {
          values.textContent = "";
          var kind = op.value;
          var type = fieldType(fields, field.value);
          var listId = choicesList(fields, field.value, values);
          var write = function (inputs) {
            var numeric = ["gt", "gte", "lt", "lte", "between", "age_between"].indexOf(kind) >= 0;
            if (NO_VALUE.indexOf(kind) >= 0) {
              delete rule.value;
            } else if (LIST_OPS.indexOf(kind) >= 0) {
              rule.value = inputs[0].value.split(",").map(function (s) { return s.trim(); })
                .filter(function (s) { return s !== ""; })
                .map(function (s) { return typed(s, type, false); });
            } else if (kind === "zip_radius") {
              rule.value = [inputs[0].value.trim(), typed(inputs[1].value, "decimal", true)];
            } else if (PAIR_OPS.indexOf(kind) >= 0) {
              rule.value = [typed(inputs[0].value, type, numeric), typed(inputs[1].value, type, numeric)];
            } else {
              rule.value = typed(inputs[0].value, type, numeric);
            }
            ctx.changed();
          };
          var current = rule.value;
          var inputs = [];
          if (NO_VALUE.indexOf(kind) >= 0) {
            values.appendChild(el("span", { "class": "rule-note", text: "no value" }));
          } else if (PAIR_OPS.indexOf(kind) >= 0) {
            var pair = Array.isArray(current) ? current : (current && typeof current === "object" ? [current.zip, current.miles] : ["", ""]);
            var labels = kind === "zip_radius" ? ["ZIP", "miles"] : (kind === "age_between" ? ["from age", "to age"] : ["low", "high"]);
            inputs = [input(shown(pair[0]), labels[0], "rule-value"), input(shown(pair[1]), labels[1], "rule-value")];
          } else if (LIST_OPS.indexOf(kind) >= 0) {
            inputs = [input(Array.isArray(current) ? current.map(shown).join(", ") : shown(current),
              "values, comma separated", "rule-value rule-wide")];
          } else {
            inputs = [input(shown(current), "value", "rule-value")];
          }
          inputs.forEach(function (i) {
            if (listId) { i.setAttribute("list", listId); }
            i.addEventListener("input", function () { write(inputs); });
            values.appendChild(i);
          });
          return write.bind(null, inputs);
        };
        var rewrite = draw();
        field.addEventListener("change", function () { rule.field = field.value; ctx.changed(); rewrite = draw(); });
        op.addEventListener("change", function () { rule.op = op.value; rewrite = draw(); rewrite(); });
        row.appendChild(field);
        row.appendChild(op);
        row.appendChild(values);
      }
      row.appendChild(button("×", "rule-remove", function () { rules.splice(index, 1); ctx.changed(true); }));
      box.appendChild(row);
    });
    box.appendChild(button("+ Add a filter", "rule-add", function () {
      rules.push({ field: fields.length ? fields[0].name : "state", op: "eq", value: "" });
      ctx.changed(true);
    }));
    return box;
  }

  /* --- mapping: target, source, transforms --------------------------------------------- */

  var SOURCE_KINDS = [["from", "field"], ["value", "fixed value"], ["template", "template"]];

  function chipText(spec) {
    if (typeof spec === "string") { return spec; }
    var key = Object.keys(spec || {})[0];
    return key + ": " + shown(spec[key]);
  }

  function transformChips(ctx, rule) {
    var chips = el("span", { "class": "rule-chips" });
    (rule.transforms || []).forEach(function (spec, index) {
      var chip = el("span", { "class": "rule-chip", text: chipText(spec) });
      chip.appendChild(button("×", "rule-chip-remove", function () {
        rule.transforms.splice(index, 1);
        if (!rule.transforms.length) { delete rule.transforms; }
        ctx.changed(true);
      }));
      chips.appendChild(chip);
    });
    var pick = select([["", "+ transform"]].concat(TRANSFORMS), "", "rule-transform");
    var arg = input("", "argument", "rule-arg");
    arg.hidden = true;
    pick.addEventListener("change", function () { arg.hidden = TAKES_ARGUMENT.indexOf(pick.value) < 0; });
    var add = button("Add", "rule-chip-add", function () {
      if (!pick.value) { return; }
      var spec = pick.value;
      if (TAKES_ARGUMENT.indexOf(spec) >= 0) {
        var one = {};
        one[spec] = spec === "truncate" ? typed(arg.value, "integer", true) : arg.value;
        spec = one;
      }
      rule.transforms = (rule.transforms || []).concat([spec]);
      ctx.changed(true);
    });
    chips.appendChild(pick);
    chips.appendChild(arg);
    chips.appendChild(add);
    return chips;
  }

  function mappingEditor(ctx) {
    var rules = ctx.value;
    if (!Array.isArray(rules)) { return null; }
    var fields = schemaOf(ctx.textarea);
    var box = el("div", { "class": "rule-rows" });
    if (!rules.length) {
      box.appendChild(el("p", { "class": "rule-note", text: "No rules: every field is sent under its own name." }));
    }
    rules.forEach(function (rule, index) {
      if (!rule || typeof rule !== "object" || Array.isArray(rule)) {
        box.appendChild(el("div", { "class": "rule-row" }, [el("code", { "class": "rule-raw", text: JSON.stringify(rule) })]));
        return;
      }
      var row = el("div", { "class": "rule-row" });
      var to = input(rule.to, "send as (e.g. zip_code)", "rule-to");
      to.addEventListener("input", function () { rule.to = to.value.trim(); ctx.changed(); });
      var kind = SOURCE_KINDS.map(function (k) { return k[0]; }).filter(function (k) { return k in rule; })[0] || "from";
      var kindBox = select(SOURCE_KINDS, kind, "rule-source-kind");
      var source;
      if (kind === "from") {
        source = select(fieldOptions(fields, SPECIAL_SOURCES), rule.from, "rule-source");
        source.addEventListener("change", function () { rule.from = source.value; ctx.changed(); });
      } else {
        source = input(shown(rule[kind]), kind === "template" ? "{first_name} {last_name}" : "value", "rule-source");
        source.addEventListener("input", function () { rule[kind] = source.value; ctx.changed(); });
      }
      kindBox.addEventListener("change", function () {
        var start = kindBox.value === "from" ? (fields.length ? fields[0].name : "zip") : "";
        rules[index] = renameKey(rule, kind, kindBox.value, start);
        ctx.changed(true);
      });
      row.appendChild(to);
      row.appendChild(el("span", { "class": "rule-note", text: "←" }));
      row.appendChild(kindBox);
      row.appendChild(source);
      row.appendChild(transformChips(ctx, rule));
      var more = Object.keys(rule).filter(function (k) {
        return ["to", "from", "value", "template", "transforms"].indexOf(k) < 0;
      });
      if (more.length) {
        row.appendChild(el("span", { "class": "rule-note", text: "also " + more.join(", ") + " (JSON view)" }));
      }
      row.appendChild(button("×", "rule-remove", function () { rules.splice(index, 1); ctx.changed(true); }));
      box.appendChild(row);
    });
    box.appendChild(button("+ Add a mapping rule", "rule-add", function () {
      rules.push({ to: "", from: fields.length ? fields[0].name : "zip" });
      ctx.changed(true);
    }));
    return box;
  }

  /* --- response rules ---------------------------------------------------------------- */

  var ACCEPTED_KINDS = [["", "any 2xx status"], ["status", "HTTP status in"],
    ["path", "value at path equals"], ["contains", "text contains"], ["regex", "text matches regex"]];
  var EXTRACT_KINDS = [["", "default"], ["path", "at path"], ["regex", "regex group"]];

  function responseEditor(ctx) {
    var rules = ctx.value;
    if (!rules || typeof rules !== "object" || Array.isArray(rules)) { return null; }
    var box = el("div", { "class": "rule-rows" });
    var accepted = rules.accepted && typeof rules.accepted === "object" ? rules.accepted : null;
    var acceptedKind = accepted ? (["status", "path", "contains", "regex"].filter(function (k) { return k in accepted; })[0] || "") : "";
    var kind = select(ACCEPTED_KINDS, acceptedKind, "rule-accepted-kind");
    var row = el("div", { "class": "rule-row" }, [el("span", { "class": "rule-label", text: "Accepted when" }), kind]);
    if (acceptedKind) {
      var main = input(shown(accepted[acceptedKind]), acceptedKind === "status" ? "200-299" : "", "rule-accepted");
      main.addEventListener("input", function () { accepted[acceptedKind] = main.value; ctx.changed(); });
      row.appendChild(main);
      if (acceptedKind === "path") {
        var equals = input((accepted.equals || []).map(shown).join(", "), "equals one of, comma separated", "rule-equals rule-wide");
        equals.addEventListener("input", function () {
          accepted.equals = equals.value.split(",").map(function (s) { return s.trim(); }).filter(function (s) { return s; });
          ctx.changed();
        });
        row.appendChild(equals);
      }
    }
    kind.addEventListener("change", function () {
      if (!kind.value) {
        delete rules.accepted;
      } else {
        var fresh = {};
        fresh[kind.value] = kind.value === "status" ? "200-299" : "";
        if (kind.value === "path") { fresh.equals = []; }
        ctx.value = renameKey(rules, "accepted", "accepted", fresh);
      }
      ctx.changed(true);
    });
    box.appendChild(row);
    ["price", "reference", "reason"].forEach(function (key) {
      var rule = rules[key] && typeof rules[key] === "object" ? rules[key] : null;
      var current = rule ? (["path", "regex"].filter(function (k) { return k in rule; })[0] || "") : "";
      var pick = select(EXTRACT_KINDS, current, "rule-" + key + "-kind");
      var line = el("div", { "class": "rule-row" }, [el("span", { "class": "rule-label", text: key[0].toUpperCase() + key.slice(1) }), pick]);
      if (current) {
        var where = input(rule[current], current === "path" ? "a.b.0.c or a/b/c" : "regex with a group", "rule-" + key);
        where.addEventListener("input", function () { rule[current] = where.value; ctx.changed(); });
        line.appendChild(where);
      } else {
        line.appendChild(el("span", { "class": "rule-note", text: "read from \"" + key + "\" when the answer has it" }));
      }
      pick.addEventListener("change", function () {
        if (!pick.value) { delete rules[key]; } else {
          var fresh = {};
          fresh[pick.value] = "";
          rules[key] = fresh;
        }
        ctx.changed(true);
      });
      box.appendChild(line);
    });
    return box;
  }

  /* --- schedule: the week, day by day ------------------------------------------------ */

  function expandSchedule(schedule) {
    var week = DAYS.map(function () { return []; });
    var ok = true;
    Object.keys(schedule).forEach(function (key) {
      var parts = key.split("-").map(function (p) { return p.trim(); });
      var first = DAYS.indexOf(parts[0]);
      var last = parts.length > 1 ? DAYS.indexOf(parts[1]) : first;
      var windows = Array.isArray(schedule[key]) ? schedule[key] : [schedule[key]];
      if (first < 0 || last < 0 || parts.length > 2 || windows.some(function (w) { return typeof w !== "string"; })) { ok = false; return; }
      for (var d = first; ; d = (d + 1) % 7) {
        week[d] = week[d].concat(windows);
        if (d === last) { break; }
      }
    });
    return ok ? week : null;
  }

  function packSchedule(week) {
    var out = {};
    var d = 0;
    while (d < 7) {
      var same = d;
      var text = JSON.stringify(week[d]);
      while (same + 1 < 7 && JSON.stringify(week[same + 1]) === text) { same += 1; }
      if (week[d].length) {
        var key = same === d ? DAYS[d] : DAYS[d] + "-" + DAYS[same];
        out[key] = week[d].length === 1 ? week[d][0] : week[d].slice();
      }
      d = same + 1;
    }
    return out;
  }

  function scheduleEditor(ctx) {
    var schedule = ctx.value;
    if (!schedule || typeof schedule !== "object" || Array.isArray(schedule)) { return null; }
    var week = expandSchedule(schedule);
    if (!week) { return null; }
    var save = function (redraw) { ctx.value = packSchedule(week); ctx.changed(redraw); };
    var box = el("div", { "class": "rule-rows" });
    var table = el("table", { "class": "rule-week" });
    var empty = !Object.keys(schedule).length;
    box.appendChild(el("p", { "class": "rule-note", text: empty ? "Always open: no day has hours yet. Add hours to limit the days and times." : "Open hours in the buyer's time zone; a day without hours is closed." }));
    box.appendChild(table);
    DAYS.forEach(function (day, d) {
      var cell = el("td", { "class": "rule-windows" });
      week[d].forEach(function (win, w) {
        var ends = win.split("-");
        var from = input(ends[0], "08:00", "rule-time rule-from");
        var to = input(ends.slice(1).join("-"), "20:00", "rule-time rule-to");
        var write = function () { week[d][w] = from.value.trim() + "-" + to.value.trim(); save(false); };
        from.addEventListener("input", write);
        to.addEventListener("input", write);
        cell.appendChild(el("span", { "class": "rule-window" }, [from, el("span", { text: "–" }), to,
          button("×", "rule-remove", function () { week[d].splice(w, 1); save(true); })]));
      });
      if (!week[d].length && !empty) { cell.appendChild(el("span", { "class": "rule-note", text: "closed" })); }
      cell.appendChild(button("+ hours", "rule-add-hours", function () { week[d].push("08:00-20:00"); save(true); }));
      if (d === 0) { cell.appendChild(button("Mon–Fri like Monday", "rule-copy-weekdays", function () {
        for (var o = 1; o < 5; o += 1) { week[o] = week[0].slice(); }
        save(true);
      })); }
      table.appendChild(el("tr", { "data-day": day }, [el("th", { text: DAY_NAMES[d] }), cell]));
    });
    return box;
  }

  /* --- retry backoff and headers ------------------------------------------------------ */

  function backoffEditor(ctx) {
    var steps = ctx.value;
    if (!Array.isArray(steps)) { return null; }
    var box = el("div", { "class": "rule-rows rule-inline" });
    if (!steps.length) { box.appendChild(el("span", { "class": "rule-note", text: "Default: 2, 4, 8, 16, 32 s." })); }
    steps.forEach(function (step, index) {
      var seconds = input(shown(step), "seconds", "rule-seconds");
      seconds.addEventListener("input", function () {
        var t = seconds.value.trim();
        steps[index] = /^\d+$/.test(t) ? Number(t) : t;
        ctx.changed();
      });
      box.appendChild(el("span", { "class": "rule-window" }, [el("span", { text: "retry " + (index + 1) + " after" }), seconds,
        el("span", { text: "s" }), button("×", "rule-remove", function () { steps.splice(index, 1); ctx.changed(true); })]));
    });
    box.appendChild(button("+ Add a retry", "rule-add", function () {
      steps.push(steps.length ? (typeof steps[steps.length - 1] === "number" ? steps[steps.length - 1] * 2 : 2) : 2);
      ctx.changed(true);
    }));
    return box;
  }

  function headersEditor(ctx) {
    var headers = ctx.value;
    if (!headers || typeof headers !== "object" || Array.isArray(headers)) { return null; }
    var box = el("div", { "class": "rule-rows" });
    var rows = [];
    var collect = function () {
      var out = {};
      rows.forEach(function (r) { if (r[0].value.trim()) { out[r[0].value.trim()] = r[1].value; } });
      ctx.value = out;
      ctx.changed();
    };
    Object.keys(headers).forEach(function (name) {
      var n = input(name, "Header-Name", "rule-header-name");
      var v = input(shown(headers[name]), "value", "rule-header-value rule-wide");
      rows.push([n, v]);
      n.addEventListener("input", collect);
      v.addEventListener("input", collect);
      box.appendChild(el("div", { "class": "rule-row" }, [n, v, button("×", "rule-remove", function () {
        delete headers[name];
        ctx.changed(true);
      })]));
    });
    box.appendChild(button("+ Add a header", "rule-add", function () {
      var name = "X-Header";
      var n = 2;
      while (name in headers) { name = "X-Header-" + n; n += 1; }
      headers[name] = "";
      ctx.changed(true);
    }));
    return box;
  }

  var EDITORS = {
    filters: filtersEditor, mapping: mappingEditor, response: responseEditor,
    schedule: scheduleEditor, backoff: backoffEditor, headers: headersEditor
  };

  /* --- the frame: rows or JSON --------------------------------------------------------- */

  function init(textarea) {
    if (textarea.getAttribute("data-rule-ready") || textarea.name.indexOf("__prefix__") >= 0) { return; }
    textarea.setAttribute("data-rule-ready", "1");
    var kind = textarea.getAttribute("data-rule-editor");
    var frame = el("div", { "class": "rule-editor", "data-editor-for": textarea.name });
    var rowsBox = el("div", { "class": "rule-editor-rows" });
    var problem = el("p", { "class": "rule-problem" });
    var toggle = button("JSON", "rule-toggle", function () { setMode(mode === "rows" ? "json" : "rows"); });
    var mode = "rows";
    var ctx = { textarea: textarea, value: null, changed: null };

    var render = function () {
      rowsBox.textContent = "";
      var built = EDITORS[kind](ctx);
      if (!built) { return false; }
      rowsBox.appendChild(built);
      return true;
    };
    ctx.changed = function (redraw) {
      textarea.value = JSON.stringify(ctx.value, null, 2);
      if (redraw) { render(); }
    };
    var setMode = function (wanted) {
      problem.textContent = "";
      if (wanted === "rows") {
        var text = textarea.value.trim();
        try {
          ctx.value = text ? JSON.parse(text) : (kind === "filters" || kind === "mapping" || kind === "backoff" ? [] : {});
        } catch (e) {
          problem.textContent = "The JSON does not parse (" + e.message + "): fix it here first.";
          wanted = "json";
        }
        if (wanted === "rows" && !render()) {
          problem.textContent = "These rules have a shape the rows cannot show: edit them as JSON.";
          wanted = "json";
        }
      }
      mode = wanted;
      rowsBox.hidden = mode !== "rows";
      textarea.classList.toggle("rule-hidden", mode === "rows");
      toggle.textContent = mode === "rows" ? "JSON" : "Rows";
      toggle.setAttribute("aria-pressed", mode === "json" ? "true" : "false");
    };
    frame.appendChild(el("div", { "class": "rule-toolbar" }, [toggle]));
    frame.appendChild(problem);
    frame.appendChild(rowsBox);
    textarea.parentNode.insertBefore(frame, textarea);
    setMode("rows");
    // Field pickers follow the vertical chosen on the page, and a mapping its endpoint kind.
    var vertical = document.getElementById("id_vertical");
    if (vertical && (kind === "filters" || kind === "mapping")) {
      vertical.addEventListener("change", function () { if (mode === "rows") { setMode("rows"); } });
    }
  }

  function initAll(root) {
    Array.prototype.forEach.call(root.querySelectorAll("textarea[data-rule-editor]"), init);
  }

  // An "add credential" popup opened from an endpoint makes a credential of the
  // campaign's buyer: the link carries the buyer chosen on the page.
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a.add-related") : null;
    var buyer = document.getElementById("id_buyer");
    if (!link || !buyer || !/credential$/.test(link.id || "")) { return; }
    var url = new URL(link.href, window.location.href);
    if (buyer.value) { url.searchParams.set("buyer", buyer.value); }
    link.href = url.toString();
  }, true);

  document.addEventListener("formset:added", function (event) { initAll(event.target); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { initAll(document); });
  } else {
    initAll(document);
  }
}());
