// The stand-in page's behaviour: what the gateway's page driver and RPC hook meet on AI Studio.
(() => {
  "use strict";
  const RPC = "/$rpc/google.internal.alkali.applications.makersuite.v1.MakerSuiteService/";
  const PREFS = "aiStudioUserPreference";
  const $ = (selector, root = document) => root.querySelector(selector);
  const state = { model: null, models: [], running: null, runs: 0 };
  window.standin = state;

  const report = (type, detail = {}) =>
    fetch("/standin/events", { method: "POST", body: JSON.stringify({ type, ...detail }), keepalive: true });

  // Switches, panels, menus -------------------------------------------------------------------
  document.querySelectorAll('button[role="switch"]').forEach((button) =>
    button.addEventListener("click", () => {
      const on = button.getAttribute("aria-checked") !== "true";
      button.setAttribute("aria-checked", String(on));
      button.textContent = on ? "on" : "off";
      if (button.getAttribute("aria-label") === "Toggle thinking budget between auto and manual") {
        $('[data-test-id="user-setting-budget-animation-wrapper"]').hidden = !on;
      }
    })
  );
  // Temporary chat: off on every load, as a new chat starts; on, the run is kept out of history.
  const temporary = $("ms-incognito-mode-toggle button");
  temporary.addEventListener("click", () => {
    const on = temporary.getAttribute("aria-pressed") !== "true";
    temporary.setAttribute("aria-pressed", String(on));
    temporary.classList.toggle("ms-button-active", on);
  });
  const panel = $("ms-system-instructions-panel");
  $("button[data-test-system-instructions-card]").onclick = () => (panel.hidden = false);
  $('button[aria-label="Close panel"]', panel).onclick = () => (panel.hidden = true);

  const level = $('mat-select[aria-label="Thinking level"]');
  const listbox = $('[role="listbox"]');
  level.onclick = () => (listbox.hidden = false);
  listbox.querySelectorAll('[role="option"]').forEach((option) => {
    option.onclick = () => {
      level.textContent = option.textContent;
      listbox.hidden = true;
    };
  });

  const chips = $("mat-chip-set");
  const stopInput = $('input[aria-label="Add stop token"]');
  stopInput.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !stopInput.value.trim()) return;
    const text = stopInput.value.trim();
    const chip = document.createElement("mat-chip");
    chip.dataset.value = text;
    chip.append(text + " ");
    const remove = document.createElement("button");
    remove.className = "remove-button";
    remove.setAttribute("aria-label", "Remove " + text);
    remove.textContent = "x";
    remove.onclick = () => chip.remove();
    chip.append(remove);
    chips.append(chip);
    stopInput.value = "";
  });

  const dialog = $("mat-dialog-container");
  let declarations = [];
  $("button.edit-function-declarations-button").onclick = () => {
    $("textarea", dialog).value = JSON.stringify(declarations);
    dialog.hidden = false;
  };
  $('button[aria-label="Save the current function declarations"]').onclick = () => {
    declarations = JSON.parse($("textarea", dialog).value || "[]");
    dialog.hidden = true;
  };

  // Insert assets: a menu (made when opened, as Angular Material does) whose Upload File item
  // holds a file input; each file shows as a chunk in the prompt box, with a spinner icon while it
  // "uploads", and goes into the next run's user turn as inline data.
  const overlay = $(".cdk-overlay-container");
  const chunkList = $(".prompt-chunks");
  const attachments = (state.attachments = []);
  $("button.add-chunk-menu-button").onclick = () => {
    overlay.innerHTML = '<div class="mat-mdc-menu-content"><button aria-label="Upload File">Upload File'
      + '<input type="file" multiple hidden></button></div>';
    $('input[type="file"]', overlay).addEventListener("change", (event) => {
      for (const file of event.target.files) attach(file);
    });
  };
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") overlay.innerHTML = "";
  });
  function attach(file) {
    const chunk = document.createElement(file.type.startsWith("image/") ? "ms-image-chunk" : "ms-file-chunk");
    chunk.innerHTML = '<mat-icon>progress_activity</mat-icon>';
    chunk.append(file.name);
    chunkList.append(chunk);
    const reader = new FileReader();
    reader.onload = () => {
      attachments.push({ mime: file.type, data: String(reader.result).split(",")[1], name: file.name });
      setTimeout(() => $("mat-icon", chunk).remove(), 150); // the upload takes a moment
    };
    reader.readAsDataURL(file);
  }

  // Models: the page asks its ListModels RPC, then picks ?model= or the remembered one ---------
  const prompter = $("ms-prompt-input-wrapper");
  prompter.hidden = true; // like the live page, no prompt box before the app has booted
  const listing = new XMLHttpRequest();
  listing.open("POST", RPC + "ListModels");
  listing.setRequestHeader("Content-Type", "application/json+protobuf");
  listing.onload = () => {
    state.models = JSON.parse(listing.responseText)[0].map((model) => model[0].slice("models/".length));
    const asked = new URLSearchParams(location.search).get("model");
    const remembered = (JSON.parse(localStorage.getItem(PREFS) || "{}").promptModel || "").replace("models/", "");
    state.model = [asked, remembered].find((m) => m && state.models.includes(m)) || state.models[0];
    const prefs = JSON.parse(localStorage.getItem(PREFS) || "{}");
    localStorage.setItem(PREFS, JSON.stringify({ ...prefs, promptModel: "models/" + state.model }));
    $('[data-test-id="model-name"]').textContent = state.model;
    // A model whose page has no native function calling: clients' tools have to be emulated.
    if (state.model === "gemini-2.5-pro") $('[data-test-id="functionCallingTooltip"]').remove();
    prompter.hidden = false;
  };
  listing.send("[]");

  // Run and Stop ----------------------------------------------------------------------------
  const run = $('button[aria-label="Run"]');
  const setRunning = (running) => {
    state.running = running;
    run.innerHTML = running
      ? 'Stop <svg width="10" height="10"><circle class="stoppable-spinner" r="4" cx="5" cy="5"></circle></svg>'
      : "Run";
  };
  run.addEventListener("click", (event) => {
    event.preventDefault();
    if (state.running) {
      state.running.abort();
      setRunning(null);
      report("stop");
    } else {
      start();
    }
  });

  const value = (selector) => $(selector).value;
  const checked = (selector) => $(selector) !== null && $(selector).getAttribute("aria-checked") === "true";

  function start() {
    state.runs += 1;
    const prompt = value("ms-prompt-input-wrapper textarea");
    const system = value('textarea[aria-label="System instructions"]');
    const stops = [...chips.querySelectorAll("mat-chip")].map((chip) => chip.dataset.value);
    const thinking = [
      checked('button[aria-label="Toggle thinking mode"]') ? 1 : 0,
      checked('button[aria-label="Toggle thinking budget between auto and manual"]')
        ? Number(value('[data-test-id="user-setting-budget-animation-wrapper"] input'))
        : -1,
      level.textContent.trim(),
    ];
    const config = [null, stops, null, Number(value('input[aria-label="Maximum output tokens"]')),
      Number(value('ms-slider[data-setting="temperature"] input[type="number"]')),
      Number(value('ms-slider[data-setting="topP"] input[type="number"]')), null, null, null, null,
      null, null, null, null, null, null, thinking];
    const functions = checked('[data-test-id="functionCallingTooltip"] button[role="switch"]') ? declarations : [];
    const parts = [[null, prompt], ...attachments.map((a) => [null, null, [a.mime, a.data]])];
    attachments.length = 0;
    chunkList.innerHTML = "";
    const body = ["models/" + state.model, [[parts, "user"]], null, config, "!standin-snapshot", null,
      functions.length ? [[functions]] : null, system ? [[[null, system]], "user"] : null,
      checked('[data-test-id="searchAsAToolTooltip"] button[role="switch"]') ? 1 : null,
      temporary.getAttribute("aria-pressed") === "true" ? 1 : null];

    const turn = document.createElement("ms-chat-turn");
    turn.innerHTML = '<div class="chat-turn-container user"></div>';
    turn.firstChild.textContent = prompt;
    const answer = document.createElement("ms-chat-turn");
    answer.innerHTML = '<div class="chat-turn-container model"><ms-thought-chunk></ms-thought-chunk>'
      + '<ms-cmark-node class="cmark-node"></ms-cmark-node></div>';
    $("ms-chat-session").append(turn, answer);
    const view = { seen: 0, answer };
    const finish = (linger) => {
      if (!linger) setRunning(null); // a lingering page keeps showing Stop after its answer
    };
    if (localStorage.getItem("standinTransport") === "fetch") viaFetch(body, view, finish);
    else viaXhr(body, view, finish);
  }

  function viaXhr(body, view, finish) {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", RPC + "GenerateContent");
    xhr.setRequestHeader("Content-Type", "application/json+protobuf");
    xhr.onreadystatechange = () => {
      if (xhr.readyState === 2) warn(xhr.getResponseHeader("x-standin-warning"));
    };
    xhr.onprogress = () => {
      if (xhr.status === 200) consume(xhr.responseText, view);
      if (xhr.getResponseHeader("x-standin-freeze") === "1") for (;;); // the renderer hangs for good
    };
    xhr.onload = () => {
      if (xhr.status !== 200) return failed(xhr.status, finish);
      consume(xhr.responseText, view);
      finish(xhr.getResponseHeader("x-standin-linger") === "1");
    };
    xhr.onerror = () => finish(false);
    xhr.send(JSON.stringify(body));
    setRunning({ abort: () => xhr.abort() });
  }

  function viaFetch(body, view, finish) {
    const controller = new AbortController();
    setRunning({ abort: () => controller.abort() });
    fetch(RPC + "GenerateContent", {
      method: "POST",
      headers: { "Content-Type": "application/json+protobuf" },
      body: JSON.stringify(body),
      signal: controller.signal,
    }).then(async (response) => {
      if (response.status !== 200) return failed(response.status, finish);
      warn(response.headers.get("x-standin-warning"));
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let text = "";
      for (;;) {
        const { done, value: bytes } = await reader.read();
        if (done) break;
        text += decoder.decode(bytes, { stream: true });
        consume(text, view);
      }
      finish(response.headers.get("x-standin-linger") === "1");
    }).catch(() => {});
  }

  // The older layout's quota notice: a warning callout above the prompt, the run left hanging.
  function warn(text) {
    if (!text) return;
    $("ms-callout.warning-callout .message").textContent = text;
    $("ms-callout.warning-callout").hidden = false;
  }

  function failed(status, finish) {
    if (status === 429) {
      $("ms-callout.error-callout .message").textContent =
        "Failed to generate content, quota exceeded: you have reached your limit for this model.";
      $("ms-callout.error-callout").hidden = false;
    }
    finish(false);
  }

  // The body so far is a JSON array missing its closing bracket until the end.
  function consume(text, view) {
    let chunks = null;
    for (const candidate of [text, text + "]"]) {
      try {
        chunks = JSON.parse(candidate);
        break;
      } catch (error) {
        // a chunk still arriving
      }
    }
    if (!chunks) return;
    for (const chunk of chunks.slice(view.seen)) render(chunk, view);
    view.seen = chunks.length;
  }

  function render(chunk, view) {
    const parts = chunk[0][0][0][0];
    for (const part of parts) {
      if (part.length > 10 && part[10]) {
        const call = document.createElement("ms-function-call-chunk");
        call.textContent = part[10][0];
        $(".chat-turn-container", view.answer).append(call);
      } else if (part.length > 2) {
        $("ms-thought-chunk", view.answer).append(part[1]);
      } else {
        $("ms-cmark-node", view.answer).append(part[1]);
      }
    }
  }
})();
