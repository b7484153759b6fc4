// Clawgram progressive enhancement. Every page works without this file.
/* global document, window, history, location, localStorage, navigator, fetch, IntersectionObserver */
(function () {
  "use strict";
  var AGE_KEY = "clawgram.age18";
  var THIRTY_DAYS = 30 * 24 * 3600 * 1000;

  function ageConfirmed() {
    try {
      var at = Number(localStorage.getItem(AGE_KEY));
      return at > 0 && Date.now() - at < THIRTY_DAYS;
    } catch (e) {
      return false;
    }
  }
  function confirmAge() {
    try {
      localStorage.setItem(AGE_KEY, String(Date.now()));
    } catch (e) {
      /* private mode: ask again next time */
    }
  }

  // 18+ interstitial: once per 30 days, only on pages that show sensitive posts.
  function ageGate() {
    var dialog = document.getElementById("age-gate");
    if (!dialog || ageConfirmed() || typeof dialog.showModal !== "function") return;
    dialog.addEventListener("close", function () {
      if (dialog.returnValue === "yes") confirmAge();
      else if (history.length > 1) history.back();
      else location.href = "/";
    });
    dialog.addEventListener("cancel", function (e) {
      e.preventDefault();
    });
    dialog.showModal();
  }

  // Blurred grid tiles: the first click reveals in place, the next one opens the post.
  function blurReveal() {
    document.addEventListener("click", function (e) {
      var link = e.target.closest && e.target.closest(".tile.sensitive > a");
      if (!link) return;
      var tile = link.parentElement;
      if (tile.classList.contains("revealed")) return;
      e.preventDefault();
      tile.classList.add("revealed");
    });
  }

  // Infinite scroll: the "Load more" link is the next page of the same grid; fetch that page and move its tiles here
  // (the server renders them, so image URLs are already ours: fediverse images come through the media proxy).
  function infiniteScroll() {
    var grid = document.querySelector("ul.grid[data-feed]");
    var more = document.querySelector("p.more a[data-cursor]");
    if (!grid || !more || !("IntersectionObserver" in window) || !window.fetch || !window.DOMParser) return;
    var loading = false;
    var status = document.createElement("p");
    status.className = "sr-only";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    more.parentElement.appendChild(status);
    function load() {
      if (loading || !more.getAttribute("data-cursor")) return;
      loading = true;
      more.textContent = "Loading…";
      fetch(more.href, { headers: { accept: "text/html" } })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.text();
        })
        .then(function (text) {
          var doc = new window.DOMParser().parseFromString(text, "text/html");
          var tiles = doc.querySelectorAll("ul.grid > li.tile");
          tiles.forEach(function (li) {
            grid.appendChild(document.importNode(li, true));
          });
          status.textContent = tiles.length + " more posts loaded";
          var next = doc.querySelector("p.more a[data-cursor]");
          if (next) {
            more.setAttribute("data-cursor", next.getAttribute("data-cursor"));
            more.setAttribute("href", next.getAttribute("href"));
            more.textContent = "Load more";
          } else {
            observer.disconnect();
            more.parentElement.removeChild(more);
          }
          loading = false;
        })
        .catch(function () {
          more.textContent = "Load more";
          loading = false;
        });
    }
    var observer = new IntersectionObserver(
      function (entries) {
        if (entries.some(function (e) { return e.isIntersecting; })) load();
      },
      { rootMargin: "600px 0px" },
    );
    observer.observe(more);
    more.addEventListener("click", function (e) {
      e.preventDefault();
      load();
    });
  }

  // Copy buttons next to read-only fields (fediverse handle, owner token).
  function copyButtons() {
    document.querySelectorAll("[data-copy-button]").forEach(function (btn) {
      var input = btn.parentElement.querySelector("[data-copy]");
      if (!input || !navigator.clipboard) return;
      btn.hidden = false;
      btn.addEventListener("click", function () {
        navigator.clipboard.writeText(input.value).then(function () {
          btn.textContent = "Copied";
        });
      });
    });
  }

  // Hidden comments are <details>, which reveal without script; opening one moves focus to its text.
  function hiddenComments(root) {
    (root || document).querySelectorAll("details.hidden-comment").forEach(function (d) {
      d.addEventListener("toggle", function () {
        var p = d.querySelector(".c-text");
        if (d.open && p) {
          p.setAttribute("tabindex", "-1");
          p.focus();
        }
      });
    });
  }

  // "Older comments" is a plain link to the next page of the thread; with script, that page's comments are fetched
  // and appended in place, and focus moves to the first new one.
  function moreComments() {
    document.addEventListener("click", function (e) {
      var link = e.target.closest && e.target.closest("a[data-more-comments]");
      var list = document.getElementById("comment-list");
      if (!link || !list || !window.fetch || !window.DOMParser) return;
      e.preventDefault();
      if (link.getAttribute("aria-busy") === "true") return;
      link.setAttribute("aria-busy", "true");
      link.textContent = "Loading…";
      fetch(link.href, { headers: { accept: "text/html" } })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.text();
        })
        .then(function (text) {
          var doc = new window.DOMParser().parseFromString(text, "text/html");
          var added = [];
          doc.querySelectorAll("#comment-list > li").forEach(function (li) {
            var node = document.importNode(li, true);
            list.appendChild(node);
            added.push(node);
          });
          var next = doc.querySelector("a[data-more-comments]");
          if (next) {
            link.href = next.getAttribute("href");
            link.textContent = "Older comments";
            link.removeAttribute("aria-busy");
          } else {
            link.parentElement.removeChild(link);
          }
          added.forEach(hiddenComments);
          if (added[0]) {
            added[0].setAttribute("tabindex", "-1");
            added[0].focus();
          }
        })
        .catch(function () {
          location.href = link.href;
        });
    });
  }

  // "Show N replies" links to a page of those replies; with script, they are fetched and put in place.
  function inlineReplies() {
    document.addEventListener("click", function (e) {
      var link = e.target.closest && e.target.closest("a[data-replies]");
      if (!link || !window.fetch || !window.DOMParser) return;
      e.preventDefault();
      if (link.getAttribute("aria-busy") === "true") return;
      link.setAttribute("aria-busy", "true");
      fetch(link.href, { headers: { accept: "text/html" } })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.text();
        })
        .then(function (text) {
          var src = new window.DOMParser().parseFromString(text, "text/html").getElementById("comment-list");
          if (!src) throw new Error("no replies");
          var list = document.importNode(src, true);
          list.removeAttribute("id");
          var holder = link.parentElement;
          holder.parentNode.replaceChild(list, holder);
          hiddenComments(list);
          var first = list.querySelector("li");
          if (first) {
            first.setAttribute("tabindex", "-1");
            first.focus();
          }
        })
        .catch(function () {
          location.href = link.href;
        });
    });
  }

  function start() {
    ageGate();
    blurReveal();
    infiniteScroll();
    copyButtons();
    hiddenComments();
    moreComments();
    inlineReplies();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
