/*
 * Cohort tracking script.
 *
 * Served by GET /t/<site_key>.js, which replaces the `null` config argument at the bottom
 * with {"siteKey": ..., "apiBase": ...}: the site's public key and the origin of our API
 * (COHORT_PUBLIC_BASE_URL, the same base the install snippet loads this file from).
 * Loaded without that config (e.g. straight from /static/) it only warns and does nothing.
 *
 * What it does on a customer's page:
 * - keeps a random visitor id per site in a first-party cookie `_cohort_vid_<site_key>`
 *   (1 year, SameSite=Lax) and in localStorage; either one restores the other;
 * - keeps a session id in sessionStorage; a page loaded, or a single-page app's move to
 *   another page, after 30 minutes without activity starts a new session;
 * - records the page visit (POST /api/v1/sites/<key>/sessions), and one for each page a
 *   single-page app moves to (history.pushState, popstate, a "#/route"), asking for the
 *   widgets again on each;
 * - replays the calls queued by the stub
 *   `window.hj=window.hj||function(){(hj.q=hj.q||[]).push(arguments)};`
 *   in order (from `window._cohortq`, the install snippet's second reference to that
 *   queue, when another script sharing the stub replaced it first), then replaces
 *   window.hj with the real function;
 * - sends `hj('identify', userId, attributes)` to POST /api/v1/sites/<key>/identify, one
 *   request at a time in call order, retrying once (same message_id) on a network error,
 *   a 5xx or a 429; calls still waiting when the page is left are all sent at once as
 *   keepalive requests;
 * - once those calls are answered, asks GET /api/v1/sites/<key>/widgets which Polls and
 *   Incoming Feedback widgets this visitor should see, shows them inside a shadow root (a
 *   poll card in the bottom-right corner, a "Feedback" tab on the right edge), sends the
 *   answers to POST .../widgets/<id>/responses (each with an answer_id, retried once
 *   like identify calls; the same answer sent again after that retry failed keeps its
 *   id, also after a reload: sessionStorage `_cohort_unsettled_<site_key>`), and asks
 *   again shortly after each successful identify call. A poll the
 *   visitor closes stays closed in that browser, as an answered one does (localStorage
 *   `_cohort_closed_<site_key>`).
 *
 * It never throws into the host page: bad arguments are reported with console.warn;
 * widget requests that fail are silent outside debug mode.
 * `?cohortDebug=1` on the page URL turns on debug logging for the browser tab
 * (`?cohortDebug=0` turns it off); in debug mode every call, request and response is
 * logged and a `cohort:debug` event is dispatched on window after each response.
 * `cohort:ready` is dispatched on window once the script has started, and `hj.cohort`
 * exposes {visitorId, sessionId, siteKey, version, debug} (read-only).
 *
 * Plain ES2017, no build step, no requests to anyone but the API base.
 */
