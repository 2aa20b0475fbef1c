// Bulwark's browser extension, background side: the one connection to the session helper
// (native messaging host dev.bulwark.agent → `bulwark-agent native-host` → the helper's socket),
// the AI sites' sanction states as redirect rules, the focused tab's origin, and the checks the
// content script asks for. No remote code; nothing leaves the machine. Protocol: docs/BROWSER.md.
"use strict";
const api = globalThis.browser ?? globalThis.chrome;
const HOST = "dev.bulwark.agent";
const CHECK_TIMEOUT_MS = 15000;
const RULE_BASE = 1000;

let port = null;
let helperUp = false;
let helperReason = "starting";
let config = null;          // the helper's last `config`, kept in storage for when it is away
let nextID = 1;
const pending = new Map();  // check id → resolve
let focusedOrigin;          // undefined: never sent

const ready = api.storage.local.get("config").then((stored) => {
  if (stored.config) config = stored.config;
  return applyRules();
});

function browserName() {
  const agent = navigator.userAgent;
  if (agent.includes("Firefox/")) return "firefox";
  if (agent.includes("Edg/")) return "edge";
  if (navigator.brave) return "brave";
  return agent.includes("Chrome/") ? "chromium" : "unknown";
}

/** Resolves once the helper is connected, or after `ms` (the background may have just woken up
 * and be connecting: a check then should not be decided as if the helper were away). */
const helperWaiters = [];
function helperConnected(ms) {
  if (helperUp) return Promise.resolve(true);
  return new Promise((resolve) => {
    const waiter = (up) => { clearTimeout(timer); resolve(up); };
    const timer = setTimeout(() => { helperWaiters.splice(helperWaiters.indexOf(waiter), 1); resolve(false); }, ms);
    helperWaiters.push(waiter);
  });
}

function post(message) {
  if (!port || !helperUp) return false;
  try { port.postMessage(message); return true; } catch (error) { return false; }
}

function connect() {
  try {
    port = api.runtime.connectNative(HOST);
  } catch (error) {
    lost(`native host cannot start: ${error.message}`);
    return;
  }
  port.onMessage.addListener(onHostMessage);
  port.onDisconnect.addListener(() => {
    const error = api.runtime.lastError?.message ?? port?.error?.message;
    port = null;
    lost(error ? `native host: ${error}` : "native host exited");
    setTimeout(connect, 5000);
  });
}

function lost(reason) {
  helperUp = false;
  helperReason = reason;
  for (const [id, resolve] of pending) resolve(offlineVerdict());
  pending.clear();
  badge();
}

function badge() {
  const failMode = config?.browser?.without_helper ?? "allow";
  const text = helperUp ? "" : "!";
  const title = helperUp ? "Bulwark: protecting AI sites" :
    `Bulwark cannot reach its session helper (${helperReason}): pastes and uploads into AI sites are ${failMode === "block" ? "blocked" : "allowed unchecked"} until it is back`;
  api.action.setBadgeText({text});
  api.action.setBadgeBackgroundColor?.({color: "#b3261e"});
  api.action.setTitle({title});
}

function offlineVerdict() {
  const block = (config?.browser?.without_helper ?? "allow") === "block";
  return {action: block ? "block" : "allow", offline: true,
          message: block ? "Bulwark cannot check this right now, and your organisation's policy blocks it until it can." : undefined};
}

async function onHostMessage(message) {
  switch (message.type) {
    case "helper":
      helperUp = !!message.connected;
      if (helperUp) {
        helperReason = "";
        port.postMessage({type: "hello", browser: browserName(), version: api.runtime.getManifest().version});
        focusedOrigin = undefined;
        reportFocus();
        for (const waiter of helperWaiters.splice(0)) waiter(true);
      } else {
        lost(message.reason ?? "session helper not running");
      }
      badge();
      break;
    case "config":
      config = message;
      await api.storage.local.set({config});
      await applyRules();
      badge();
      break;
    case "verdict": {
      const resolve = pending.get(message.id);
      pending.delete(message.id);
      // A request the helper could not read is decided as if it were away.
      resolve?.(message.action === "error" ? {...offlineVerdict(), message: message.message} : message);
      break;
    }
  }
}

// MARK: AI sites

function hostOf(url) {
  try { return new URL(url).hostname.toLowerCase(); } catch (error) { return ""; }
}

