// ERank Studio keyboard shortcuts for the annotation panel. Keys are ignored while typing in a
// text field. Each key clicks a button of the panel by its elem_id, so a shortcut does exactly
// what the button does (and is saved the same way).
(function () {
  const KEYS = {
    "t": "erank-score-10", "a": "erank-accept", "u": "erank-undo", "s": "erank-queue-skip",
    "j": "erank-next", "ArrowDown": "erank-next", "k": "erank-prev", "ArrowUp": "erank-prev",
  };
  for (let d = 0; d <= 9; d++) KEYS[String(d)] = "erank-score-" + d;

  function typing(el) {
    if (!el) return false;
    const tag = (el.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || el.isContentEditable;
  }

  function findButton(id) {
    const root = document.querySelector("gradio-app");
    const scope = (root && root.shadowRoot) || document;
    const el = scope.getElementById ? scope.getElementById(id) : document.getElementById(id);
    if (!el) return null;
    const button = el.tagName === "BUTTON" ? el : el.querySelector("button");
    // Only the visible panel (the Rerank tab) answers keys.
    return button && button.offsetParent !== null ? button : null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (typing(event.target) || typing(document.activeElement)) return;
    const id = KEYS[event.key];
    if (!id) return;
    const button = findButton(id);
    if (!button) return;
    event.preventDefault();
    button.click();
  }, true);
})();
