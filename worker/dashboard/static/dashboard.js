// batchhook dashboard: the tab's API token, sent with every request the page makes.
//
// The token lives in sessionStorage only (gone when the tab closes). htmx fetches the
// pages with it as a bearer token; the buttons (forms.api-action) call the /v1 API with
// it. Without this script the pages still read, signed in with a session cookie.
(function () {
  "use strict";

  var KEY = "batchhook.token";

  function token() {
    try {
      return window.sessionStorage.getItem(KEY);
    } catch (e) {
      return null;
    }
  }

  function forget() {
    try {
      window.sessionStorage.removeItem(KEY);
    } catch (e) {
      /* storage unavailable: nothing kept */
    }
  }

  function here() {
    return window.location.pathname + window.location.search;
  }

  function signInAgain(message) {
    forget();
    var next = encodeURIComponent(here());
    window.location.assign("/dashboard/signin?next=" + next + (message ? "&expired=1" : ""));
  }

  function flash(message) {
    var box = document.getElementById("flash");
    if (box) box.textContent = message;
  }

  // Before the body is parsed: a tab with a token shows "Loading…", not the sign-in form.
  if (token()) document.documentElement.classList.add("has-token");
  document.documentElement.classList.add("js");

  document.addEventListener("htmx:configRequest", function (evt) {
    var t = token();
    if (t) evt.detail.headers["Authorization"] = "Bearer " + t;
  });

  document.addEventListener("htmx:responseError", function (evt) {
    var status = evt.detail.xhr.status;
    if (status === 401) return signInAgain(true);
    flash(
      status === 429
        ? "Too many requests with this token; the page refreshes again shortly."
        : "The server answered " + status + "; showing what was loaded last."
    );
  });

  document.addEventListener("htmx:sendError", function () {
    flash("The server cannot be reached; retrying.");
  });

  document.addEventListener("htmx:afterSwap", function (evt) {
    var box = document.getElementById("flash");
    if (box && box.textContent.indexOf("retrying") !== -1) box.textContent = "";
    if (evt.detail.boosted) {
      var main = document.getElementById("main");
      if (main) main.focus({ preventScroll: true });
    }
  });

  // A live region does not poll while the tab is hidden, and catches up when shown.
  function isPoll(elt) {
    return (elt.getAttribute("hx-trigger") || "").indexOf("every") === 0;
  }
  document.addEventListener("htmx:beforeRequest", function (evt) {
    if (document.hidden && isPoll(evt.detail.elt)) evt.preventDefault();
  });
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) return;
    document.querySelectorAll("[hx-trigger^='every']").forEach(function (elt) {
      window.htmx.trigger(elt, "refresh");
    });
  });

  // The buttons: shown only where they can act (this script and a token).
  document.addEventListener("htmx:load", function (evt) {
    if (!token()) return;
    evt.detail.elt.querySelectorAll("form.api-action[hidden]").forEach(function (form) {
      form.hidden = false;
    });
  });

  function bodyOf(form) {
    var body = JSON.parse(form.getAttribute("data-api-body") || "{}");
    form.querySelectorAll("input[name]").forEach(function (input) {
      if (input.getAttribute("data-kind") === "unix") {
        body[input.name] = Math.floor(new Date(input.value).getTime() / 1000);
      } else {
        body[input.name] = input.value;
      }
    });
    return body;
  }

  function reveal(form, name, value) {
    var out = form.querySelector("output");
    out.textContent = "";
    var label = document.createElement("span");
    label.textContent = "New " + name + " (shown once, copy it now): ";
    var field = document.createElement("input");
    field.type = "text";
    field.readOnly = true;
    field.value = value;
    field.className = "revealed mono";
    field.setAttribute("aria-label", "New " + name);
    field.setAttribute("data-revealed", name);
    var copy = document.createElement("button");
    copy.type = "button";
    copy.textContent = "Copy";
    copy.addEventListener("click", function () {
      field.select();
      if (navigator.clipboard) navigator.clipboard.writeText(value);
    });
    out.append(label, field, copy);
    field.focus();
    field.select();
  }

  function refresh(selector) {
    var target = selector && document.querySelector(selector);
    if (target) window.htmx.trigger(target, "refresh");
  }

  async function act(form) {
    var ask = form.getAttribute("data-confirm");
    if (ask && !window.confirm(ask)) return;
    var button = form.querySelector("button[type=submit]");
    var out = form.querySelector("output");
    button.disabled = true;
    out.textContent = "Working…";
    try {
      var answer = await fetch(form.getAttribute("data-api-path"), {
        method: form.getAttribute("data-api-method"),
        headers: { Authorization: "Bearer " + token(), "Content-Type": "application/json" },
        body: JSON.stringify(bodyOf(form)),
      });
      if (answer.status === 401) return signInAgain(true);
      var data = await answer.json().catch(function () {
        return {};
      });
      if (!answer.ok) {
        out.textContent = (data.error && data.error.message) || "Failed: HTTP " + answer.status;
        return;
      }
      var field = form.getAttribute("data-reveal");
      if (field) reveal(form, field, data[field]);
      else out.textContent = form.getAttribute("data-done") || "Done.";
      refresh(form.getAttribute("data-refresh"));
    } catch (e) {
      out.textContent = "The server cannot be reached: " + e.message;
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (form.matches("form.api-action")) {
      evt.preventDefault();
      act(form);
    } else if (form.matches("[data-signin-form]")) {
      evt.preventDefault();
      signIn(form);
    } else if (form.matches("[data-signout]")) {
      forget(); // and the post ends a cookie session, if there is one
    }
  });

  async function signIn(form) {
    var value = form.querySelector("input[name=token]").value.trim();
    var error = form.querySelector("[role=alert]");
    error.textContent = "";
    var answer;
    try {
      answer = await fetch("/v1/connections?limit=1", {
        headers: { Authorization: "Bearer " + value },
      });
    } catch (e) {
      error.textContent = "The server cannot be reached.";
      return;
    }
    if (answer.status === 401) {
      error.textContent = "That token is not valid.";
      return;
    }
    if (!answer.ok) {
      error.textContent = "The server answered " + answer.status + "; try again.";
      return;
    }
    window.sessionStorage.setItem(KEY, value);
    window.location.assign(form.querySelector("input[name=next]").value);
  }

  // The sign-in page stands in for any page asked for without a token: with one in this
  // tab, load the page it stands for.
  document.addEventListener("DOMContentLoaded", function () {
    var resume = document.querySelector("[data-resume]");
    var t = token();
    if (resume && t) {
      window.htmx.ajax("GET", resume.getAttribute("data-resume"), {
        target: "body",
        swap: "innerHTML",
      });
    } else if (!resume && t && document.querySelector("[data-signin-form]")) {
      window.location.assign(document.querySelector("input[name=next]").value);
    } else {
      document.documentElement.classList.remove("has-token");
    }
    if (window.location.search.indexOf("expired=1") !== -1) {
      var error = document.getElementById("signin-error");
      if (error) error.textContent = "The token was refused (revoked?). Sign in again.";
    }
  });
})();
