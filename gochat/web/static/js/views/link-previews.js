// A message's link previews (docs/api.md, Link previews): the page's site, title and description,
// and its thumbnail, each a link to the page. What the server fetched is text like any other: set
// as text, never as markup. The thumbnail is a file of the room, loaded as attachments are (with
// the token, through a blob: URL). A `link_preview` frame replaces a message's previews (chat.js),
// so one an edit removed goes from the screen as it goes from history.
import { h } from "../dom.js";
import { load } from "./attachments.js";

export function linkPreviewsElement(previews) {
  return h("div.link-previews", {}, previews.map(card));
}

function card(p) {
  // the server previews http(s) links only; anything else is shown without a link
  const link = /^https?:\/\//i.test(p.url) ? { href: p.url, target: "_blank", rel: "noopener noreferrer nofollow", title: p.url } : {};
  const thumb = p.image ? h("img.link-preview-img", { alt: "", width: p.image.width, height: p.image.height, decoding: "async" }) : null;
  if (thumb) load(p.image.url).then((url) => { thumb.src = url; }, () => thumb.remove());
  return h("a.link-preview", { ...link, dataset: { url: p.url } },
    h("span.link-preview-text", {},
      p.site_name ? h("span.link-preview-site", { text: p.site_name }) : null,
      h("span.link-preview-title", { text: p.title || p.url }),
      p.description ? h("span.link-preview-description", { text: p.description }) : null),
    thumb);
}
