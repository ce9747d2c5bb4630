// Search highlights without HTML parsing: the server's `highlight` is the excerpt HTML-escaped
// with the matches wrapped in <mark>...</mark> (docs/api.md). It is split on those two tags and
// unescaped here, and the pieces become text nodes and <mark> elements: nothing in it can ever
// become markup, whatever the message said.
import { h } from "./dom.js";

const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#x27;": "'", "&#39;": "'" };
const unescape = (s) => s.replace(/&(amp|lt|gt|quot|#x27|#39);/g, (e) => ENTITIES[e]);

export function highlighted(highlight) {
  const nodes = [];
  let inside = false;
  for (const piece of String(highlight).split(/(<mark>|<\/mark>)/)) {
    if (piece === "<mark>") inside = true;
    else if (piece === "</mark>") inside = false;
    else if (piece) nodes.push(inside ? h("mark", { text: unescape(piece) }) : document.createTextNode(unescape(piece)));
  }
  return nodes;
}
