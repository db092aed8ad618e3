// ERank Studio: what the inspection view does in the browser, on top of what the server renders.
// - header tooltips: each short results-table header explains itself (window.ERANK_COLUMN_HELP,
//   written by rerank_tab from render.COLUMN_HELP);
// - the elapsed time of a running run keeps ticking between documents (.erank-elapsed.erank-running);
// - searching inside the open trace highlights every match (CSS Custom Highlight API: the page's
//   text nodes are never rewritten, so escaped model output stays escaped).
(function () {
  const HIGHLIGHT = "erank-search";
  let pending = false;

  function setTooltips() {
    const help = window.ERANK_COLUMN_HELP || {};
    document.querySelectorAll("#erank-results th").forEach(function (th) {
      const name = (th.innerText || "").trim();
      if (Object.prototype.hasOwnProperty.call(help, name) && th.title !== help[name]) {
        th.title = help[name];
      }
    });
  }

  function tick() {
    const now = performance.now();
    document.querySelectorAll(".erank-elapsed.erank-running").forEach(function (el) {
      if (el.__erankStart === undefined) {
        el.__erankStart = now;
        el.__erankBase = parseFloat(el.textContent) || 0;
      }
      const seconds = el.__erankBase + (now - el.__erankStart) / 1000;
      el.textContent = seconds.toFixed(1) + " s";
    });
  }

  function searchBox() {
    return document.querySelector("#erank-trace-search textarea, #erank-trace-search input");
  }

  function textNodes(root) {
    const out = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) out.push(walker.currentNode);
    return out;
  }

  function matchRanges(roots, needle) {
    const ranges = [];
    roots.forEach(function (root) {
      textNodes(root).forEach(function (node) {
        const hay = node.data.toLowerCase();
        let at = hay.indexOf(needle);
        while (at !== -1) {
          const range = document.createRange();
          range.setStart(node, at);
          range.setEnd(node, at + needle.length);
          ranges.push(range);
          at = hay.indexOf(needle, at + needle.length);
        }
      });
    });
    return ranges;
  }

  function highlight() {
    const panel = document.querySelector("#erank-trace");
    const box = searchBox();
    if (!panel || !box) return;
    const needle = (box.value || "").trim().toLowerCase();
    const count = panel.querySelector(".erank-search-count");
    const think = Array.from(panel.querySelectorAll(".erank-think"));
    const raw = Array.from(panel.querySelectorAll(".erank-raw pre"));
    let ranges = [];
    if (needle) {
      const inThink = matchRanges(think, needle);
      const inRaw = matchRanges(raw, needle);
      if (!inThink.length && inRaw.length) {
        const details = panel.querySelector(".erank-raw");
        if (details && !details.open) details.open = true;
      }
      ranges = inThink.concat(inRaw);
    }
    const key = needle + "|" + ranges.length + "|" + (panel.textContent || "").length;
    if (panel.__erankSearch === key) return;
    panel.__erankSearch = key;
    panel.dataset.matches = String(ranges.length);
    if (count) {
      count.textContent = needle ? (ranges.length === 1 ? "1 match" : ranges.length + " matches") : "";
    }
    if (window.CSS && CSS.highlights && window.Highlight) {
      if (ranges.length) CSS.highlights.set(HIGHLIGHT, new Highlight(...ranges));
      else CSS.highlights.delete(HIGHLIGHT);
    }
    if (ranges.length) {
      const el = ranges[0].startContainer.parentElement;
      const scroller = el && el.closest(".erank-think, .erank-raw pre");
      if (scroller) scroller.scrollTop = Math.max(0, el.offsetTop - scroller.offsetTop - 40);
    }
  }

  function refresh() {
    pending = false;
    setTooltips();
    highlight();
  }

  function schedule() {
    if (!pending) {
      pending = true;
      requestAnimationFrame(refresh);
    }
  }

  function start() {
    new MutationObserver(schedule).observe(document.body, {subtree: true, childList: true, characterData: true});
    document.addEventListener("input", function (event) {
      if (event.target && event.target.closest && event.target.closest("#erank-trace-search")) schedule();
    }, true);
    setInterval(tick, 200);
    schedule();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
