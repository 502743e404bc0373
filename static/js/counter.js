/* ROKO live SMS counter: a mirror of roko_app/sms/encoding.py (analyze, gsm_safe, suggest)
 * and roko_app/sms/templates.py (read_template).
 *
 * The character tables come from the page (<script type="application/json"
 * id="sms-rules">, dumped from the Python module); nothing is retyped here.
 * Progressive enhancement: the form works without this file and the server always
 * checks the text again.
 *
 * Markup: <textarea data-sms-counter="ID"> and <div id="ID" class="sms-counter">
 * holding [data-role=summary|remaining|offending|preview|replace|remove-note|remove|
 * replaced|problems]. The box gets data-encoding, data-units, data-limit, data-fits,
 * data-segments, data-offending (a JSON array), data-remaining and data-suggest
 * ("replace", "remove" or "") after every change; data-fill (JSON) makes it count a
 * reply template with its {placeholders} filled (roko_app/sms/templates.py) and report
 * its problems in data-problems; data-submit names the button to disable.
 */
(function () {
  "use strict";

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function compileRules(data) {
    var basic = new Set(Array.from(data.basic));
    var extension = new Set(Array.from(data.extension));
    return {
      basic: basic,
      extension: extension,
      isGsm: function (ch) { return basic.has(ch) || extension.has(ch); },
      replacements: new Map(Object.entries(data.replacements)),
      limits: data.limits
    };
  }

  // Greedy packing of 1- and 2-unit characters into parts (never splits a pair).
  function pack(chars, capacity, isDouble) {
    var parts = 1, used = 0;
    for (var i = 0; i < chars.length; i++) {
      var cost = isDouble(chars[i]) ? 2 : 1;
      if (used + cost > capacity) { parts += 1; used = cost; } else { used += cost; }
    }
    return parts;
  }

  function isAstral(ch) { return ch.codePointAt(0) > 0xFFFF; }

  // analyze(): NFC, then per code point (for...of / Array.from, like Python's str).
  function analyze(rules, raw) {
    var text = raw.normalize("NFC");
    var chars = Array.from(text);
    var limits = rules.limits;
    if (chars.every(rules.isGsm)) {
      var units = 0, hasExtension = false;
      chars.forEach(function (ch) {
        if (rules.extension.has(ch)) { units += 2; hasExtension = true; } else { units += 1; }
      });
      var segments;
      if (units === 0) { segments = 0; }
      else if (units <= limits.single_gsm7) { segments = 1; }
      else if (!hasExtension) { segments = Math.ceil(units / limits.part_gsm7); }
      else { segments = pack(chars, limits.part_gsm7, function (ch) { return rules.extension.has(ch); }); }
      return { encoding: "GSM-7", units: units, limit: limits.single_gsm7, fits: units <= limits.single_gsm7,
               segments: segments, offending: [], text: text };
    }
    var ucsUnits = text.length;  // UTF-16 code units; a lone surrogate is 1, like Python's surrogatepass
    var offending = [];
    chars.forEach(function (ch) {
      if (!rules.isGsm(ch) && offending.indexOf(ch) < 0) { offending.push(ch); }
    });
    var ucsSegments;
    if (ucsUnits <= limits.single_ucs2) { ucsSegments = 1; }
    else if (ucsUnits === chars.length) { ucsSegments = Math.ceil(ucsUnits / limits.part_ucs2); }
    else { ucsSegments = pack(chars, limits.part_ucs2, isAstral); }
    return { encoding: "UCS-2", units: ucsUnits, limit: limits.single_ucs2, fits: ucsUnits <= limits.single_ucs2,
             segments: ucsSegments, offending: offending, text: text };
  }

  // gsm_safe(): replace until no replaceable character is left (NFC after each pass,
  // which can compose a new replaceable character).
  function gsmSafe(rules, raw) {
    var current = raw.normalize("NFC");
    var changes = new Map();
    for (;;) {
      var found = Array.from(current).filter(function (ch) { return rules.replacements.has(ch); });
      if (!found.length) { break; }
      found.forEach(function (ch) { if (!changes.has(ch)) { changes.set(ch, rules.replacements.get(ch)); } });
      current = Array.from(current).map(function (ch) {
        return rules.replacements.has(ch) ? rules.replacements.get(ch) : ch;
      }).join("").normalize("NFC");
    }
    return { text: current, changes: Array.from(changes), isGsm7: Array.from(current).every(rules.isGsm) };
  }

  // suggest(): the rewrite worth offering (GSM-7, no more SMS than as written), or null.
  // measure(text) gives analyze() of the text as counted (placeholders filled).
  function suggest(rules, raw, measure) {
    var before = measure(raw);
    if (before.encoding === "GSM-7") { return null; }
    var safe = gsmSafe(rules, raw), offer;
    if (safe.isGsm7) {
      offer = { action: "replace", text: safe.text, changes: safe.changes, removed: [] };
    } else {
      var removed = analyze(rules, safe.text).offending;
      var kept = Array.from(safe.text).filter(function (ch) { return removed.indexOf(ch) < 0; }).join("");
      if (kept.trim() === "") { return null; }
      offer = { action: "remove", text: kept, removed: removed,
                changes: safe.changes.concat(removed.map(function (ch) { return [ch, ""]; })) };
    }
    var after = measure(offer.text);
    return after.encoding === "GSM-7" && after.segments <= before.segments ? offer : null;
  }

  function addOnce(list, item) { if (list.indexOf(item) < 0) { list.push(item); } }

  // read_template() of roko_app/sms/templates.py: {name} filled from values, {{ and }}
  // for a brace; unknown names, format specs or conversions and lone braces reported.
  function readTemplate(text, values) {
    var out = "", unknown = [], formatted = [], broken = [], i = 0;
    while (i < text.length) {
      var ch = text[i];
      if ((ch === "{" || ch === "}") && text[i + 1] === ch) { out += ch; i += 2; continue; }
      if (ch === "{") {
        var end = text.indexOf("}", i + 1), following = text.indexOf("{", i + 1);
        if (end < 0 || (following >= 0 && following < end)) { addOnce(broken, "{"); out += ch; i += 1; continue; }
        var field = text.slice(i + 1, end), whole = text.slice(i, end + 1);
        if (field.indexOf(":") >= 0 || field.indexOf("!") >= 0) { addOnce(formatted, whole); out += whole; }
        else if (Object.prototype.hasOwnProperty.call(values, field)) { out += values[field]; }
        else { addOnce(unknown, whole); out += whole; }
        i = end + 1;
        continue;
      }
      if (ch === "}") { addOnce(broken, "}"); }
      out += ch;
      i += 1;
    }
    return { text: out, unknown: unknown, formatted: formatted, broken: broken };
  }

  // plain_field(): {chances:0>60} -> {chances}
  function plainField(field) {
    return "{" + field.slice(1, -1).split(":")[0].split("!")[0] + "}";
  }

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  function codePoint(ch) {
    return "U+" + ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
  }

  // How an offending character is shown: itself, or its code point when invisible.
  function visible(ch) {
    return /^[\s\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufe00-\ufe0f\ufeff\p{M}]$/u.test(ch)
      ? "[" + codePoint(ch) + "]" : ch;
  }

  function markOffending(target, info) {
    target.textContent = "";
    var offending = new Set(info.offending);
    var plain = "";
    Array.from(info.text).forEach(function (ch) {
      if (!offending.has(ch)) { plain += ch; return; }
      if (plain) { target.appendChild(document.createTextNode(plain)); plain = ""; }
      var mark = document.createElement("mark");
      mark.textContent = visible(ch);
      mark.title = codePoint(ch);
      target.appendChild(mark);
    });
    if (plain) { target.appendChild(document.createTextNode(plain)); }
  }

  // "N characters left": messages.remaining holds the forms for 0, 1 and more (French
  // says "0 caractère restant", English "0 characters left").
  function remainingLine(messages, remaining) {
    var form = remaining === 0 ? messages.remaining["0"] : remaining === 1 ? messages.remaining["1"]
      : messages.remaining.other;
    return format(form, { remaining: remaining });
  }

  function listChanges(changes) {
    return changes.map(function (c) { return visible(c[0]) + " → " + (c[1] ? visible(c[1]) : "∅"); }).join(", ");
  }

  function bind(textarea, box, rules, messages) {
    var part = function (role) { return box.querySelector("[data-role=" + role + "]"); };
    var summary = part("summary"), remainingNote = part("remaining"), preview = part("preview");
    var offendingList = part("offending"), replace = part("replace"), replaced = part("replaced");
    var removeNote = part("remove-note"), remove = part("remove");
    var problemNote = part("problems");
    var fill = box.dataset.fill ? JSON.parse(box.dataset.fill) : null;
    var submit = box.dataset.submit ? document.getElementById(box.dataset.submit) : null;
    var read = function (raw) { return fill ? readTemplate(raw, fill) : null; };
    var measure = function (raw) { return analyze(rules, fill ? readTemplate(raw, fill).text : raw); };

    function problemLines(reading) {
      var lines = [];
      if (reading.broken.length) { lines.push(format(messages.broken, { braces: reading.broken.join(" ") })); }
      if (reading.formatted.length) {
        var plain = [];
        reading.formatted.forEach(function (field) { addOnce(plain, plainField(field)); });
        lines.push(format(messages.formatted, { fields: reading.formatted.join(", "), plain: plain.join(", ") }));
      }
      if (reading.unknown.length) { lines.push(format(messages.unknown, { names: reading.unknown.join(" ") })); }
      return lines;
    }

    function update() {
      var raw = textarea.value;
      var reading = read(raw);
      var info = analyze(rules, reading ? reading.text : raw);
      var offer = suggest(rules, raw, measure);
      var remaining = Math.max(info.limit - info.units, 0);
      box.dataset.encoding = info.encoding;
      box.dataset.units = String(info.units);
      box.dataset.limit = String(info.limit);
      box.dataset.fits = String(info.fits);
      box.dataset.segments = String(info.segments);
      box.dataset.offending = JSON.stringify(info.offending);
      box.dataset.remaining = String(remaining);
      box.dataset.suggest = offer ? offer.action : "";
      box.classList.toggle("over", !info.fits);
      box.classList.toggle("ucs2", info.encoding === "UCS-2");
      var line = format(info.encoding === "GSM-7" ? messages.gsm : messages.ucs, info);
      if (!info.fits) { line += " " + format(messages.over, info); }
      summary.textContent = line;
      remainingNote.hidden = !info.fits;
      remainingNote.textContent = remainingLine(messages, remaining);
      var hasOffending = info.offending.length > 0;
      preview.hidden = offendingList.hidden = !hasOffending;
      if (hasOffending) {
        markOffending(preview, info);
        offendingList.textContent = messages.offending + " " +
          info.offending.map(function (ch) { return visible(ch) + " (" + codePoint(ch) + ")"; }).join(", ");
      }
      replace.hidden = !offer || offer.action !== "replace";
      remove.hidden = removeNote.hidden = !offer || offer.action !== "remove";
      if (offer && offer.action === "remove") {
        removeNote.textContent = format(messages.remove_note, { chars: offer.removed.map(visible).join(" ") });
        remove.textContent = offer.changes.length > offer.removed.length ? messages.remove_and_replace : messages.remove;
      }
      if (reading) {
        box.dataset.problems = JSON.stringify({ unknown: reading.unknown, formatted: reading.formatted,
                                                broken: reading.broken });
        var lines = problemLines(reading);
        problemNote.hidden = lines.length === 0;
        problemNote.textContent = lines.join(" ");
      }
      if (submit) { submit.disabled = !info.fits || raw.trim() === ""; }
    }

    function apply() {
      var offer = suggest(rules, textarea.value, measure);
      if (!offer) { return; }
      textarea.value = offer.text;
      replaced.hidden = false;
      replaced.textContent = format(messages.replaced, { changes: listChanges(offer.changes) });
      update();
      textarea.focus();
    }

    replace.addEventListener("click", apply);
    remove.addEventListener("click", apply);
    textarea.addEventListener("input", function () { replaced.hidden = true; update(); });
    update();
  }

  function init() {
    var data = readJson("sms-rules");
    var messages = readJson("sms-counter-i18n");
    if (!data || !messages) { return; }
    var rules = compileRules(data);
    window.RokoSms = {
      analyze: function (text) { return analyze(rules, text); },
      gsmSafe: function (text) { return gsmSafe(rules, text); },
      suggest: function (text, fill) {
        return suggest(rules, text, function (raw) { return analyze(rules, fill ? readTemplate(raw, fill).text : raw); });
      },
      readTemplate: readTemplate
    };
    document.querySelectorAll("textarea[data-sms-counter]").forEach(function (textarea) {
      var box = document.getElementById(textarea.dataset.smsCounter);
      if (box) { bind(textarea, box, rules, messages); }
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
}());
