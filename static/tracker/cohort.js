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
 * - keeps a session id in sessionStorage; a page loaded after 30 minutes without activity
 *   starts a new session;
 * - records the page visit (POST /api/v1/sites/<key>/sessions);
 * - replays the calls queued by the stub
 *   `window.hj=window.hj||function(){(hj.q=hj.q||[]).push(arguments)};`
 *   in order, then replaces window.hj with the real function;
 * - sends `hj('identify', userId, attributes)` to POST /api/v1/sites/<key>/identify, one
 *   request at a time in call order, retrying once (same message_id) on a network error,
 *   a 5xx or a 429.
 *
 * It never throws into the host page: bad arguments are reported with console.warn.
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
  const MAX_RETRY_AFTER_MS = 30 * 1000;
  // Browsers refuse keepalive requests with bodies over 64 KiB.
  const KEEPALIVE_MAX_BYTES = 60 * 1024;
  const MAX_URL_LENGTH = 2000;
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

  // What JSON can carry faithfully goes to the API, which judges each value and answers
  // with a reason per rejected key; what JSON would silently change (undefined, NaN,
  // functions) or cannot encode (cycles, BigInt) is dropped here with a reason.
  function attributesSerialize(attributes) {
    const values = {};
    const dropped = {};
    Object.keys(attributes).forEach(function (key) {
      const value = attributes[key];
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

  async function fetchOnce(url, body) {
    const controller = typeof AbortController === "function" ? new AbortController() : null;
    const timer = controller
      ? window.setTimeout(function () {
          controller.abort();
        }, REQUEST_TIMEOUT_MS)
      : null;
    try {
      return await window.fetch(url, {
        method: "POST",
        mode: "cors",
        credentials: "omit",
        headers: { "Content-Type": "application/json" },
        body: body,
        keepalive: byteLength(body) <= KEEPALIVE_MAX_BYTES,
        signal: controller ? controller.signal : undefined,
      });
    } finally {
      if (timer !== null) window.clearTimeout(timer);
    }
  }

  function truncate(text) {
    return typeof text === "string" ? text.slice(0, MAX_URL_LENGTH) : "";
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
      warn("the tracking script is included more than once; the first copy stays in charge.");
      return;
    }

    const siteKey = config.siteKey;
    const apiRoot =
      config.apiBase.replace(/\/+$/, "") + "/api/v1/sites/" + encodeURIComponent(siteKey);
    const debug = debugLoad();
    const visitorId = visitorIdLoad(siteKey);
    const sessionId = sessionIdLoad(siteKey);
    let queue = Promise.resolve();

    function debugInfo(message) {
      if (debug) log("info", message);
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

    // POST a payload, retrying once with the same body on a network error, 5xx or 429.
    // Resolves to {status, data} (status 0 when the API could not be reached).
    async function post(command, path, payload) {
      const url = apiRoot + path;
      const body = JSON.stringify(payload);
      debugInfo(command + " sending to " + url + " " + body);
      let response = null;
      for (let attempt = 1; attempt <= 2; attempt += 1) {
        response = null;
        try {
          response = await fetchOnce(url, body);
        } catch (error) {
          response = null;
        }
        const retryable = response === null || response.status >= 500 || response.status === 429;
        if (!retryable || attempt === 2) break;
        const delay = retryDelay(response);
        debugInfo(
          command + " " + (response ? "answered " + response.status : "could not reach the API") +
          "; retrying in " + delay + " ms with the same message_id"
        );
        await sleep(delay);
      }
      const result = {
        status: response ? response.status : 0,
        data: response ? await readJson(response) : null,
      };
      debugInfo(command + " response " + result.status + " " + JSON.stringify(result.data));
      debugEvent({ command: command, sent: payload, status: result.status, response: result.data });
      if (result.status === 0) {
        warn(
          command + " could not reach " + config.apiBase + " (network error, or this page's " +
          "origin is not among the site's allowed origins)."
        );
      } else if (result.status < 200 || result.status >= 300) {
        const code = result.data && result.data.code ? result.data.code : "error";
        const message = result.data && result.data.message ? ": " + result.data.message : "";
        warn(command + " refused (" + result.status + " " + code + ")" + message);
      }
      return result;
    }

    function pageVisitRecord() {
      const payload = {
        visitor_id: visitorId,
        session_id: sessionId,
        url: truncate(window.location.href),
        referrer: truncate(document.referrer),
        message_id: randomId(),
      };
      enqueue(function () {
        return post("page visit", "/sessions", payload);
      });
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
      sessionStore(siteKey, sessionId);
      enqueue(async function () {
        const result = await post("identify", "/identify", payload);
        if (!debug || !result.data || !isPlainObject(result.data.rejected)) return;
        const rejected = result.data.rejected;
        Object.keys(rejected).forEach(function (key) {
          warn("attribute " + JSON.stringify(key) + " rejected: " + rejected[key]);
        });
      });
    }

    function dispatch(args) {
      const command = args[0];
      debugInfo("hj(" + args.map(show).join(", ") + ")");
      if (command === "identify") {
        identify(args[1], args[2]);
        return;
      }
      warn("unknown command " + describe(command) + " ignored.");
    }

    function hj() {
      try {
        dispatch(Array.prototype.slice.call(arguments));
      } catch (error) {
        warn("hj() failed: " + describe(error && error.message));
      }
    }

    Object.defineProperty(hj, "cohort", {
      enumerable: true,
      value: Object.freeze({
        visitorId: visitorId,
        sessionId: sessionId,
        siteKey: siteKey,
        version: VERSION,
        debug: debug,
      }),
    });

    const queued = typeof stub === "function" && Array.isArray(stub.q) ? stub.q.slice() : [];
    window.hj = hj;
    debugInfo(
      "version " + VERSION + " started for site " + siteKey + "; visitor " + visitorId +
      ", session " + sessionId + ", " + queued.length + " queued call(s)"
    );
    // The page visit goes first so the session exists before any identify stitches it.
    pageVisitRecord();
    queued.forEach(function (args) {
      hj.apply(null, Array.prototype.slice.call(args));
    });
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