(function (config) {
  "use strict";

  const VERSION = "1.0.0";
  const PREFIX = "[cohort]";
  // The API's format for visitor, session and message ids.
  const ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
  const SESSION_IDLE_MS = 30 * 60 * 1000;
  const COOKIE_MAX_AGE_S = 365 * 24 * 60 * 60;
  const REQUEST_TIMEOUT_MS = 10 * 1000;
  const RETRY_DELAY_MS = 500;
  // A call that met a network error while the browser was offline waits this long at most
  // for the connection to come back before its retry.
  const OFFLINE_WAIT_MS = 5 * 60 * 1000;
  const MAX_RETRY_AFTER_MS = 30 * 1000;
  // Browsers refuse keepalive requests with bodies over 64 KiB.
  const KEEPALIVE_MAX_BYTES = 60 * 1024;
  const MAX_URL_LENGTH = 2000;
  // The API's bound on the attributes of one identify call.
  const MAX_ATTRIBUTES_PER_CALL = 100;
  // A single-page app's URL changes count once the URL has stayed put this long: a
  // router that pushes on every keystroke of a search box makes one page visit.
  const URL_SETTLE_MS = 500;
  const DEBUG_STORAGE_KEY = "_cohort_debug";

  function describe(value) {
    try {
      if (value === null) return "null";
      if (value === undefined) return "undefined";
      if (Array.isArray(value)) return "an array";
      if (value instanceof Date) return "a Date";
      if (typeof value === "string") {
        return JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value);
      }
      if (typeof value === "object") return "an object";
      if (typeof value === "number" || typeof value === "boolean") return String(value);
      return "a " + typeof value;
    } catch (error) {
      return "a value";
    }
  }

  // A value as the debug log shows it: JSON where possible.
  function show(value) {
    if (value === undefined) return "undefined";
    try {
      const text = JSON.stringify(value);
      return text === undefined ? describe(value) : text;
    } catch (error) {
      return describe(value);
    }
  }

  function log(level, message) {
    try {
      window.console[level](PREFIX + " " + message);
    } catch (error) {
      // No console: nothing to report to.
    }
  }

  function warn(message) {
    log("warn", message);
  }

  function storageGet(area, key) {
    try {
      return window[area].getItem(key);
    } catch (error) {
      return null; // Storage blocked (privacy settings, sandboxed frame).
    }
  }

  function storageSet(area, key, value) {
    try {
      window[area].setItem(key, value);
    } catch (error) {
      // Storage blocked or full: the other store (or memory) still holds the value.
    }
  }

  function storageRemove(area, key) {
    try {
      window[area].removeItem(key);
    } catch (error) {
      // Nothing to remove from.
    }
  }

  function cookieGet(name) {
    try {
      const parts = document.cookie ? document.cookie.split(";") : [];
      for (let i = 0; i < parts.length; i += 1) {
        const part = parts[i].trim();
        const eq = part.indexOf("=");
        if (eq > 0 && part.slice(0, eq) === name) return decodeURIComponent(part.slice(eq + 1));
      }
    } catch (error) {
      // Cookies blocked or a malformed cookie: treat as missing.
    }
    return null;
  }

  function cookieSet(name, value) {
    try {
      let cookie =
        name + "=" + encodeURIComponent(value) +
        "; Max-Age=" + COOKIE_MAX_AGE_S + "; Path=/; SameSite=Lax";
      if (window.location.protocol === "https:") cookie += "; Secure";
      document.cookie = cookie;
    } catch (error) {
      // Cookies blocked: localStorage (or memory) still holds the value.
    }
  }

  function randomId() {
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }

  // A 64-bit digest of a text as 16 hex digits: two FNV-1a hashes over its UTF-16 code
  // units, from different starting values. Not for secrets; it tells answers apart.
  function digest(text) {
    let a = 0x811c9dc5;
    let b = 0x01000193 ^ text.length;
    for (let i = 0; i < text.length; i += 1) {
      const unit = text.charCodeAt(i);
      a = Math.imul(a ^ unit, 0x01000193);
      b = Math.imul(b ^ unit, 0x5bd1e995);
    }
    return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
  }

  function validId(value) {
    return typeof value === "string" && ID_PATTERN.test(value);
  }

  // The visitor id: cookie first, then localStorage, else a new one; written back to both
  // so that clearing either one keeps the visitor (and the cookie's year starts again).
  function visitorIdLoad(siteKey) {
    const name = "_cohort_vid_" + siteKey;
    const fromCookie = cookieGet(name);
    const fromStorage = storageGet("localStorage", name);
    const id = validId(fromCookie) ? fromCookie : validId(fromStorage) ? fromStorage : randomId();
    cookieSet(name, id);
    storageSet("localStorage", name, id);
    return id;
  }

  function sessionStore(siteKey, id) {
    const value = JSON.stringify({ id: id, seen: Date.now() });
    storageSet("sessionStorage", "_cohort_sid_" + siteKey, value);
  }

  // The session id: the tab's current session unless it has been idle for 30 minutes.
  function sessionIdLoad(siteKey) {
    let stored = null;
    try {
      stored = JSON.parse(storageGet("sessionStorage", "_cohort_sid_" + siteKey) || "null");
    } catch (error) {
      stored = null;
    }
    const fresh =
      stored !== null &&
      typeof stored === "object" &&
      validId(stored.id) &&
      typeof stored.seen === "number" &&
      Date.now() - stored.seen < SESSION_IDLE_MS;
    const id = fresh ? stored.id : randomId();
    sessionStore(siteKey, id);
    return id;
  }

  function debugLoad() {
    let flag = null;
    try {
      flag = new URLSearchParams(window.location.search).get("cohortDebug");
    } catch (error) {
      flag = null;
    }
    if (flag === "1" || flag === "true") storageSet("sessionStorage", DEBUG_STORAGE_KEY, "1");
    if (flag === "0" || flag === "false") storageRemove("sessionStorage", DEBUG_STORAGE_KEY);
    if (flag === "1" || flag === "true") return true;
    if (flag === "0" || flag === "false") return false;
    return storageGet("sessionStorage", DEBUG_STORAGE_KEY) === "1";
  }

  function isPlainObject(value) {
    if (value === null || typeof value !== "object") return false;
    const proto = Object.getPrototypeOf(value);
    return proto === Object.prototype || proto === null;
  }

  // userId: string as is, number as a string, null/undefined as null; anything else is
  // refused (returns undefined).
  function userIdNormalize(userId) {
    if (userId === null || userId === undefined) return null;
    if (typeof userId === "string") return userId;
    if (typeof userId === "number" && Number.isFinite(userId)) return String(userId);
    return undefined;
  }

  // Text no database can store: a NUL character, or half of a surrogate pair (what is left
  // of an emoji that .slice() or .substring() cut in two).
  // (No lookbehind: plain ES2017.)
  const UNSTORABLE_TEXT = new RegExp(
    "\\u0000|[\\ud800-\\udbff](?![\\udc00-\\udfff])|(?:^|[^\\ud800-\\udbff])[\\udc00-\\udfff]"
  );
  const UNSTORABLE_TEXT_REASON =
    "holds a NUL character or half of an emoji (a lone surrogate), which cannot be stored";

  // What JSON can carry faithfully goes to the API, which judges each value and answers
  // with a reason per rejected key; what JSON would silently change (undefined, NaN,
  // functions), cannot encode (cycles, BigInt) or no database can store (text with a NUL
  // or a lone surrogate, in a key or a string value) is dropped here with a reason.
  function attributesSerialize(attributes) {
    const values = {};
    const dropped = {};
    Object.keys(attributes).forEach(function (key) {
      const value = attributes[key];
      if (UNSTORABLE_TEXT.test(key)) {
        dropped[key] = "its key " + UNSTORABLE_TEXT_REASON;
        return;
      }
      if (typeof value === "string" && UNSTORABLE_TEXT.test(value)) {
        dropped[key] = describe(value) + " " + UNSTORABLE_TEXT_REASON;
        return;
      }
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) dropped[key] = "invalid Date";
        else values[key] = value.toISOString();
        return;
      }
      if (typeof value === "number" && !Number.isFinite(value)) {
        dropped[key] = String(value) + " is not a number JSON can carry";
        return;
      }
      if (value === undefined || typeof value === "function" || typeof value === "symbol") {
        dropped[key] = describe(value) + " cannot be sent";
        return;
      }
      try {
        values[key] = JSON.parse(JSON.stringify(value));
      } catch (error) {
        dropped[key] = describe(value) + " cannot be encoded as JSON";
      }
    });
    return { values: values, dropped: dropped };
  }

  function sleep(ms) {
    return new Promise(function (resolve) {
      window.setTimeout(resolve, ms);
    });
  }

  function byteLength(text) {
    try {
      return new TextEncoder().encode(text).length;
    } catch (error) {
      return text.length * 3;
    }
  }

  // Resolves when the browser is online again, or after `ms`.
  function onlineAgain(ms) {
    return new Promise(function (resolve) {
      const done = function () {
        window.clearTimeout(timer);
        window.removeEventListener("online", done);
        resolve();
      };
      const timer = window.setTimeout(done, ms);
      window.addEventListener("online", done);
    });
  }

  function retryDelay(response) {
    const header = response && response.headers.get("Retry-After");
    const seconds = header === null || header === undefined ? NaN : Number(header);
    if (!Number.isFinite(seconds) || seconds < 0) return RETRY_DELAY_MS;
    return Math.min(seconds * 1000, MAX_RETRY_AFTER_MS);
  }

  async function readJson(response) {
    try {
      return await response.json();
    } catch (error) {
      return null;
    }
  }

  // One request: a POST with a JSON body, or a GET when body is null. Both are "simple"
  // CORS requests, sent without a preflight: the JSON goes as text/plain, which the API
  // reads as JSON and checks the page's origin on. A POST small enough is a keepalive
  // request, which the browser completes after the page has gone; it is not given an
  // abort signal, which would take it down with the page: its caller stops waiting after
  // the timeout instead.
  async function fetchOnce(url, body) {
    const keepalive = body !== null && byteLength(body) <= KEEPALIVE_MAX_BYTES;
    const controller =
      !keepalive && typeof AbortController === "function" ? new AbortController() : null;
    let timer = null;
    const timeout = new Promise(function (resolve, reject) {
      timer = window.setTimeout(function () {
        if (controller) controller.abort();
        reject(new Error("timed out"));
      }, REQUEST_TIMEOUT_MS);
    });
    const init = {
      method: body === null ? "GET" : "POST",
      mode: "cors",
      credentials: "omit",
      signal: controller ? controller.signal : undefined,
    };
    if (body !== null) {
      init.headers = { "Content-Type": "text/plain;charset=UTF-8" };
      init.body = body;
      init.keepalive = keepalive;
    }
    try {
      return await Promise.race([window.fetch(url, init), timeout]);
    } finally {
      window.clearTimeout(timer);
    }
  }

  function truncate(text) {
    return typeof text === "string" ? text.slice(0, MAX_URL_LENGTH) : "";
  }

  // --- widgets ---------------------------------------------------------------------------
  //
  // Polls (a card in the bottom-right corner) and Incoming Feedback (a "Feedback" tab on the
  // right edge that opens a panel), rendered inside one shadow root so that the host page's
  // CSS does not reach them and ours does not leak out.

  const WIDGET_RECHECK_MS = 300;
  const MAX_TEXT_ANSWER = 2000;
  const MAX_EMAIL_LENGTH = 254;
  const MAX_CLOSED_REMEMBERED = 100;
  const MAX_UNSETTLED_REMEMBERED = 20;
  const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
  const QUESTION_KINDS = ["single", "multiple", "rating", "text"];
  const EMOTION_FACES = { 1: "😠", 2: "😞", 3: "😐", 4: "😊", 5: "😍" };
  const TOP_LAYER = "2147483000";
  const WIDGET_CSS = [
    ":host { all: initial; }",
    // Shown in the top layer, the element gets a ::backdrop, which a page's own rule for
    // its dialogs (`::backdrop { background: ... }`) would paint over the whole page.
    ":host::backdrop { display: none !important; }",
    ".w, .w * { box-sizing: border-box; }",
    ".w { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif;",
    "  font-size: 14px; line-height: 1.4; color: #1f2330; text-align: start; }",
    "[hidden] { display: none !important; }",
    ".card, .panel { position: fixed; z-index: 1; width: 320px; max-width: calc(100vw - 32px);",
    "  max-height: calc(100vh - 32px); overflow: auto; background: #ffffff; color: #1f2330;",
    "  border: 1px solid #d5d8e3; border-radius: 10px; padding: 16px;",
    "  box-shadow: 0 10px 30px rgba(20, 24, 40, 0.2); }",
    // The poll card lies above the Feedback tab (on a narrow screen they can meet) and
    // the Feedback panel above both: the one in use is never under the other's buttons.
    ".card { z-index: 2; right: 16px; bottom: 16px; }",
    // Where there is room, the card keeps clear of the tab's strip (a short or landscape
    // screen would hide the tab under it).
    "@media (min-width: 400px) { .stage:has(.tab) .card { right: 52px; } }",
    ".panel { z-index: 3; right: 52px; top: 50%; transform: translateY(-50%); }",
    "@media (max-width: 480px) { .panel { right: 16px; } }",
    ".head { display: flex; align-items: flex-start; gap: 8px; margin-bottom: 8px; }",
    ".heading { flex: 1; min-width: 0; }",
    ".progress { margin: 0 0 2px; font-size: 12px; color: #5b6072; }",
    ".title { margin: 0; font-size: 15px; font-weight: 600; line-height: 1.35; color: #1f2330; }",
    // A customer's text may hold a link or a long compound word: it wraps in the card.
    ".title, .choice span, .thanks, .progress { overflow-wrap: anywhere; }",
    ".choice span { min-width: 0; }",
    ".optional { font-weight: 400; color: #5b6072; }",
    "button { font: inherit; cursor: pointer; margin: 0; }",
    "button:focus-visible, input:focus-visible, textarea:focus-visible, .tab:focus-visible {",
    "  outline: 3px solid #b45309; outline-offset: 2px; }",
    ".close { flex: none; width: 32px; height: 32px; padding: 0; border: 0; border-radius: 6px;",
    "  background: transparent; color: #4b5063; font-size: 22px; line-height: 1; }",
    ".close:hover { background: #f0f1f6; }",
    ".primary { padding: 8px 16px; border: 1px solid #4338ca; border-radius: 6px;",
    "  background: #4338ca; color: #ffffff; font-weight: 600; }",
    ".primary:hover { background: #3730a3; }",
    ".primary:disabled { opacity: 0.6; cursor: default; }",
    ".choices { display: grid; gap: 6px; }",
    ".choice { display: flex; align-items: center; gap: 8px; padding: 7px 10px; cursor: pointer;",
    "  border: 1px solid #dfe2eb; border-radius: 6px; background: #ffffff; }",
    ".choice:hover { border-color: #a5a9c4; }",
    ".choice input { margin: 0; accent-color: #4338ca; }",
    ".scale, .emotions { display: flex; gap: 6px; }",
    ".scale button, .emotions button { flex: 1; min-height: 40px; padding: 6px 0;",
    "  border: 1px solid #d5d8e3; border-radius: 6px; background: #f4f5fa; color: #1f2330; }",
    ".scale button:hover, .emotions button:hover { border-color: #4338ca; }",
    ".scale button[aria-pressed='true'], .emotions button[aria-pressed='true'] {",
    "  background: #4338ca; border-color: #4338ca; color: #ffffff; }",
    // Forced colours (Windows High Contrast) drop the backgrounds that mark the choice.
    "@media (forced-colors: active) {",
    "  .scale button[aria-pressed='true'], .emotions button[aria-pressed='true'] {",
    "    forced-color-adjust: none; background: Highlight; color: HighlightText;",
    "    border-color: Highlight; } }",
    ".scale-ends { display: flex; justify-content: space-between; margin-top: 4px;",
    "  font-size: 12px; color: #5b6072; }",
    ".emotions button { display: flex; flex-direction: column; align-items: center; gap: 2px; }",
    ".face { font-size: 20px; line-height: 1.1; }",
    ".emotion-label { font-size: 11px; }",
    ".label { display: block; margin: 12px 0 4px; font-size: 13px; color: #3b4052; }",
    ".field { display: block; width: 100%; margin: 0; padding: 8px; font: inherit; color: #1f2330;",
    "  background: #ffffff; border: 1px solid #c4c8d6; border-radius: 6px; }",
    "textarea.field { min-height: 72px; resize: vertical; }",
    ".contact { margin-top: 12px; padding-top: 4px; border-top: 1px solid #eceef4; }",
    ".check { display: flex; align-items: flex-start; gap: 8px; margin-top: 8px; font-size: 13px;",
    "  cursor: pointer; }",
    ".check input { margin: 2px 0 0; accent-color: #4338ca; }",
    ".error { margin: 10px 0 0; font-size: 13px; color: #b42318; }",
    ".error:empty, .thanks:empty { display: none; }",
    ".thanks { margin: 4px 0 0; font-size: 15px; }",
    ".foot { display: flex; justify-content: flex-end; gap: 8px; margin-top: 12px; }",
    ".tab { position: fixed; z-index: 1; right: 0; top: 50%; padding: 14px 9px; border: 0;",
    "  border-radius: 0 6px 6px 0; background: #4338ca; color: #ffffff; font-weight: 600;",
    "  writing-mode: vertical-rl; transform: translateY(-50%) rotate(180deg);",
    "  box-shadow: 0 4px 14px rgba(20, 24, 40, 0.25); }",
    ".tab:hover { background: #3730a3; }",
  ].join("\n");

  function el(tag, attributes, children) {
    const node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      const value = attributes[name];
      if (value === null || value === undefined || value === false) return;
      node.setAttribute(name, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  // A customer's text (a question, a choice, a thank-you) is in the page's language and
  // direction, unlike the widgets' own English: screen readers speak it in that
  // language, and an Arabic question reads right to left on a left-to-right page.
  function customerText(node) {
    node.setAttribute("lang", document.documentElement.lang || "");
    node.setAttribute("dir", "auto");
    return node;
  }

  function ownText(node, t) {
    node.setAttribute("lang", t.lang);
    node.setAttribute("dir", "ltr");
    return node;
  }

  // What a widget says after an answer: the customer's thank-you in the page's language,
  // or words of its own (the default thank-you, a refusal) in the widget's.
  function ownWordsOrCustomers(node, outcome, t) {
    if (outcome.state === "thanks" && outcome.message !== t("thanks")) customerText(node);
    else ownText(node, t);
  }

  // The widgets' own words, in the language each widget is set to (its `language`), from
  // the texts the served script carries (apps/feedback_targeting/texts.py); English
  // where a language lacks one. `t(key, {name: value})` fills in `{name}`.
  function wording(widget) {
    const texts = isPlainObject(config) && isPlainObject(config.texts) ? config.texts : {};
    const lang =
      typeof widget.language === "string" && isPlainObject(texts[widget.language])
        ? widget.language
        : "en";
    const own = texts[lang] || {};
    const english = isPlainObject(texts.en) ? texts.en : {};
    function t(key, values) {
      let text = typeof own[key] === "string" ? own[key] : english[key] || key;
      Object.keys(values || {}).forEach(function (name) {
        text = text.split("{" + name + "}").join(String(values[name]));
      });
      return text;
    }
    t.lang = lang;
    return t;
  }

  function isBlank(answer) {
    if (answer === undefined || answer === null) return true;
    if (typeof answer === "string") return answer.trim() === "";
    return Array.isArray(answer) && answer.length === 0;
  }

  function questionValid(question) {
    if (!isPlainObject(question) || !Number.isInteger(question.id)) return false;
    if (QUESTION_KINDS.indexOf(question.kind) < 0 || typeof question.text !== "string") {
      return false;
    }
    if (question.kind !== "single" && question.kind !== "multiple") return true;
    return (
      Array.isArray(question.choices) &&
      question.choices.length > 0 &&
      question.choices.every(function (choice) {
        return typeof choice === "string";
      })
    );
  }

  function widgetValid(widget) {
    if (!isPlainObject(widget) || !Number.isInteger(widget.id)) return false;
    if (widget.kind === "poll") {
      return (
        Array.isArray(widget.questions) &&
        widget.questions.length > 0 &&
        widget.questions.every(questionValid)
      );
    }
    return (
      widget.kind === "feedback" &&
      Array.isArray(widget.emotions) &&
      widget.emotions.length > 0 &&
      widget.emotions.every(function (emotion) {
        return (
          isPlainObject(emotion) &&
          Number.isInteger(emotion.value) &&
          typeof emotion.label === "string"
        );
      })
    );
  }

  function thankYou(widget, t) {
    return typeof widget.thank_you_message === "string" && widget.thank_you_message
      ? widget.thank_you_message
      : t("thanks");
  }

  // What the visitor is told after sending an answer: {state, message} where state is
  // "thanks" (stored, or stored before), "gone" (the widget is no longer open to this
  // visitor) or "retry" (not stored; the visitor may correct it or try again).
  function answerOutcome(widget, result, t) {
    const data = isPlainObject(result.data) ? result.data : {};
    if (result.status === 201 || result.status === 200) {
      const message =
        typeof data.thank_you_message === "string" && data.thank_you_message
          ? data.thank_you_message
          : thankYou(widget, t);
      return { state: "thanks", message: message };
    }
    if (result.status === 409 && data.code === "already_answered") {
      return { state: "thanks", message: thankYou(widget, t) };
    }
    // The API's reasons are in English: a widget in another language says its own.
    if (result.status === 400 && typeof data.message === "string") {
      return { state: "retry", message: t.lang === "en" ? data.message : t("retry") };
    }
    // An answer_id refused as another answer's: not stored, and the next send has a new id.
    const idRefused = result.status === 409 && data.code === "answer_id_conflict";
    if (result.status === 403 || result.status === 404 || (result.status === 409 && !idRefused)) {
      return { state: "gone", message: t("gone") };
    }
    return { state: "retry", message: t("retry") };
  }

  // The optional email with its explicit, unticked consent box.
  function contactFields(prefix, t) {
    const email = el("input", {
      type: "email",
      id: prefix + "email",
      class: "field",
      autocomplete: "email",
      maxlength: MAX_EMAIL_LENGTH,
    });
    const consent = el("input", { type: "checkbox", id: prefix + "consent" });
    const node = el("div", { class: "contact" }, [
      el("label", { class: "label", for: email.id }, [t("email_label")]),
      email,
      el("label", { class: "check", for: consent.id }, [
        consent,
        el("span", null, [t("consent_label")]),
      ]),
    ]);
    // {email} to send ("" for none), or {problem, field} to show the visitor.
    function read() {
      const value = email.value.trim();
      if (value === "") return { email: "" };
      if (!consent.checked) {
        return { problem: t("consent_problem"), field: consent };
      }
      if (value.length > MAX_EMAIL_LENGTH || !EMAIL_PATTERN.test(value)) {
        return { problem: t("email_problem"), field: email };
      }
      return { email: value };
    }
    function reset() {
      email.value = "";
      consent.checked = false;
    }
    return { node: node, read: read, reset: reset };
  }

  // One poll question's controls; answers[question.id] follows what the visitor picks.
  function questionControls(question, prefix, answers, labelId, guard, t) {
    const name = prefix + "q" + question.id;
    if (question.kind === "single" || question.kind === "multiple") {
      const type = question.kind === "single" ? "radio" : "checkbox";
      const inputs = [];
      const labels = question.choices.map(function (choice, index) {
        const input = el("input", { type: type, name: name, id: name + "-" + index, value: choice });
        inputs.push(input);
        input.addEventListener(
          "change",
          guard(function () {
            const picked = inputs.filter(function (box) {
              return box.checked;
            });
            answers[question.id] =
              type === "radio"
                ? picked.length ? picked[0].value : undefined
                : picked.map(function (box) {
                    return box.value;
                  });
          })
        );
        return el("label", { class: "choice", for: input.id }, [
          input,
          customerText(el("span", null, [choice])),
        ]);
      });
      const group = el(
        "div",
        { class: "choices", role: type === "radio" ? "radiogroup" : "group", "aria-labelledby": labelId },
        labels
      );
      return {
        node: group,
        focus: function () {
          const checked = inputs.filter(function (box) {
            return box.checked;
          });
          (checked[0] || inputs[0]).focus();
        },
      };
    }
    if (question.kind === "rating") {
      const buttons = [1, 2, 3, 4, 5].map(function (value) {
        const button = el(
          "button",
          { type: "button", "aria-pressed": "false", "aria-label": t("rating", { value: value }) },
          [String(value)]
        );
        button.addEventListener(
          "click",
          guard(function () {
            answers[question.id] = value;
            buttons.forEach(function (other) {
              other.setAttribute("aria-pressed", other === button ? "true" : "false");
            });
          })
        );
        return button;
      });
      const node = el("div", null, [
        el("div", { class: "scale", role: "group", "aria-labelledby": labelId }, buttons),
        el("div", { class: "scale-ends", "aria-hidden": "true" }, [
          el("span", null, [t("scale_low")]),
          el("span", null, [t("scale_high")]),
        ]),
      ]);
      return {
        node: node,
        focus: function () {
          const value = answers[question.id];
          buttons[typeof value === "number" ? value - 1 : 0].focus();
        },
      };
    }
    const text = el("textarea", {
      class: "field",
      rows: 3,
      maxlength: MAX_TEXT_ANSWER,
      "aria-labelledby": labelId,
    });
    text.addEventListener(
      "input",
      guard(function () {
        answers[question.id] = text.value;
      })
    );
    return {
      node: text,
      focus: function () {
        text.focus();
      },
    };
  }

  function widgetsCreate(env) {
    const closedKey = "_cohort_closed_" + env.siteKey;
    const unsettledKey = "_cohort_unsettled_" + env.siteKey;
    const showing = {}; // widget id → {kind, touched, remove()}
    const finished = {}; // widget ids answered or closed on this page
    let host = null;
    let root = null;
    let stage = null; // the element in the shadow root that holds the widgets shown
    let checks = 0; // number of the latest check asked for
    let changes = 0; // successful identify calls so far
    let changesSeen = -1; // `changes` when the latest check started
    let timer = null;

    // Event handlers never throw into the page.
    function guard(fn) {
      return function () {
        try {
          return fn.apply(this, arguments);
        } catch (error) {
          env.warn("widget failed: " + describe(error && error.message));
          return undefined;
        }
      };
    }

    function closedIds() {
      try {
        const ids = JSON.parse(storageGet("localStorage", closedKey) || "[]");
        return Array.isArray(ids) ? ids : [];
      } catch (error) {
        return [];
      }
    }

    function closedRemember(id) {
      const ids = closedIds().filter(function (other) {
        return other !== id;
      });
      ids.push(id);
      storageSet("localStorage", closedKey, JSON.stringify(ids.slice(-MAX_CLOSED_REMEMBERED)));
    }

    function pageUrl() {
      return truncate(window.location.href);
    }

    function keyboardFocus(node) {
      try {
        return node.matches(":focus-visible");
      } catch (error) {
        return false;
      }
    }

    function focusWithin(node) {
      const active = root && root.activeElement;
      return Boolean(active && node.contains(active));
    }

    // The shadow root every widget lives in, attached to a <cohort-widgets> element at the
    // end of <body>. The element's inline !important declarations outrank any rule of the
    // host page (even `body * { display: none !important }`); inside, only our sheet
    // applies.
    function rootEnsure() {
      if (host !== null && document.documentElement.contains(host)) {
        topLayerEnter(); // a dialog that kept the widgets out may be gone by now
        return root;
      }
      Object.keys(showing).forEach(function (id) {
        delete showing[id]; // the page removed our element, and the widgets with it
      });
      host = document.createElement("cohort-widgets");
      const style = host.style;
      style.setProperty("all", "initial", "important");
      [
        ["display", "block"],
        ["position", "fixed"],
        ["top", "0"],
        ["left", "0"],
        ["width", "0"],
        ["height", "0"],
        ["overflow", "visible"],
        ["visibility", "visible"],
        ["opacity", "1"],
        ["z-index", TOP_LAYER],
      ].forEach(function (pair) {
        style.setProperty(pair[0], pair[1], "important");
      });
      root = host.attachShadow({ mode: "open" });
      let adopted = false;
      try {
        if (typeof window.CSSStyleSheet === "function" && "adoptedStyleSheets" in root) {
          // A constructed sheet also works under a Content-Security-Policy without
          // 'unsafe-inline' styles.
          const sheet = new window.CSSStyleSheet();
          sheet.replaceSync(WIDGET_CSS);
          root.adoptedStyleSheets = [sheet];
          adopted = true;
        }
      } catch (error) {
        adopted = false;
      }
      if (!adopted) root.appendChild(el("style", null, [WIDGET_CSS]));
      // Keys pressed in a widget end at its shadow root. Past it, the page would see them
      // on <cohort-widgets>, not on a text field, and its single-key shortcuts ("/" for
      // search, Space for a player) would take the letters a visitor types in an answer.
      ["keydown", "keypress", "keyup"].forEach(function (type) {
        root.addEventListener(type, function (event) {
          event.stopPropagation();
        });
      });
      // The widgets' own texts are English; a customer's text carries the page's
      // language (`customerText`).
      stage = el("div", { class: "stage", lang: "en", dir: "ltr" });
      root.appendChild(stage);
      document.body.appendChild(host);
      topLayerEnter();
      return root;
    }

    // In the top layer where the browser has one: above the page's own stacking contexts,
    // and placed on the viewport even when the page gives <body> a transform, filter or
    // `contain` (which would make `position: fixed` follow the document). Not while the
    // page shows a modal dialog or an element in fullscreen: entering the top layer then
    // would draw the widgets over them while the dialog keeps them inert, a click on a
    // widget's button reaching the dialog's button under it. The widgets wait under the
    // dialog (as the rest of the page does) and enter once it is gone.
    let topLayerRefused = false; // the browser refused it once: not asked again
    function topLayerEnter() {
      if (host === null || topLayerRefused || typeof host.showPopover !== "function") return;
      if (host.hasAttribute("popover") && host.matches(":popover-open")) return;
      if (topLayerTaken()) {
        topLayerWatch();
        return;
      }
      topLayerWatching.disconnect();
      host.setAttribute("popover", "manual");
      try {
        host.showPopover();
      } catch (error) {
        host.removeAttribute("popover");
        topLayerRefused = true;
      }
    }

    // A modal dialog open on the page, in its document or in a component's shadow root
    // (found through the focus, which a modal dialog holds), or an element in fullscreen.
    function topLayerTaken() {
      if (document.fullscreenElement) return true;
      try {
        if (document.querySelector(":modal") !== null) return true;
        let active = document.activeElement;
        while (active && active.shadowRoot && active.shadowRoot.activeElement) {
          active = active.shadowRoot.activeElement;
          if (active.closest(":modal")) return true;
        }
        return false;
      } catch (error) {
        return false; // a browser without :modal has no top layer to share either
      }
    }

    // While the widgets wait, any change may be the dialog going: closed (its `close`
    // does not bubble, nor leave a shadow root: focus moving away is heard instead),
    // removed from the page without closing, or fullscreen left.
    function topLayerRetry() {
      window.setTimeout(topLayerEnter, 0);
    }
    document.addEventListener("close", topLayerRetry, true);
    document.addEventListener("focusin", topLayerRetry);
    document.addEventListener("focusout", topLayerRetry);
    document.addEventListener("fullscreenchange", topLayerRetry);
    // The page's nodes are watched only while the widgets wait, not for the page's life.
    const topLayerWatching =
      typeof window.MutationObserver === "function"
        ? new window.MutationObserver(topLayerEnter)
        : { observe: function () {}, disconnect: function () {} };
    function topLayerWatch() {
      topLayerWatching.observe(document.documentElement, { childList: true, subtree: true });
    }

    function bodyReady() {
      if (document.body) return Promise.resolve();
      return new Promise(function (resolve) {
        document.addEventListener("DOMContentLoaded", resolve, { once: true });
      });
    }

    // Adds the consented email, sends, and shows progress on the button. Null means the
    // visitor should try again; the reason is then shown in `error`.
    async function answerWithProgress(widget, payload, given, button, idleLabel, error, t) {
      if (given.email) {
        payload.email = given.email;
        payload.consent_to_connect = true;
      }
      // A disabled button loses focus (to the page's <body>, where Escape no longer
      // reaches the widget): give it back once it is enabled again.
      const focused = button.matches(":focus");
      button.disabled = true;
      button.textContent = t("sending");
      error.textContent = "";
      const outcome = await answerSend(widget, payload, t);
      button.disabled = false;
      button.textContent = idleLabel;
      if (focused) button.focus();
      if (outcome.state === "retry") {
        error.textContent = outcome.message;
        return null;
      }
      return outcome;
    }

    // The answers whose fate is unknown (no reply, or a 5xx or 429 the automatic retry
    // did not get past), each with the answer_id it was sent with, by a digest of widget
    // and content. Kept in sessionStorage too, so that the same answer sent again after
    // a reload keeps its id; the digest keeps the answer's words and email out of it.
    const unsettled = new Map(unsettledStored());

    function unsettledStored() {
      try {
        const pairs = JSON.parse(storageGet("sessionStorage", unsettledKey) || "[]");
        return Array.isArray(pairs)
          ? pairs.filter(function (pair) {
              return Array.isArray(pair) && typeof pair[0] === "string" && validId(pair[1]);
            })
          : [];
      } catch (error) {
        return [];
      }
    }

    function unsettledKeep(key, answerId) {
      unsettled.delete(key);
      if (answerId) unsettled.set(key, answerId);
      while (unsettled.size > MAX_UNSETTLED_REMEMBERED) {
        unsettled.delete(unsettled.keys().next().value);
      }
      storageSet("sessionStorage", unsettledKey, JSON.stringify(Array.from(unsettled)));
    }

    async function answerSend(widget, payload, t) {
      env.info(
        widget.kind + " " + widget.id + " answered: " +
        JSON.stringify(widget.kind === "poll" ? payload.answers : {
          emotion: payload.emotion,
          comment: payload.comment,
        }) +
        (payload.email ? ", with an email and the consent to connect it" : "")
      );
      // The automatic retry carries the same id, and the API stores one answer per id
      // (200 with duplicate: true for the retry). The visitor sending the same answer
      // again after the retry failed too keeps that id as well: the first copy may have
      // been stored with only its reply lost. Any other answer gets a new id; the email
      // and its consent are part of the answer, the page's URL is not.
      const answer = JSON.stringify(Object.assign({}, payload, { url: undefined }));
      const key = digest(widget.id + " " + answer);
      payload.answer_id = unsettled.get(key) || randomId();
      const result = await env.send(
        "widget response",
        "/widgets/" + widget.id + "/responses",
        payload,
        { quiet: true }
      );
      const unknown = result.status === 0 || result.status >= 500 || result.status === 429;
      unsettledKeep(key, unknown ? payload.answer_id : null);
      return answerOutcome(widget, result, t);
    }

    function header(title, progress, closeLabel) {
      const close = el("button", { type: "button", class: "close", "aria-label": closeLabel }, [
        "×",
      ]);
      const node = el("div", { class: "head" }, [
        el("div", { class: "heading" }, progress ? [progress, title] : [title]),
        close,
      ]);
      return { node: node, close: close };
    }

    function pollShow(widget) {
      const t = wording(widget);
      const prefix = "cohort-" + widget.id + "-";
      const questions = widget.questions;
      const answers = {};
      // The page the poll was last offered on: an answer given after a single-page app
      // moved on is the answer of that page, where the widget was meant to be.
      const entry = { kind: "poll", touched: false, remove: null, url: pageUrl() };
      let step = 0;
      let sending = false;
      let answered = false;

      const title = el("h2", { class: "title", id: prefix + "title" });
      const progress = el("p", { class: "progress" });
      const head = header(title, progress, t("close_poll"));
      const controls = questions.map(function (question) {
        return questionControls(question, prefix, answers, title.id, guard, t);
      });
      const contact = contactFields(prefix, t);
      const error = el("p", { class: "error", role: "alert" });
      const next = el("button", { type: "submit", class: "primary" });
      const form = el(
        "form",
        { novalidate: true },
        controls
          .map(function (control) {
            return control.node;
          })
          .concat([contact.node, error, el("div", { class: "foot" }, [next])])
      );
      const status = el("p", { class: "thanks", role: "status" });
      const done = el("button", { type: "button", class: "primary" }, [t("close")]);
      const after = el("div", { class: "foot", hidden: true }, [done]);
      const card = el(
        "section",
        { class: "w card", role: "dialog", "aria-labelledby": title.id, lang: t.lang },
        [head.node, form, status, after]
      );

      function render(focus) {
        const question = questions[step];
        const last = step === questions.length - 1;
        title.textContent = question.text;
        customerText(title);
        if (!question.required) {
          title.appendChild(ownText(el("span", { class: "optional" }, [" " + t("optional")]), t));
        }
        progress.hidden = questions.length < 2;
        progress.textContent = t("progress", { n: step + 1, total: questions.length });
        controls.forEach(function (control, index) {
          control.node.hidden = index !== step;
        });
        contact.node.hidden = !last;
        next.textContent = last ? t("submit") : t("next");
        error.textContent = "";
        if (focus) controls[step].focus();
      }

      // Where the keyboard was before it entered the card: it goes back there when the
      // card closes, not to the top of the page. Only a keyboard's way in counts: a click
      // on the card says nothing of where the visitor is on the page (they may have
      // scrolled far from the field they last typed in).
      let cameFrom = null;
      card.addEventListener("focusin", function (event) {
        const from = event.relatedTarget;
        if (from && !card.contains(from) && keyboardFocus(event.target)) cameFrom = from;
      });

      function close(how) {
        if (!answered) closedRemember(widget.id);
        finished[widget.id] = true;
        delete showing[widget.id];
        const hadFocus = focusWithin(card);
        card.remove();
        if (hadFocus && cameFrom && cameFrom.isConnected) cameFrom.focus({ preventScroll: true });
        env.info(
          "poll " + widget.id + " closed (" + how + ")" +
          (answered ? "" : "; not shown again in this browser session")
        );
      }

      function finish(outcome) {
        answered = outcome.state === "thanks";
        finished[widget.id] = true;
        const hadFocus = focusWithin(card);
        form.hidden = true;
        progress.hidden = true;
        title.textContent = answered ? t("answer_sent") : t("poll_closed");
        ownText(title, t);
        status.textContent = outcome.message;
        ownWordsOrCustomers(status, outcome, t);
        after.hidden = false;
        if (hadFocus) done.focus();
      }

      async function submit() {
        const question = questions[step];
        if (question.required && isBlank(answers[question.id])) {
          error.textContent = t("answer_this");
          controls[step].focus();
          return;
        }
        if (step < questions.length - 1) {
          step += 1;
          render(focusWithin(card));
          return;
        }
        const given = contact.read();
        if (given.problem) {
          error.textContent = given.problem;
          given.field.focus();
          return;
        }
        const payload = { visitor_id: env.visitorId, answers: {}, url: entry.url };
        questions.forEach(function (q) {
          const answer = answers[q.id];
          if (isBlank(answer)) return;
          payload.answers[String(q.id)] =
            typeof answer === "string" ? answer.slice(0, MAX_TEXT_ANSWER) : answer;
        });
        sending = true;
        const outcome = await answerWithProgress(
          widget, payload, given, next, t("submit"), error, t
        );
        sending = false;
        if (outcome) finish(outcome);
      }

      form.addEventListener(
        "submit",
        guard(function (event) {
          event.preventDefault();
          if (sending) return;
          submit().catch(function (problem) {
            env.warn("poll failed: " + describe(problem && problem.message));
          });
        })
      );
      ["input", "click"].forEach(function (type) {
        form.addEventListener(
          type,
          guard(function () {
            entry.touched = true;
          })
        );
      });
      head.close.addEventListener(
        "click",
        guard(function () {
          close("× button");
        })
      );
      done.addEventListener(
        "click",
        guard(function () {
          close("after answering");
        })
      );
      card.addEventListener(
        "keydown",
        guard(function (event) {
          if (event.key !== "Escape") return;
          event.preventDefault();
          event.stopPropagation();
          close("Escape");
        })
      );
      render(false);
      entry.remove = function () {
        card.remove();
      };
      return { entry: entry, node: card };
    }

    function feedbackShow(widget) {
      const t = wording(widget);
      const prefix = "cohort-" + widget.id + "-";
      const entry = { kind: "feedback", touched: false, remove: null, url: pageUrl() };
      let emotion = null;
      let sending = false;
      let gone = false;

      const tab = el(
        "button",
        {
          type: "button",
          class: "tab",
          "aria-expanded": "false",
          "aria-controls": prefix + "panel",
          "aria-haspopup": "dialog",
        },
        [t("feedback_tab")]
      );
      const title = el("h2", { class: "title", id: prefix + "title" }, [t("feedback_title")]);
      const head = header(title, null, t("close_feedback"));
      const faces = widget.emotions.map(function (option) {
        const button = el("button", { type: "button", "aria-pressed": "false" }, [
          el("span", { class: "face", "aria-hidden": "true" }, [EMOTION_FACES[option.value] || ""]),
          el("span", { class: "emotion-label" }, [option.label]),
        ]);
        button.addEventListener(
          "click",
          guard(function () {
            emotion = option.value;
            faces.forEach(function (other) {
              other.setAttribute("aria-pressed", other === button ? "true" : "false");
            });
          })
        );
        return button;
      });
      const comment = el("textarea", {
        id: prefix + "comment",
        class: "field",
        rows: 3,
        maxlength: MAX_TEXT_ANSWER,
      });
      const contact = contactFields(prefix, t);
      const error = el("p", { class: "error", role: "alert" });
      const submitButton = el("button", { type: "submit", class: "primary" }, [
        t("send_feedback"),
      ]);
      const form = el("form", { novalidate: true }, [
        el("div", { class: "emotions", role: "group", "aria-labelledby": title.id }, faces),
        el("label", { class: "label", for: comment.id }, [t("tell_more")]),
        comment,
        contact.node,
        error,
        el("div", { class: "foot" }, [submitButton]),
      ]);
      const status = el("p", { class: "thanks", role: "status" });
      const done = el("button", { type: "button", class: "primary" }, [t("close")]);
      const after = el("div", { class: "foot", hidden: true }, [done]);
      const panel = el(
        "section",
        {
          class: "panel",
          id: prefix + "panel",
          role: "dialog",
          "aria-labelledby": title.id,
          hidden: true,
        },
        [head.node, form, status, after]
      );
      const node = el("div", { class: "w", lang: t.lang }, [tab, panel]);

      function formReset() {
        emotion = null;
        faces.forEach(function (face) {
          face.setAttribute("aria-pressed", "false");
        });
        comment.value = "";
        contact.reset();
        error.textContent = "";
        status.textContent = "";
        form.hidden = false;
        after.hidden = true;
      }

      function open() {
        // What the visitor started stays; after a sent answer the form starts afresh.
        if (form.hidden) formReset();
        panel.hidden = false;
        tab.setAttribute("aria-expanded", "true");
        entry.touched = true;
        faces[0].focus();
        env.info("feedback " + widget.id + " opened");
      }

      function close(how) {
        const hadFocus = focusWithin(panel);
        panel.hidden = true;
        tab.setAttribute("aria-expanded", "false");
        // A visitor who started an answer keeps the tab; one whose answer was sent (the form
        // hidden behind the thanks until the next open) has nothing left to lose.
        entry.touched = !form.hidden && (emotion !== null || comment.value.trim() !== "");
        if (hadFocus) tab.focus();
        env.info("feedback " + widget.id + " closed (" + how + ")");
      }

      async function submit() {
        if (emotion === null) {
          error.textContent = t("choose_feeling");
          faces[0].focus();
          return;
        }
        const given = contact.read();
        if (given.problem) {
          error.textContent = given.problem;
          given.field.focus();
          return;
        }
        const payload = {
          visitor_id: env.visitorId,
          emotion: emotion,
          comment: comment.value.trim().slice(0, MAX_TEXT_ANSWER),
          url: entry.url,
        };
        sending = true;
        const outcome = await answerWithProgress(
          widget, payload, given, submitButton, t("send_feedback"), error, t
        );
        sending = false;
        if (!outcome) return;
        const hadFocus = focusWithin(panel);
        form.hidden = true;
        status.textContent = outcome.message;
        ownWordsOrCustomers(status, outcome, t);
        after.hidden = false;
        emotion = null;
        entry.touched = false;
        if (hadFocus) done.focus();
        if (outcome.state === "gone") {
          gone = true;
          finished[widget.id] = true;
        }
      }

      tab.addEventListener(
        "click",
        guard(function () {
          if (panel.hidden) open();
          else close("Feedback tab");
        })
      );
      form.addEventListener(
        "submit",
        guard(function (event) {
          event.preventDefault();
          if (sending) return;
          submit().catch(function (problem) {
            env.warn("feedback failed: " + describe(problem && problem.message));
          });
        })
      );
      head.close.addEventListener(
        "click",
        guard(function () {
          close("× button");
        })
      );
      done.addEventListener(
        "click",
        guard(function () {
          close("after answering");
          if (!gone) return;
          delete showing[widget.id];
          node.remove();
        })
      );
      panel.addEventListener(
        "keydown",
        guard(function (event) {
          if (event.key !== "Escape") return;
          event.preventDefault();
          event.stopPropagation();
          close("Escape");
        })
      );
      entry.remove = function () {
        node.remove();
      };
      return { entry: entry, node: node };
    }

    function kindShowing(kind) {
      return Object.keys(showing).some(function (id) {
        return showing[id].kind === kind;
      });
    }

    // Show what the API offers: at most one poll card and one feedback tab at a time, never
    // a widget twice, never a poll closed earlier in this browser.
    function decide(offered, reason) {
      rootEnsure();
      const notes = [];
      const usable = offered.filter(function (widget) {
        if (widgetValid(widget)) return true;
        notes.push("skipped a widget this script cannot show: " + show(widget));
        return false;
      });
      const ids = usable.map(function (widget) {
        return String(widget.id);
      });
      Object.keys(showing).forEach(function (id) {
        if (ids.indexOf(id) >= 0 || showing[id].touched) return;
        showing[id].remove();
        delete showing[id];
        notes.push("widget " + id + " hidden: no longer meant for this visitor");
      });
      const closed = closedIds();
      usable.forEach(function (widget) {
        const label = widget.kind + " " + widget.id;
        if (showing[widget.id]) {
          showing[widget.id].url = pageUrl();
          notes.push(label + " is already showing");
        } else if (finished[widget.id]) {
          notes.push(label + " was answered or closed on this page");
        } else if (widget.kind === "poll" && closed.indexOf(widget.id) >= 0) {
          notes.push(label + " was closed earlier in this browser");
        } else if (kindShowing(widget.kind)) {
          notes.push(label + " waits: another " + widget.kind + " is showing");
        } else {
          const made = widget.kind === "poll" ? pollShow(widget) : feedbackShow(widget);
          stage.appendChild(made.node);
          showing[widget.id] = made.entry;
          notes.push(label + " shown");
        }
      });
      env.info(
        "widgets (" + reason + "): " + usable.length + " for this visitor" +
        (notes.length ? "; " + notes.join("; ") : "")
      );
    }

    // Ask the API which widgets this visitor matches, once every call sent before has been
    // answered. Only the latest check asked for runs and is shown.
    function check(reason) {
      checks += 1;
      const number = checks;
      env
        .settled()
        .then(async function () {
          if (number !== checks) return;
          changesSeen = changes;
          const path =
            "/widgets?visitor_id=" + encodeURIComponent(env.visitorId) +
            "&url=" + encodeURIComponent(pageUrl());
          const result = await env.send("widgets", path, null, { quiet: true });
          if (number !== checks) return;
          if (result.status !== 200 || !isPlainObject(result.data)) return;
          if (!Array.isArray(result.data.widgets)) return;
          await bodyReady();
          decide(result.data.widgets, reason);
        })
        .catch(function (error) {
          env.warn("widgets failed: " + describe(error && error.message));
        });
    }

    // After a successful identify call: check again once the calls settle down, unless a
    // check that started after this call already saw its attributes.
    function attributesChanged() {
      changes += 1;
      if (timer !== null) window.clearTimeout(timer);
      timer = window.setTimeout(
        guard(function () {
          timer = null;
          if (changesSeen !== changes) check("attributes changed");
        }),
        WIDGET_RECHECK_MS
      );
    }

    return { check: check, attributesChanged: attributesChanged };
  }

  function queueStub(fn) {
    if (Array.isArray(fn.q)) return true;
    try {
      return /\.q\s*=/.test(Function.prototype.toString.call(fn));
    } catch (error) {
      return false;
    }
  }

  function start() {
    const configured =
      isPlainObject(config) &&
      typeof config.siteKey === "string" &&
      typeof config.apiBase === "string";
    if (!configured) {
      warn("loaded without a site configuration: install the snippet from your site settings.");
      return;
    }
    if (typeof window.fetch !== "function" || !window.crypto || !window.crypto.getRandomValues) {
      warn("this browser lacks fetch or crypto.getRandomValues; nothing will be sent.");
      return;
    }
    const stub = window.hj;
    if (typeof stub === "function" && stub.cohort) {
      const running = stub.cohort.siteKey;
      warn(
        running === config.siteKey
          ? "the tracking script is included more than once; the first copy stays in charge."
          : "site " + config.siteKey + "'s tracking script is ignored: site " + running +
            "'s runs on this page already, and a page holds one site's script."
      );
      return;
    }

    const siteKey = config.siteKey;
    const apiRoot =
      config.apiBase.replace(/\/+$/, "") + "/api/v1/sites/" + encodeURIComponent(siteKey);
    const debug = debugLoad();
    const visitorId = visitorIdLoad(siteKey);
    let sessionId = sessionIdLoad(siteKey);
    let queue = Promise.resolve();

    function debugInfo(message) {
      if (debug) log("info", message);
    }

    function debugWarn(message) {
      if (debug) warn(message);
    }

    function debugEvent(detail) {
      if (!debug) return;
      try {
        window.dispatchEvent(new CustomEvent("cohort:debug", { detail: detail }));
      } catch (error) {
        // A listener of the host page failed; not ours to report.
      }
    }

    function enqueue(task) {
      queue = queue.then(task).catch(function (error) {
        warn("unexpected error while sending: " + describe(error && error.message));
      });
    }

    // Calls waiting their turn, in call order. The queue sends one at a time and stops
    // with the page, so a call made just before the page goes away (hj('identify', ...)
    // in a form's submit handler) would never be sent. When the page is left (pagehide),
    // they all go at once as keepalive requests, which the browser completes after the
    // page has gone; identify calls for the same user in a row go as one call, the later
    // values winning, since requests sent together may be applied in any order. A page
    // that is only hidden keeps its queue: it is still there to send in order, and retry.
    const waiting = [];

    function enqueuePost(command, path, payload, answered) {
      const call = { command: command, path: path, payload: payload };
      waiting.push(call);
      enqueue(async function () {
        const at = waiting.indexOf(call);
        if (at === -1) return; // sent as the page was left
        waiting.splice(at, 1);
        const result = await post(command, path, payload);
        if (answered) answered(result);
      });
    }

    function sendWaiting() {
      const calls = [];
      waiting.splice(0, waiting.length).forEach(function (call) {
        const last = calls[calls.length - 1];
        if (last && identifyJoinable(last, call)) {
          last.payload = Object.assign({}, last.payload, {
            attributes: Object.assign({}, last.payload.attributes, call.payload.attributes),
            message_id: call.payload.message_id,
          });
        } else {
          calls.push({ command: call.command, path: call.path, payload: call.payload });
        }
      });
      calls.forEach(function (call) {
        debugInfo(call.command + " sent as the page is left");
        fetchOnce(apiRoot + call.path, JSON.stringify(call.payload)).catch(function () {
          // The page is going away: nobody is left to tell.
        });
      });
    }

    function identifyJoinable(first, next) {
      if (first.command !== "identify" || next.command !== "identify") return false;
      if (first.payload.user_id !== next.payload.user_id) return false;
      const keys = Object.keys(
        Object.assign({}, first.payload.attributes, next.payload.attributes)
      );
      return keys.length <= MAX_ATTRIBUTES_PER_CALL;
    }

    window.addEventListener("pagehide", function () {
      urlChangeSettle();
      sendWaiting();
    });

    // Send a request: a POST of `payload`, or a GET when `payload` is null. Retries once
    // with the same body on a 5xx, a 429 or a network error. Failures warn in any mode,
    // or only in debug mode with options.quiet.
    // Resolves to {status, data} (status 0 when the API could not be reached).
    async function send(command, path, payload, options) {
      const quiet = Boolean(options && options.quiet);
      // Queued calls (page visits, identify) wait for the connection to come back; a
      // widget's request, which a visitor waits on, does not.
      const waitOnline = Boolean(options && options.waitOnline);
      const url = apiRoot + path;
      const body = payload === null ? null : JSON.stringify(payload);
      debugInfo(command + (body === null ? " asking " + url : " sending to " + url + " " + body));
      let response = null;
      for (let attempt = 1; attempt <= 2; attempt += 1) {
        response = null;
        try {
          response = await fetchOnce(url, body);
        } catch (error) {
          response = null;
        }
        const retryable =
          response === null ||
          (response !== null && (response.status >= 500 || response.status === 429));
        if (!retryable || attempt === 2) break;
        if (response === null && waitOnline && navigator.onLine === false) {
          debugInfo(command + " could not be sent: offline; retrying once back online");
          await onlineAgain(OFFLINE_WAIT_MS);
          continue;
        }
        const delay = retryDelay(response);
        debugInfo(
          command + " " + (response ? "answered " + response.status : "could not reach the API") +
          "; retrying in " + delay + " ms" + (body === null ? "" : " with the same body")
        );
        await sleep(delay);
      }
      const result = {
        status: response ? response.status : 0,
        data: response ? await readJson(response) : null,
      };
      debugInfo(command + " response " + result.status + " " + JSON.stringify(result.data));
      debugEvent({ command: command, sent: payload, status: result.status, response: result.data });
      const report = quiet ? debugWarn : warn;
      if (result.status === 0) {
        report(
          command + " could not reach " + config.apiBase + " (network error, or this page's " +
          "origin is not among the site's allowed origins)."
        );
      } else if (result.status < 200 || result.status >= 300) {
        const code = result.data && result.data.code ? result.data.code : "error";
        const message = result.data && result.data.message ? ": " + result.data.message : "";
        report(command + " refused (" + result.status + " " + code + ")" + message);
      }
      return result;
    }

    function post(command, path, payload) {
      return send(command, path, payload, { waitOnline: true });
    }

    const widgets = widgetsCreate({
      siteKey: siteKey,
      visitorId: visitorId,
      send: send,
      // Resolves once every call queued so far has been answered.
      settled: function () {
        return queue;
      },
      info: debugInfo,
      warn: debugWarn,
    });

    // The visitor is active: the session goes on, or, after 30 idle minutes on a page
    // that never reloaded (a single-page app left open), a new one starts.
    // Kept in memory too, so that a browser refusing sessionStorage keeps one session.
    let sessionSeen = Date.now();

    function sessionContinue() {
      const now = Date.now();
      if (now - sessionSeen >= SESSION_IDLE_MS) {
        sessionId = randomId();
        debugInfo("idle for 30 minutes: a new session " + sessionId + " starts");
      }
      sessionSeen = now;
      sessionStore(siteKey, sessionId);
    }

    function pageVisitRecord() {
      const payload = {
        visitor_id: visitorId,
        session_id: sessionId,
        url: truncate(window.location.href),
        referrer: truncate(document.referrer),
        message_id: randomId(),
      };
      enqueuePost("page visit", "/sessions", payload);
    }

    function identify(userId, attributes) {
      const user = userIdNormalize(userId);
      if (user === undefined) {
        warn(
          "hj('identify', userId, attributes): userId must be a string, a number or null, not " +
          describe(userId) + "; call ignored."
        );
        return;
      }
      const given = attributes === undefined ? {} : attributes;
      if (!isPlainObject(given)) {
        warn(
          "hj('identify', userId, attributes): attributes must be a plain object, not " +
          describe(attributes) + "; call ignored."
        );
        return;
      }
      const serialized = attributesSerialize(given);
      Object.keys(serialized.dropped).forEach(function (key) {
        warn("attribute " + JSON.stringify(key) + " not sent: " + serialized.dropped[key] + ".");
      });
      const payload = {
        visitor_id: visitorId,
        user_id: user,
        attributes: serialized.values,
        message_id: randomId(),
      };
      sessionContinue();
      enqueuePost("identify", "/identify", payload, function (result) {
        // New attributes (or a new user) may change which widgets this visitor matches.
        if (result.status === 200) widgets.attributesChanged();
        if (!debug || !result.data || !isPlainObject(result.data.rejected)) return;
        const rejected = result.data.rejected;
        Object.keys(rejected).forEach(function (key) {
          warn("attribute " + JSON.stringify(key) + " rejected: " + rejected[key]);
        });
      });
    }

    // Single-page apps move to another page without loading one (history.pushState, the
    // back button, a "#/route"): each new page is a page visit, and the widgets are asked
    // for again, so that one meant for /checkout appears there and one meant for /account
    // goes (unless the visitor is answering it). A URL replaced in place (replaceState: a
    // filter in the query string) only asks for the widgets. A jump to an anchor ("#top")
    // is no new page.
    let pageSeen = pageKey(window.location.href);

    function pageKey(href) {
      const hash = href.indexOf("#");
      if (hash === -1) return href;
      const route = href.charAt(hash + 1) === "/" || href.charAt(hash + 1) === "!";
      return route ? href : href.slice(0, hash);
    }

    let urlTimer = null;
    let visitDue = false;

    function urlChanged(visit) {
      if (visit) visitDue = true;
      if (urlTimer !== null) window.clearTimeout(urlTimer);
      urlTimer = window.setTimeout(urlChangeSettle, URL_SETTLE_MS);
    }

    // The URL changes seen since the last one settled: a page visit if the app moved to
    // another page, and the widgets asked for again.
    function urlChangeSettle() {
      if (urlTimer === null) return;
      window.clearTimeout(urlTimer);
      urlTimer = null;
      const visit = visitDue;
      visitDue = false;
      try {
        const now = pageKey(window.location.href);
        if (now === pageSeen) return;
        pageSeen = now;
        debugInfo("the page's URL changed to " + window.location.href);
        if (visit) {
          sessionContinue();
          pageVisitRecord();
        }
        widgets.check("page changed");
      } catch (error) {
        warn("could not follow the page's new URL: " + describe(error && error.message));
      }
    }

    function urlChangesFollow() {
      ["pushState", "replaceState"].forEach(function (name) {
        const original = window.history && window.history[name];
        if (typeof original !== "function") return;
        try {
          window.history[name] = function () {
            const result = original.apply(this, arguments);
            urlChanged(name === "pushState");
            return result;
          };
        } catch (error) {
          // A page that froze its history object keeps it; its URL changes go unseen.
        }
      });
      window.addEventListener("popstate", function () {
        urlChanged(true);
      });
      window.addEventListener("hashchange", function () {
        urlChanged(true);
      });
    }

    // A page may have its own hj() already (Hotjar's, or one of its own): it keeps every
    // call, and Cohort acts on identify besides. One that a script assigns later (Hotjar
    // loading after Cohort) takes its place (see `hjKeep`).
    // The queue stub (ours, or the same line from Hotjar's snippet) is recognised by its
    // queue, or by its text before anything was queued.
    let previous = typeof stub === "function" && !queueStub(stub) ? stub : null;

    // The calls made before this script ran: the stub's queue. Where another script that
    // shares the stub (Hotjar's, loading first) has taken the queue and replaced the stub,
    // the install snippet's second reference to the queue (window._cohortq) still holds
    // them; that script has had them, so Cohort only acts on them. (A snippet installed
    // before that reference existed leaves nothing to find then, nor does a script that
    // empties the queue in place.)
    let queued = [];
    let queuedDelivered = false;
    if (typeof stub === "function" && Array.isArray(stub.q)) {
      queued = stub.q.slice();
    } else if (previous && Array.isArray(window._cohortq)) {
      queued = window._cohortq.slice();
      queuedDelivered = true;
    }

    // The calls kept in hj.q when a later script assigned its hj(): one that replays them
    // through window.hj (still Cohort's) right away has each passed on, and Cohort does
    // not act on them a second time.
    let handedOver = [];

    function handedOverTake(args) {
      for (let i = 0; i < handedOver.length; i += 1) {
        const kept = handedOver[i];
        const same =
          kept.length === args.length &&
          args.every(function (arg, j) {
            return Object.is(arg, kept[j]);
          });
        if (same) {
          handedOver.splice(i, 1);
          return true;
        }
      }
      return false;
    }

    function forward(args) {
      if (!previous) return;
      try {
        previous.apply(window, args);
      } catch (error) {
        // The page's own function failed; not ours to report.
      }
    }

    // `delivered`: `previous` has had this call already.
    function dispatch(args, delivered) {
      const command = args[0];
      debugInfo("hj(" + args.map(show).join(", ") + ")");
      if (!delivered) forward(args);
      if (!previous) {
        // Every call is kept, as the stub kept it, for a script that defines hj() later
        // (Hotjar's, loading after Cohort): it takes hj.q, identify calls included.
        hj.q.push(args);
      }
      if (command === "identify") {
        identify(args[1], args[2]);
        return;
      }
      if (!previous) {
        warn("unknown command " + describe(command) + ": not Cohort's; kept in hj.q.");
      }
    }

    // window.hj stays Cohort's: a function another script assigns later becomes
    // `previous`, which gets every call from then on (that script takes what is left in
    // hj.q, as it would from the stub). Where the page made hj unchangeable (`var hj`),
    // a plain assignment.
    function hjKeep() {
      try {
        Object.defineProperty(window, "hj", {
          configurable: true,
          enumerable: true,
          get: function () {
            return hj;
          },
          set: function (fn) {
            if (typeof fn !== "function" || fn === hj || fn.cohort || queueStub(fn)) return;
            previous = fn;
            handedOver = hj.q.slice();
            window.setTimeout(function () {
              handedOver = [];
            }, 0);
            warn(
              "another script assigned window.hj; it now receives every call, and Cohort " +
              "still acts on hj('identify', ...)."
            );
          },
        });
      } catch (error) {
        window.hj = hj;
      }
    }

    function hj() {
      try {
        const args = Array.prototype.slice.call(arguments);
        if (handedOverTake(args)) forward(args);
        else dispatch(args, false);
      } catch (error) {
        warn("hj() failed: " + describe(error && error.message));
      }
    }

    Object.defineProperty(hj, "cohort", {
      enumerable: true,
      value: Object.freeze({
        visitorId: visitorId,
        get sessionId() {
          return sessionId;
        },
        siteKey: siteKey,
        version: VERSION,
        debug: debug,
      }),
    });

    hj.q = [];
    hjKeep();
    if (previous) {
      warn(
        "window.hj was already defined by another script; it still receives every call, " +
        "and Cohort acts on hj('identify', ...)."
      );
    }
    debugInfo(
      "version " + VERSION + " started for site " + siteKey + "; visitor " + visitorId +
      ", session " + sessionId + ", " + queued.length + " queued call(s)"
    );
    // The page visit goes first so the session exists before any identify stitches it.
    pageVisitRecord();
    urlChangesFollow();
    queued.forEach(function (args) {
      try {
        dispatch(Array.prototype.slice.call(args), queuedDelivered);
      } catch (error) {
        warn("hj() failed: " + describe(error && error.message));
      }
    });
    // Widgets are decided once the visit and the queued identify calls have been answered,
    // so that targeting sees this page's attributes.
    widgets.check("page loaded");
    try {
      window.dispatchEvent(new CustomEvent("cohort:ready", { detail: hj.cohort }));
    } catch (error) {
      // A listener of the host page failed; not ours to report.
    }
  }

  try {
    start();
  } catch (error) {
    warn("could not start: " + describe(error && error.message));
  }
})(/*cohort:config*/ null);