/** The catalog app `host` belongs to (a domain matches its subdomains too). */
function appFor(host) {
  if (!config || !host) return null;
  for (const app of config.apps) {
    for (const domain of app.domains) {
      if (host === domain || host.endsWith("." + domain)) return app;
    }
  }
  return null;
}

function termsAccepted(app) {
  const at = config?.accepted?.[app.id];
  const every = (config?.browser?.terms?.every_s ?? 0) * 1000;
  return at !== undefined && Date.now() - at * 1000 < every;
}

function escapeRegex(text) { return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

/** Unsanctioned sites go to the block page, monitored ones to the terms until accepted. */
async function applyRules() {
  const rules = [];
  for (const app of config?.apps ?? []) {
    let page = null;
    if (app.sanction === "unsanctioned") page = "blocked.html";
    else if (app.sanction === "monitored" && !termsAccepted(app)) page = "terms.html";
    if (!page) continue;
    for (const domain of app.domains) {
      rules.push({
        id: RULE_BASE + rules.length,
        priority: 1,
        action: {type: "redirect", redirect: {regexSubstitution: api.runtime.getURL(page) + "#\\0"}},
        condition: {
          regexFilter: "^https?://([^/?#]*\\.)?" + escapeRegex(domain) + "(:[0-9]+)?([/?#].*)?$",
          resourceTypes: page === "blocked.html" ? ["main_frame", "sub_frame"] : ["main_frame"],
        },
      });
    }
  }
  const existing = await api.declarativeNetRequest.getDynamicRules();
  await api.declarativeNetRequest.updateDynamicRules({removeRuleIds: existing.map((rule) => rule.id), addRules: rules});
}

// MARK: The focused tab

async function reportFocus() {
  let origin = null;
  try {
    const windows = await api.windows.getLastFocused({populate: true});
    if (windows?.focused) {
      const tab = windows.tabs?.find((candidate) => candidate.active);
      if (tab?.url && /^https?:/.test(tab.url)) origin = new URL(tab.url).origin;
    }
  } catch (error) { /* no window */ }
  if (origin === focusedOrigin) return;
  if (post({type: "focus", origin})) focusedOrigin = origin;
}

api.tabs.onActivated.addListener(reportFocus);
api.windows.onFocusChanged.addListener(reportFocus);
api.tabs.onUpdated.addListener((tabID, change, tab) => {
  if (change.url || change.status === "complete") reportFocus();
  if (change.status === "complete" && tab.url && appFor(hostOf(tab.url))) {
    post({type: "navigation", outcome: "visited", origin: new URL(tab.url).origin});
  }
});

// MARK: What content scripts and the extension's pages ask

api.runtime.onMessage.addListener((message, sender, reply) => {
  (async () => {
    await ready;
    switch (message.kind) {
      case "site": {
        const app = appFor(hostOf(message.url));
        return {ai: !!app, app: app?.id, typedPrompts: !!config?.browser?.typed_prompts, maxFileBytes: config?.max_file_bytes ?? 16777216,
                withoutHelper: config?.browser?.without_helper ?? "allow"};
      }
      case "check": {
        const id = nextID++;
        const request = {type: "check", id, channel: message.channel, origin: message.origin, text: message.text, files: message.files};
        if (!helperUp && helperReason === "starting") await helperConnected(3000);  // just woken up, still connecting
        if (!post(request)) { badge(); return offlineVerdict(); }
        return await new Promise((resolve) => {
          pending.set(id, resolve);
          setTimeout(() => { if (pending.delete(id)) resolve(offlineVerdict()); }, CHECK_TIMEOUT_MS);
        });
      }
      case "override":
        post({type: "override", incident_id: message.incident_id, justification: message.justification});
        return {};
      case "page": {  // the block page or the terms, shown or accepted
        const app = appFor(hostOf(message.url));
        const origin = (() => { try { return new URL(message.url).origin; } catch (error) { return null; } })();
        if (message.outcome === "terms_accepted" && app && config) {
          config.accepted = {...(config.accepted ?? {}), [app.id]: Date.now() / 1000};
          await api.storage.local.set({config});
          await applyRules();
        }
        if (origin) post({type: "navigation", outcome: message.outcome, origin});
        return {
          app: app ? {id: app.id, name: app.name, sanction: app.sanction} : null,
          terms: config?.browser?.terms?.text ?? "",
          requestAccess: config?.browser?.request_access ?? null,
        };
      }
    }
    return {};
  })().then(reply);
  return true;  // the reply comes later
});

connect();
badge();
