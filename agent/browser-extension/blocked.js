"use strict";
// The block page an unsanctioned AI site is redirected to (the original address follows '#').
const api = globalThis.browser ?? globalThis.chrome;
const url = decodeURIComponent(location.hash.slice(1));
document.getElementById("site").textContent = (() => { try { return new URL(url).host; } catch (error) { return url; } })();
api.runtime.sendMessage({kind: "page", outcome: "blocked", url}).then((answer) => {
  document.getElementById("app").textContent = answer.app?.name ?? "an AI service";
  document.getElementById("request").textContent = answer.requestAccess ?? "Ask your IT helpdesk if you need it for your work.";
  document.title = `Blocked: ${answer.app?.name ?? "AI service"}`;
});
