// Building DOM nodes. User data only ever becomes text nodes or attribute values: the client never
// parses a string as HTML (and the page's Trusted Types policy would refuse it if it tried).

/**
 * h("li#id.room.active", {attrs: {"aria-current": "page"}, on: {click}}, "text", child, ...)
 * props: class (string), text (string), attrs (object), dataset (object), on (object of handlers),
 * and any other key is set as a DOM property (type, value, disabled, hidden, tabIndex...).
 */
export function h(tag, props = {}, ...children) {
  const [head, ...classes] = tag.split(".");
  const [name, id] = head.split("#");
  const el = document.createElement(name || "div");
  if (id) el.id = id;
  if (classes.length) el.classList.add(...classes);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className += (el.className ? " " : "") + value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "attrs") for (const [a, v] of Object.entries(value)) { if (v !== undefined && v !== null && v !== false) el.setAttribute(a, String(v)); }
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "on") for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    else el[key] = value;
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
