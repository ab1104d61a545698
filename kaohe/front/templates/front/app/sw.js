{% autoescape off %}/* kaohe app shell (service worker, scope /app/).
 * It keeps the styles, the script, the icon and the offline page, and shows that page when
 * the network is down. It never stores document pages, files or API answers: the phone may
 * be shared, and those are personal data. */
"use strict";
const CACHE = "kaohe-shell-{{ version }}";
const SHELL = {{ shell }};
const OFFLINE = {{ offline }};

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(
        keys.filter((key) => key.startsWith("kaohe-shell-") && key !== CACHE)
          .map((key) => caches.delete(key))
      ))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (request.mode === "navigate") {
    // Pages always come from the network; only when it fails, the offline page.
    event.respondWith(
      fetch(request).catch(() => caches.match(OFFLINE, { ignoreVary: true }))
    );
    return;
  }
  if (url.origin === self.location.origin && SHELL.includes(url.pathname)) {
    event.respondWith(
      caches.match(url.pathname, { ignoreVary: true }).then((hit) => hit || fetch(request))
    );
  }
  // Everything else goes to the network untouched and is not stored.
});
{% endautoescape %}
