// Bulwark's browser extension, page side. In pages of AI sites only (the background says which
// sites are), holds each paste, drop, file choice and file form submission until the session
// helper decides: blocked ones never reach the page, warned ones need a reason, allowed ones are
// handed on as they were. Elsewhere it does nothing.
"use strict";
(() => {
  const api = globalThis.browser ?? globalThis.chrome;
  let site = null;  // null until the background answers
  const siteKnown = api.runtime.sendMessage({kind: "site", url: location.href})
    .then((answer) => { site = answer ?? {ai: false}; })
    .catch(() => { site = {ai: false}; });
  const replayed = new WeakSet();      // events this script dispatched itself
  const approved = new WeakMap();      // file input → the FileList it approved

  async function inAISite() {
    if (site === null) await siteKnown;
    return site.ai;
  }

  function hold(event) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }

  /** A file's bytes as base64, read by a FileReader as a data: URL — a string, because Firefox
   * will not hand a page's objects (its ArrayBuffers, its promises) to an extension's code. */
  function readBase64(blob) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => { const url = String(reader.result); resolve(url.slice(url.indexOf(",") + 1)); };
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
  }

  async function describeFiles(files) {
    const max = site?.maxFileBytes ?? 16777216;
    const described = [];
    for (const file of files) {
      const data = await readBase64(file.size > max ? file.slice(0, max) : file);
      described.push({name: String(file.name), type: String(file.type), size: Number(file.size), data, truncated: file.size > max});
    }
    return described;
  }

  /** Asks for a decision and, for a warning, asks the user; true when the content may go on.
   * When asking fails (a file that cannot be read, the extension reloading), the policy's
   * `without_helper` decides, as when the helper is away. */
  async function decide(channel, text, files) {
    const unchecked = (reason) => {
      const block = site?.withoutHelper === "block";
      return {action: block ? "block" : "allow", offline: true,
              message: `Bulwark could not check this (${reason})${block ? "; your organisation's policy blocks it until it can" : ""}.`};
    };
    let verdict;
    try {
      verdict = await api.runtime.sendMessage({
        kind: "check", channel, origin: location.origin, text: text || undefined,
        files: files.length ? await describeFiles(files) : undefined,
      });
    } catch (error) {
      verdict = unchecked(error.message ?? String(error));
    }
    verdict ??= unchecked("no answer from the extension");
    if (verdict.action === "block") {
      notice(verdict, false);
      return false;
    }
    if (verdict.action === "warn") {
      const reason = await warn(verdict);
      if (reason === null) return false;
      await api.runtime.sendMessage({kind: "override", incident_id: verdict.incident_id, justification: reason});
    }
    return true;
  }

  // MARK: In-page messages (shadow DOM, so the site's styles and scripts stay out)

  function panel(build) {
    const host = document.createElement("bulwark-notice");
    const root = host.attachShadow({mode: "closed"});
    const style = document.createElement("style");
    style.textContent = `
      .box{position:fixed;z-index:2147483647;right:16px;bottom:16px;max-width:420px;background:#fff;color:#1d1b20;
           border:2px solid #b3261e;border-radius:8px;padding:14px 16px;font:14px/1.4 system-ui,sans-serif;box-shadow:0 4px 16px #0004}
      .box.warn{border-color:#b26a00} h1{font-size:15px;margin:0 0 6px} .id{font-family:monospace}
      textarea{width:100%;box-sizing:border-box;margin:8px 0;font:inherit} button{margin-right:8px;font:inherit}`;
    root.append(style);
    const box = document.createElement("div");
    box.className = "box";
    root.append(box);
    build(box, () => host.remove());
    (document.body ?? document.documentElement).append(host);
    return host;
  }

  function describe(verdict) {
    const types = (verdict.types ?? []).join(", ");
    return (verdict.message ? verdict.message + " " : "") + (types ? `Found: ${types}. ` : "");
  }

  function notice(verdict, warned) {
    panel((box, close) => {
      box.setAttribute("role", "alert");
      const title = document.createElement("h1");
      title.textContent = verdict.offline ? "Bulwark could not check this" : "Blocked by your organisation's data protection policy";
      const body = document.createElement("p");
      body.textContent = describe(verdict) + (verdict.incident_id ? "Incident " : "");
      if (verdict.incident_id) {
        const id = document.createElement("span");
        id.className = "id";
        id.textContent = verdict.incident_id;
        body.append(id);
      }
      const ok = document.createElement("button");
      ok.textContent = "OK";
      ok.onclick = close;
      box.append(title, body, ok);
      setTimeout(close, 20000);
    });
  }

  /** The warning dialog: resolves with the user's reason, or null when they cancel. */
  function warn(verdict) {
    return new Promise((resolve) => {
      panel((box, close) => {
        box.classList.add("warn");
        box.setAttribute("role", "dialog");
        const title = document.createElement("h1");
        title.textContent = "This may break your organisation's data protection policy";
        const body = document.createElement("p");
        body.textContent = describe(verdict) + `Incident ${verdict.incident_id}. To go ahead anyway, say why:`;
        const reason = document.createElement("textarea");
        reason.rows = 2;
        const go = document.createElement("button");
        go.textContent = "Go ahead";
        go.disabled = true;
        reason.oninput = () => { go.disabled = reason.value.trim().length < 3; };
        go.onclick = () => { close(); resolve(reason.value.trim()); };
        const cancel = document.createElement("button");
        cancel.textContent = "Cancel";
        cancel.onclick = () => { close(); resolve(null); };
        box.append(title, body, reason, go, cancel);
        setTimeout(() => reason.focus(), 0);
      });
    });
  }

  // MARK: Paste and drop

  function replay(target, type, text, html, files) {
    const data = new DataTransfer();
    if (text) data.setData("text/plain", text);
    if (html) data.setData("text/html", html);
    for (const file of files) data.items.add(file);
    const event = type === "paste"
      ? new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true, composed: true})
      : new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true, composed: true});
    replayed.add(event);
    target.dispatchEvent(event);
    // Nobody in the page took the paste: insert the text as the browser would have.
    if (!event.defaultPrevented && type === "paste" && text) {
      target.focus?.();
      document.execCommand("insertText", false, text);
    }
  }

  function onTransfer(event, transfer) {
    if (replayed.has(event) || !transfer) return;
    const text = transfer.getData("text/plain");
    const html = transfer.getData("text/html");
    const files = Array.from(transfer.files ?? []);
    if (!text && !files.length) {
      if (site?.ai) hold(event);  // what the clipboard guard refused arrives empty: nothing for the page
      return;
    }
    if (site && !site.ai) return;
    hold(event);
    const target = event.target;
    inAISite().then(async (ai) => {
      if (!ai || await decide(event.type, text, files)) replay(target, event.type, text, html, files);
    });
  }

  window.addEventListener("paste", (event) => onTransfer(event, event.clipboardData), true);
  window.addEventListener("drop", (event) => onTransfer(event, event.dataTransfer), true);

  // MARK: File inputs and forms

  function isFileInput(element) { return element instanceof HTMLInputElement && element.type === "file"; }

  window.addEventListener("change", (event) => {
    const input = event.target;
    if (replayed.has(event) || !isFileInput(input) || !input.files?.length) return;
    if (site && !site.ai) return;
    hold(event);
    const files = Array.from(input.files);
    inAISite().then(async (ai) => {
      if (ai && !await decide("upload", "", files)) {
        input.value = "";  // the chosen files are gone before the page sees them
        return;
      }
      approved.set(input, input.files);
      const again = new Event("change", {bubbles: true});
      replayed.add(again);
      input.dispatchEvent(again);
    });
  }, true);

  window.addEventListener("submit", (event) => {
    const form = event.target;
    if (replayed.has(event) || !(form instanceof HTMLFormElement)) return;
    const unchecked = Array.from(form.querySelectorAll("input[type=file]"))
      .filter((input) => input.files?.length && approved.get(input) !== input.files);
    // With typed prompts on, a form's text fields are the prompt it sends.
    const prompt = site?.typedPrompts ? Array.from(form.querySelectorAll("textarea")).map((field) => field.value).join("\n").trim() : "";
    const promptUnchecked = prompt !== "" && prompt !== promptCleared;
    if ((!unchecked.length && !promptUnchecked) || (site && !site.ai)) return;
    hold(event);
    const files = unchecked.flatMap((input) => Array.from(input.files));
    inAISite().then(async (ai) => {
      if (ai && promptUnchecked && !await decide("prompt", prompt, [])) return;
      if (ai && unchecked.length && !await decide("upload", "", files)) {
        for (const input of unchecked) input.value = "";
        return;
      }
      promptCleared = prompt;
      for (const input of unchecked) approved.set(input, input.files);
      form.requestSubmit(event.submitter ?? undefined);
    });
  }, true);

  // MARK: Typed prompts (policy browser.typed_prompts)

  function promptText(element) {
    if (element instanceof HTMLTextAreaElement || (element instanceof HTMLInputElement && element.type === "text")) return element.value;
    if (element?.isContentEditable) return element.innerText;
    return null;
  }

  let promptCleared = null;  // the text the user confirmed, so the resent Enter passes
  window.addEventListener("keydown", (event) => {
    if (!site?.ai || !site.typedPrompts || event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    const target = event.target;
    const text = promptText(target);
    if (!text || !text.trim() || text === promptCleared) return;
    hold(event);
    decide("prompt", text, []).then((go) => {
      if (!go) return;
      promptCleared = text;
      target.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", code: "Enter", keyCode: 13, bubbles: true, cancelable: true}));
    });
  }, true);
})();
