"use strict";
// The acceptable-use terms a monitored AI site shows before use; accepting is recorded and
// lets the site through until the policy's period ends.
const api = globalThis.browser ?? globalThis.chrome;
const url = decodeURIComponent(location.hash.slice(1));
document.getElementById("site").textContent = (() => { try { return new URL(url).host; } catch (error) { return url; } })();
const agree = document.getElementById("agree");
const accept = document.getElementById("accept");
agree.onchange = () => { accept.disabled = !agree.checked; };
api.runtime.sendMessage({kind: "page", outcome: "terms_shown", url}).then((answer) => {
  document.getElementById("app").textContent = answer.app?.name ?? "this AI service";
  document.getElementById("terms").textContent = answer.terms;
  document.title = `Terms: ${answer.app?.name ?? "AI service"}`;
});
accept.onclick = async () => {
  await api.runtime.sendMessage({kind: "page", outcome: "terms_accepted", url});
  if (/^https?:/.test(url)) location.replace(url);
};
