// Small progressive enhancements for Cohort's pages. Everything works without them.
(function () {
  "use strict";

  // Let htmx swap 400 answers too: they carry a form with its inline errors.
  if (window.htmx) {
    window.htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "400", swap: true },
      { code: "[45]..", swap: false, error: true },
    ];
  }

  // A part of a page that could not be loaded or sent says so (the page is left as it
  // was), until a later request succeeds.
  var REQUEST_ERRORS = {
    403: "You may not do this in this account any more. Reload the page to see what you can do.",
    404: "This is no longer here: someone may have removed it. Reload the page to see what is.",
    429: "Too many requests: wait a moment, then try again.",
  };

  // The message goes where the person looks: into the open dialog the request came from
  // (the rest of the page is inert behind it, and hidden from screen readers), else into
  // the page's message bar, which stays in view at the foot of the window.
  function requestError(text, source) {
    var dialog = source && source.closest ? source.closest("dialog[open]") : null;
    var box = dialog ? dialog.querySelector(".request-error") : null;
    if (dialog && !box && text) {
      box = document.createElement("p");
      box.className = "flash flash-error request-error";
      box.setAttribute("role", "alert");
      dialog.insertBefore(box, dialog.firstChild);
    }
    Array.prototype.forEach.call(document.querySelectorAll(".request-error"), function (other) {
      if (other !== box) { other.textContent = ""; other.hidden = true; }
    });
    if (!box) box = document.getElementById("request-error");
    if (!box) return;
    box.textContent = text;
    box.hidden = !text;
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var status = xhr.status;
    requestError(
      xhr.getResponseHeader("X-Request-Error") ||
      REQUEST_ERRORS[status] ||
      "Something went wrong on our side (error " + status + "). Reload the page to see " +
      "what was saved, then try again.",
      event.detail.elt
    );
  });
  document.addEventListener("htmx:sendError", function (event) {
    requestError(
      "Cohort could not be reached. Check the connection, then try again.", event.detail.elt
    );
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful) requestError("");
  });

  // A session that ended while the page was open: htmx is told to take the window to the
  // log-in page. On a page holding what the person typed and has not sent, a request of
  // that form (the builder's previews) or one the page makes by itself (a poll) keeps the
  // window, so that the text can be copied: the page cannot send it any more (logging in
  // again gives the browser a new form token). A click elsewhere still goes.
  var LOGIN_PATH = "/login/";

  function unsavedForm(target) {
    var form = target && target.form;
    if (form && (form.getAttribute("method") || "").toLowerCase() === "post") {
      form.dataset.unsaved = "true";
    }
  }
  document.addEventListener("input", function (event) { unsavedForm(event.target); });
  document.addEventListener("change", function (event) { unsavedForm(event.target); });

  document.addEventListener("htmx:beforeOnLoad", function (event) {
    var redirect = event.detail.xhr.getResponseHeader("HX-Redirect") || "";
    var source = event.detail.elt;
    var config = event.detail.requestConfig || {};
    var fromTheForm = source && source.closest && source.closest("form[data-unsaved]");
    var byItself = !config.triggeringEvent && document.querySelector("form[data-unsaved]");
    if (redirect.indexOf(LOGIN_PATH) !== 0 || !(fromTheForm || byItself)) return;
    event.preventDefault();
    requestError(
      "Your session ended, so nothing more can be sent from this page. What you typed is " +
        "still here: copy what you need, log in again, then come back to it.",
      source
    );
  });

  // Going back to a page htmx does not keep asks the server for it; after the session
  // ended, the answer sends the window to the log-in page (htmx alone would show the
  // answer's empty body).
  document.addEventListener("htmx:historyCacheMissLoad", function (event) {
    var redirect = event.detail.xhr.getResponseHeader("HX-Redirect");
    if (redirect) window.location.assign(redirect);
  });

  // Logging out forgets the copies of pages htmx keeps for the back button (a shared
  // computer's next user would find them in this tab).
  document.addEventListener("submit", function (event) {
    if (!event.target.hasAttribute("data-log-out")) return;
    try {
      window.sessionStorage.removeItem("htmx-history-cache");
    } catch (error) { /* storage refused: nothing was kept there */ }
  });

  // A form the browser sends (not through htmx) is sent once while the next page loads:
  // a second click or Enter would send it again. The guard lifts when the page comes back
  // from the back-forward cache, and after a while in case no page follows.
  var SENDING_MS = 15000;

  function sendingDone(form) {
    delete form.dataset.sending;
    form.removeAttribute("aria-busy");
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || (form.getAttribute("method") || "").toLowerCase() !== "post") {
      return;
    }
    if (form.dataset.sending) {
      event.preventDefault();
      return;
    }
    form.dataset.sending = "true";
    delete form.dataset.unsaved;
    form.setAttribute("aria-busy", "true");
    window.setTimeout(function () { sendingDone(form); }, SENDING_MS);
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      Array.prototype.forEach.call(document.querySelectorAll("form[data-sending]"), sendingDone);
    }
  });

  // <select data-navigate>: each option's value is a URL to open. A choice made with the
  // pointer or in the open list opens at once. Keys that step through a closed select
  // (arrows, Home, End, Page Up / Down, letters: on Windows and Linux each one changes its
  // value) only move the choice, and Enter opens it: a keyboard user is not taken to
  // the next site on the first arrow press. Leaving the select puts its choice back.
  var STEP_KEYS = /^(ArrowUp|ArrowDown|Home|End|PageUp|PageDown|.)$/;
  // On macOS the arrow keys open a closed select's list: a choice made there opens at once.
  var ARROWS_OPEN_LIST = /Mac|iPhone|iPad/.test(navigator.platform || "");

  function navigating(target) {
    return target && target.closest ? target.closest("select[data-navigate]") : null;
  }

  function open(select) {
    var current = Array.prototype.find.call(select.options, function (option) {
      return option.defaultSelected;
    });
    if (select.value && (!current || current.value !== select.value)) {
      window.location.assign(select.value);
    }
  }

  document.addEventListener("keydown", function (event) {
    var select = navigating(event.target);
    if (!select) return;
    if (event.key === "Enter") {
      event.preventDefault();
      open(select);
    } else if (
      event.key === " " || event.key === "F4" || event.altKey ||
      (ARROWS_OPEN_LIST && /^Arrow(Up|Down)$/.test(event.key))
    ) {
      delete select.dataset.stepped; // the list opens: a choice made there opens at once
    } else if (STEP_KEYS.test(event.key)) {
      select.dataset.stepped = "true";
    }
  });

  document.addEventListener("change", function (event) {
    var select = navigating(event.target);
    if (select && !select.dataset.stepped) open(select);
  });

  document.addEventListener("focusout", function (event) {
    var select = navigating(event.target);
    if (!select || !select.dataset.stepped) return;
    delete select.dataset.stepped;
    Array.prototype.forEach.call(select.options, function (option) {
      option.selected = option.defaultSelected;
    });
  });

  // The account menu (a <details>) closes on Escape, giving focus back to its summary,
  // and when focus leaves it: open, it covers the page's navigation on a small screen.
  document.addEventListener("keydown", function (event) {
    var menu = event.key === "Escape" && event.target.closest
      ? event.target.closest("details.switcher[open]") : null;
    if (!menu) return;
    menu.open = false;
    menu.querySelector("summary").focus();
  });
  document.addEventListener("focusout", function (event) {
    var menu = event.target.closest ? event.target.closest("details.switcher[open]") : null;
    if (menu && event.relatedTarget && !menu.contains(event.relatedTarget)) menu.open = false;
  });

  // Copy buttons: <button data-copy-target="#id">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy-target"));
    if (!source) return;
    var text = source.textContent;
    // The button's own label is kept aside while it says "Copied": a second click in
    // that time must not take "Copied" for the label to come back to.
    var done = function () {
      if (!button.hasAttribute("data-copy-label")) {
        button.setAttribute("data-copy-label", button.textContent);
      }
      button.textContent = "Copied";
      clearTimeout(button.copiedTimer);
      button.copiedTimer = setTimeout(function () {
        button.textContent = button.getAttribute("data-copy-label");
        button.removeAttribute("data-copy-label");
      }, 1500);
    };
    var fallback = function () {
      var area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
      done();
    };
    if (navigator.clipboard && window.isSecureContext) {
      // Refused (no permission, page not focused): copy the old way instead.
      navigator.clipboard.writeText(text).then(done, fallback);
    } else {
      fallback();
    }
  });

  // Keyboard focus survives htmx's swaps. A control whose part of the page was replaced
  // (Pause becomes Activate in a widget's row) hands focus to the first control of its
  // kind in the new part; one whose part was removed (Remove condition) hands it to the
  // nearest control after that part, or before it. Nothing moves when the swap itself
  // put focus somewhere (a dialog, an autofocus field).
  var FOCUSABLE =
    "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), " +
    "select:not([disabled]), textarea:not([disabled])";
  // Runs once htmx has swapped and settled (20 ms by default): the events of a part that
  // was removed never reach the document, so a timer takes their place.
  var SETTLED_MS = 60;
  var pendingRefocus = null;

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var active = document.activeElement;
    if (!target || !active || active === document.body || !target.contains(active)) return;
    var outside = Array.prototype.filter.call(document.querySelectorAll(FOCUSABLE), function (el) {
      return !target.contains(el);
    });
    var after = outside.filter(function (el) {
      return target.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING;
    });
    var before = outside.filter(function (el) { return after.indexOf(el) === -1; });
    var wanted = {
      id: target.id,
      tag: active.tagName.toLowerCase(),
      fallback: after[0] || before[before.length - 1] || null,
    };
    window.clearTimeout(pendingRefocus);
    pendingRefocus = window.setTimeout(function () { refocus(wanted); }, SETTLED_MS);
  });

  function refocus(wanted) {
    if (document.activeElement && document.activeElement !== document.body) return;
    var part = wanted.id ? document.getElementById(wanted.id) : null;
    var same = part ? part.querySelector(wanted.tag + ":not([disabled])") : null;
    var next = same || (part && part.querySelector(FOCUSABLE)) || wanted.fallback;
    if (next && document.contains(next)) next.focus();
  }

  // Dialogs swapped in by htmx open as modals; "Cancel" closes and removes them. Closed,
  // a dialog gives focus back to the control that opened it, also when it replaced the
  // dialog that control opened (a form sent back with its errors): the browser would
  // return it to the old dialog's button, which is gone, and leave the keyboard at the top.
  // A dialog closed before the swap that brought it has settled (Escape or Cancel pressed
  // at once) cancels that swap's hand-over of focus, which would otherwise move focus to
  // the control nearest the emptied dialog before the opener gets it back.
  var dialogOpener = null;

  function dialogClosing() { window.clearTimeout(pendingRefocus); }
  document.addEventListener("cancel", dialogClosing, true);  // Escape; fires before "close"

  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = event.detail.target.querySelector("dialog");
    if (!dialog || dialog.open) return;
    var trigger = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (trigger && !trigger.closest("dialog")) dialogOpener = trigger;
    var opener = dialogOpener;
    dialog.addEventListener("close", function () {
      window.setTimeout(function () {
        var active = document.activeElement;
        var lost = !active || active === document.body || !document.contains(active) ||
          dialog.contains(active);
        if (lost && opener && document.contains(opener)) opener.focus();
      }, 0);
    });
    dialog.showModal();
  });
  // The builder's "Move up" / "Move down" move a question's block in the form (its
  // position is the order of the blocks when the form is saved) and keep focus on the
  // button, or on its twin when the block reached an end; the previews follow. Without
  // JavaScript the buttons send the form, which comes back with the block moved.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-move-question]");
    if (!button) return;
    var block = button.closest(".question");
    var up = button.getAttribute("data-move-question") === "up";
    var other = block && (up ? block.previousElementSibling : block.nextElementSibling);
    event.preventDefault();
    if (!other || !other.classList.contains("question")) return;
    block.parentNode.insertBefore(block, up ? other : other.nextElementSibling);
    var edge = up ? !block.previousElementSibling : !block.nextElementSibling;
    var twin = block.querySelector('[data-move-question="' + (up ? "down" : "up") + '"]');
    (edge && twin ? twin : button).focus();
    document.body.dispatchEvent(new CustomEvent("widget-form-changed", { bubbles: true }));
  });

  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-dialog]");
    if (!closer) return;
    event.preventDefault();
    var dialog = closer.closest("dialog");
    if (dialog) { dialogClosing(); dialog.close(); dialog.remove(); }
  });

  // A page sent back with errors in a form (a 400): the first field in error takes the
  // focus, which brings it into view, so that the message is where the person looks
  // rather than a screen below an unchanged-looking page. A field that asked for the
  // focus itself (autofocus) keeps it.
  // So does a part of a page htmx swapped in with its errors (a refused search), unless
  // it opens a dialog, which takes the focus itself.
  var INVALID =
    ".has-error input:not([type=hidden]), .has-error select, .has-error textarea, " +
    "[aria-invalid=true]";
  if (!document.querySelector("[autofocus]")) {
    var invalid = document.querySelector(INVALID);
    if (invalid) invalid.focus();
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (event.detail.xhr.status !== 400 || !target || target.querySelector("dialog")) return;
    var field = target.querySelector(INVALID);
    if (field) field.focus();
  });
})();
