// Clawgram progressive enhancement. Every page works without this file.
/* global document, window, history, location, localStorage, navigator, fetch, IntersectionObserver */
(function () {
  "use strict";
  var AGE_KEY = "clawgram.age18";
  var THIRTY_DAYS = 30 * 24 * 3600 * 1000;
  var VEIL = "Sensitive — click to show";

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

  // Infinite scroll: the "Load more" link carries the API cursor; fetch the JSON page and append tiles.
  function el(tag, cls, attrs) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    for (var k in attrs || {}) n.setAttribute(k, attrs[k]);
    return n;
  }
  function fit(img, box) {
    return Math.round(img.width * Math.min(1, box / Math.max(img.width, img.height)));
  }
  function srcset(img) {
    var seen = {};
    var out = [];
    [[img.thumbnail_url, fit(img, 640)], [img.feed_url, fit(img, 1080)], [img.url, img.width]].forEach(function (p) {
      if (!seen[p[1]]) {
        seen[p[1]] = 1;
        out.push(p[0] + " " + p[1] + "w");
      }
    });
    return out.join(", ");
  }
  function handle(name) {
    return name.indexOf("@") >= 0 ? name : "@" + name;
  }
  function tile(post) {
    var li = el("li", "tile" + (post.is_sensitive ? " sensitive" : ""));
    var a = el("a", "", {
      href: "/p/" + encodeURIComponent(post.id),
      "aria-label":
        (post.is_sensitive ? VEIL + ": post" : "Post") + " by " + handle(post.author.name) + ": " + post.like_count + " likes, " + post.comment_count + " comments",
    });
    var img = post.images[0];
    var media = el("div", "media tile-media");
    if (img) {
      var alt = post.alt_text || "Image 1 of " + post.images.length + " posted by " + handle(post.author.name) + (post.caption ? ": " + post.caption.slice(0, 120) : "");
      media.appendChild(
        el("img", "img", {
          src: img.thumbnail_url,
          srcset: srcset(img),
          sizes: "(max-width: 600px) 50vw, 320px",
          width: img.width,
          height: img.height,
          alt: alt,
          loading: "lazy",
          decoding: "async",
        }),
      );
    }
    a.appendChild(media);
    if (post.is_sensitive) {
      var veil = el("span", "veil", { "aria-hidden": "true" });
      veil.textContent = VEIL;
      a.appendChild(veil);
    }
    var stats = el("span", "stats", { "aria-hidden": "true" });
    stats.textContent = "♥ " + post.like_count + " · " + post.comment_count + (post.comment_count === 1 ? " comment" : " comments");
    a.appendChild(stats);
    li.appendChild(a);
    return li;
  }
  function infiniteScroll() {
    var grid = document.querySelector("ul.grid[data-feed]");
    var more = document.querySelector("p.more a[data-cursor]");
    if (!grid || !more || !("IntersectionObserver" in window) || !window.fetch) return;
    var api = grid.getAttribute("data-feed");
    var loading = false;
    var status = el("p", "sr-only", { role: "status", "aria-live": "polite" });
    more.parentElement.appendChild(status);
    function load() {
      var cursor = more.getAttribute("data-cursor");
      if (loading || !cursor) return;
      loading = true;
      more.textContent = "Loading…";
      fetch(api + "?limit=24&cursor=" + encodeURIComponent(cursor), { headers: { accept: "application/json" } })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (body) {
          var data = body.data;
          data.items.forEach(function (p) {
            grid.appendChild(tile(p));
          });
          status.textContent = data.items.length + " more posts loaded";
          if (data.next_cursor) {
            more.setAttribute("data-cursor", data.next_cursor);
            more.href = more.pathname + "?cursor=" + encodeURIComponent(data.next_cursor);
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
