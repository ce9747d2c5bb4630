// Web addresses in message text become links; everything else stays text. Only http(s) URLs
// are linked (never javascript:, data: or anything else), and the link's text is the address.
import { h } from "./dom.js";

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?)\]}'"]+$/; // sentence punctuation after an address is not part of it

export function linkified(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    const address = match[0].replace(TRAILING, "");
    let url;
    try {
      url = new URL(address);
    } catch {
      continue;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") continue;
    if (match.index > last) nodes.push(text.slice(last, match.index));
    nodes.push(h("a", { href: url.href, text: address, target: "_blank", rel: "noopener noreferrer nofollow" }));
    last = match.index + address.length;
  }
  if (last < text.length) nodes.push(text.slice(last));
  return nodes;
}
