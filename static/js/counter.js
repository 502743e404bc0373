/* ROKO live SMS counter: a mirror of roko_app/sms/encoding.py (analyze, gsm_safe).
 *
 * The character tables come from the page (<script type="application/json"
 * id="sms-rules">, dumped from the Python module); nothing is retyped here.
 * Progressive enhancement: the form works without this file and the server always
 * checks the text again.
 *
 * Markup: <textarea data-sms-counter="ID"> and <div id="ID" class="sms-counter">
 * holding [data-role=summary|preview|offending|replace|replaced|unknown]. The box gets
 * data-encoding, data-units, data-limit, data-fits, data-segments and
 * data-offending (a JSON array) after every change; data-fill (JSON) makes it count
 * the text with its {placeholders} filled; data-submit names the button to disable.
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

  // str.format_map for the simple fields templates use: {name}, {{ and }}.
  function fillPlaceholders(text, values) {
    var out = "", unknown = [], i = 0;
    while (i < text.length) {
      var ch = text[i];
      if ((ch === "{" || ch === "}") && text[i + 1] === ch) { out += ch; i += 2; continue; }
      if (ch === "{") {
        var end = text.indexOf("}", i);
        var name = end < 0 ? text.slice(i + 1) : text.slice(i + 1, end);
        if (end >= 0 && Object.prototype.hasOwnProperty.call(values, name)) {
          out += values[name];
        } else {
          unknown.push(end < 0 ? text.slice(i) : "{" + name + "}");
          out += end < 0 ? text.slice(i) : text.slice(i, end + 1);
        }
        i = end < 0 ? text.length : end + 1;
        continue;
      }
      if (ch === "}") { unknown.push("}"); }
      out += ch;
      i += 1;
    }
    return { text: out, unknown: unknown };
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

  function bind(textarea, box, rules, messages) {
    var part = function (role) { return box.querySelector("[data-role=" + role + "]"); };
    var summary = part("summary"), preview = part("preview"), offendingList = part("offending");
    var replace = part("replace"), replaced = part("replaced"), unknownNote = part("unknown");
    var fill = box.dataset.fill ? JSON.parse(box.dataset.fill) : null;
    var submit = box.dataset.submit ? document.getElementById(box.dataset.submit) : null;

    function update() {
      var raw = textarea.value;
      var filled = fill ? fillPlaceholders(raw, fill) : { text: raw, unknown: [] };
      var info = analyze(rules, filled.text);
      box.dataset.encoding = info.encoding;
      box.dataset.units = String(info.units);
      box.dataset.limit = String(info.limit);
      box.dataset.fits = String(info.fits);
      box.dataset.segments = String(info.segments);
      box.dataset.offending = JSON.stringify(info.offending);
      box.classList.toggle("over", !info.fits);
      box.classList.toggle("ucs2", info.encoding === "UCS-2");
      var line = format(info.encoding === "GSM-7" ? messages.gsm : messages.ucs, info);
      if (!info.fits) { line += " " + format(messages.over, info); }
      summary.textContent = line;
      var hasOffending = info.offending.length > 0;
      preview.hidden = offendingList.hidden = !hasOffending;
      if (hasOffending) {
        markOffending(preview, info);
        offendingList.textContent = messages.offending + " " +
          info.offending.map(function (ch) { return visible(ch) + " (" + codePoint(ch) + ")"; }).join(", ");
      }
      replace.hidden = gsmSafe(rules, raw).changes.length === 0;
      if (unknownNote) {
        unknownNote.hidden = filled.unknown.length === 0;
        unknownNote.textContent = format(messages.unknown, { names: filled.unknown.join(" ") });
      }
      if (submit) { submit.disabled = !info.fits || raw.trim() === ""; }
    }

    replace.addEventListener("click", function () {
      var result = gsmSafe(rules, textarea.value);
      textarea.value = result.text;
      replaced.hidden = result.changes.length === 0;
      replaced.textContent = format(messages.replaced, {
        changes: result.changes.map(function (c) { return visible(c[0]) + " → " + (c[1] || "∅"); }).join(", ")
      });
      update();
      textarea.focus();
    });
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
      fill: fillPlaceholders
    };
    document.querySelectorAll("textarea[data-sms-counter]").forEach(function (textarea) {
      var box = document.getElementById(textarea.dataset.smsCounter);
      if (box) { bind(textarea, box, rules, messages); }
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
}());
