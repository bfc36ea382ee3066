// Replies are Markdown from a model, so they are rendered by marked (vendor/marked.esm.js) and
// made inert by DOMPurify (vendor/purify.es.js) before they touch the page.

import { marked } from "/vendor/marked.esm.js";
import DOMPurify from "/vendor/purify.es.js";

marked.use({ gfm: true, breaks: true });

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

const PURIFY = {
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe", "object", "embed"],
  FORBID_ATTR: ["style"],
  RETURN_DOM_FRAGMENT: true,
};

// An image from elsewhere would leak that the reply was read (and what it put in the URL):
// only this site's and inline images load; others become a link.
function blockRemoteImages(fragment) {
  for (const img of fragment.querySelectorAll("img")) {
    const src = img.getAttribute("src") ?? "";
    let url = null;
    try {
      url = new URL(src, location.href);
    } catch {
      // not a URL at all: dropped below
    }
    if (url && (url.protocol === "data:" || url.origin === location.origin)) continue;
    const link = document.createElement("a");
    link.textContent = `[image: ${img.getAttribute("alt") || src}]`;
    if (url && /^https?:$/.test(url.protocol)) {
      link.href = url.href;
      link.target = "_blank";
      link.rel = "noopener noreferrer nofollow";
    }
    img.replaceWith(link);
  }
}

// A reply's Markdown as DOM nodes with nothing in them that can run.
export function markdownFragment(text) {
  const fragment = DOMPurify.sanitize(marked.parse(text), PURIFY);
  blockRemoteImages(fragment);
  return fragment;
}

// A search snippet is HTML-escaped text with <mark> around each match: nothing else survives.
export function snippetFragment(html) {
  return DOMPurify.sanitize(html, { ALLOWED_TAGS: ["mark"], ALLOWED_ATTR: [], RETURN_DOM_FRAGMENT: true });
}
