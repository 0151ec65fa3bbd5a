// painterly studio page. Everything shown is inserted with textContent or as attributes of
// elements made here; nothing from the server or the user is ever parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const MAIN = ["method", "preset", "size", "iterations", "preserve_color", "seed", "strength",
              "photorealistic"];
const FINISHED = ["done", "failed", "cancelled", "interrupted"];
// What the content picker takes when the studio reads clips (the formats painterly video reads).
const CLIP_TYPES = "video/*,.mp4,.m4v,.mov,.mkv,.webm,.gif";
const state = { schema: null, content: null, styles: [], parent: null, job: null, source: null };

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

async function api(method, url, body) {
  // Every change carries X-Painterly: the studio refuses changes without it (or JSON), which
  // a page on another site cannot send.
  const init = { method, headers: method === "GET" ? {} : { "X-Painterly": "1" } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url, init);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(describe(data.detail) || `${response.status} ${response.statusText}`);
  return data;
}

function describe(detail) {
  return typeof detail === "string" ? detail : "";  // the studio answers one sentence
}

function seconds(s) {
  if (s === null || s === undefined || !isFinite(s)) return "–";
  s = Math.round(s);
  return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
       : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

function losses(values) {
  return Object.entries(values || {}).map(([k, v]) => `${k} ${Number(v).toPrecision(3)}`).join(" · ");
}

// ----- the form -----

function fillSelect(select, values, keepFirst = true) {
  if (!keepFirst) select.replaceChildren();
  for (const value of values) select.append(el("option", { value, text: value }));
}

async function loadSchema() {
  const schema = await api("GET", "/api/options");
  state.schema = schema;
  fillSelect($("method"), schema.methods, false);
  fillSelect($("preset"), Object.keys(schema.presets));
  fillSelect($("content-example"), schema.examples);
  fillSelect($("style-example"), schema.examples);
  const byName = Object.fromEntries(schema.fields.map((f) => [f.name, f]));
  fillSelect($("preserve-color"), byName.preserve_color.choices, false);
  for (const name of ["size", "iterations", "seed"]) $(name).placeholder = String(byName[name].default);
  if (schema.takes_video) $("content-file").accept = `image/*,${CLIP_TYPES}`;
  $("video-note").textContent = `A clip of at most ${schema.limits.max_video_seconds} s and ` +
    `${Math.round(schema.limits.max_video_upload_bytes / 2 ** 20)} MB; each frame is shown as it is finished.`;
  for (const field of schema.video_fields) {
    const switched = typeof field.default === "boolean";
    const input = switched ? el("input", { type: "checkbox", "data-video": field.name })
                           : el("input", { "data-video": field.name, placeholder: field.default_text ?? "" });
    const name = field.name.replaceAll("_", " ");
    const children = switched ? [input, ` ${name}`] : [name, " ", input];
    $("video-fields").append(el("label", { title: field.help, class: switched ? "wide" : "" }, children));
  }
  $("method").title = byName.method.help;
  $("photorealistic").parentElement.title = byName.photorealistic.help;
  const advanced = $("advanced");
  for (const field of schema.fields) {
    if (MAIN.includes(field.name)) continue;
    let input;
    if (field.choices) {
      input = el("select", { "data-option": field.name });
      input.append(el("option", { value: "", text: `default (${field.default})` }));
      fillSelect(input, field.choices);
    } else {
      input = el("input", { "data-option": field.name, placeholder: placeholder(field.default) });
    }
    advanced.append(el("label", { title: field.help }, [field.name.replaceAll("_", " "), " ", input]));
  }
}

function placeholder(value) {
  if (value === null) return "off";
  if (Array.isArray(value)) return value.length ? value.join(",") : "none";
  if (typeof value === "object") return Object.entries(value).map(([k, v]) => `${k}:${v}`).join(",");
  return String(value);
}

function chip(ref, onRemove) {
  const url = ref.upload ? `/api/uploads/${encodeURIComponent(ref.upload)}/image`
                         : `/api/examples/${encodeURIComponent(ref.example)}`;
  const clip = ref.video ? ` · video, ${Number(ref.video.duration).toFixed(1)} s, ${ref.video.frames} frames`
                         : ref.kind === "video" ? " · video" : "";
  return el("span", { class: "chip" }, [
    el("img", { src: url, alt: "" }),
    el("span", { text: (ref.name || ref.example || "upload") + clip }),
    el("button", { type: "button", class: "secondary", text: "×", title: "remove", onclick: onRemove }),
  ]);
}

function isClip(ref) {
  return Boolean(ref && ref.kind === "video");
}

function showInputs() {
  $("video-settings").hidden = !isClip(state.content);
  $("content-chosen").replaceChildren(
    ...(state.content ? [chip(state.content, () => { state.content = null; showInputs(); })] : []));
  $("styles-chosen").replaceChildren(...state.styles.map((ref, i) =>
    chip(ref, () => { state.styles.splice(i, 1); showInputs(); })));
}

async function upload(file) {
  const form = new FormData();
  form.append("file", file);
  const stored = await api("POST", "/api/uploads", form);
  return { upload: stored.id, name: file.name, kind: stored.kind, video: stored.video };
}

async function onFiles(input, handle) {
  $("form-error").textContent = "";
  try {
    for (const file of input.files) handle(await upload(file));
  } catch (error) {
    $("form-error").textContent = `Upload refused: ${error.message}`;
  }
  input.value = "";
  showInputs();
}

function ref(r) {
  return r.upload ? { upload: r.upload } : { example: r.example };
}

function formOptions() {
  const options = {};
  const set = (name, value) => { if (value !== "" && value !== null) options[name] = value; };
  set("method", $("method").value);
  set("preset", $("preset").value);
  set("size", $("size").value);
  set("iterations", $("iterations").value);
  set("preserve_color", $("preserve-color").value);
  set("seed", $("seed").value);
  if ($("use-strength").checked) set("strength", $("strength").value);
  if ($("photorealistic").checked) options.photorealistic = true;
  for (const input of document.querySelectorAll("[data-option]")) set(input.dataset.option, input.value.trim());
  return options;
}

function formVideo() {
  const settings = {};
  for (const input of document.querySelectorAll("[data-video]")) {
    if (input.type === "checkbox") { if (input.checked) settings[input.dataset.video] = true; }
    else if (input.value.trim() !== "") settings[input.dataset.video] = input.value.trim();
  }
  return settings;
}

async function start(event) {
  event.preventDefault();
  $("form-error").textContent = "";
  if (!state.content) { $("form-error").textContent = "Choose a photograph (content image)."; return; }
  if (!state.styles.length) { $("form-error").textContent = "Choose at least one style image."; return; }
  $("start").disabled = true;
  try {
    const job = await api("POST", "/api/jobs", {
      content: ref(state.content), styles: state.styles.map(ref), options: formOptions(),
      video: isClip(state.content) ? formVideo() : undefined, parent: state.parent,
    });
    state.parent = null;
    $("rerun-note").hidden = true;
    watch(job);
    refreshGallery();
  } catch (error) {
    $("form-error").textContent = error.message;
  } finally {
    $("start").disabled = false;
  }
}

function prefill(job) {
  const options = { ...job.options };
  const refName = (r) => ({ ...r, name: r.example || "earlier upload" });
  state.content = { ...refName(job.content), kind: job.kind };
  state.styles = job.styles.map(refName);
  $("method").value = options.method || state.schema.methods[0];
  $("preset").value = options.preset || "";
  $("size").value = options.size ?? "";
  $("iterations").value = options.iterations ?? "";
  $("preserve-color").value = options.preserve_color || "none";
  $("seed").value = options.seed ?? "";
  $("photorealistic").checked = options.photorealistic === true;
  $("use-strength").checked = options.strength !== undefined && options.strength !== null;
  $("strength").disabled = !$("use-strength").checked;
  if ($("use-strength").checked) $("strength").value = options.strength;
  $("strength-value").textContent = $("strength").value;
  for (const input of document.querySelectorAll("[data-option]")) {
    const value = options[input.dataset.option];
    input.value = value === undefined || value === null ? "" : placeholder(value);
  }
  for (const input of document.querySelectorAll("[data-video]")) {
    const value = (job.video || {})[input.dataset.video];
    if (input.type === "checkbox") input.checked = value === true || value === "true";
    else input.value = value === undefined || value === null ? "" : String(value);
  }
  state.parent = job.id;
  $("rerun-note").textContent = `Re-running job ${job.id.slice(0, 8)}: change what you like and press Start.`;
  $("rerun-note").hidden = false;
  showInputs();
  $("new-job").scrollIntoView({ behavior: "smooth" });
}

// ----- the current job -----

function watch(job) {
  if (state.source) state.source.close();
  state.job = job;
  $("current").hidden = false;
  $("live-image").removeAttribute("src");
  const player = $("result-video");
  player.removeAttribute("src");
  delete player.dataset.result;
  show(job);
  if (FINISHED.includes(job.state)) return;
  const source = new EventSource(job.urls.events);
  state.source = source;
  source.onmessage = (event) => {
    $("job-error").textContent = "";
    const update = JSON.parse(event.data);
    if (update.preview) $("live-image").src = update.preview;
    show(update);
    if (FINISHED.includes(update.state)) { source.close(); refreshGallery(); }
  };
  source.addEventListener("deleted", () => source.close());
  source.onerror = () => {
    $("job-error").textContent = "Lost contact with the studio; reconnecting…";
  };
}

function show(job) {
  state.job = job;
  const total = job.total || 1;
  $("progress").max = total;
  $("progress").value = Math.min(job.iteration, total);
  const clip = job.kind === "video";
  $("current-caption").textContent = `job ${job.id.slice(0, 8)} · ${job.options.method || state.schema.methods[0]}` +
    (clip ? " · video" : "");
  const where = clip ? `frame ${job.iteration} / ${job.total}` : `iteration ${job.iteration} of ${job.total}`;
  let status = `${job.state}: ${where}`;
  if (job.state === "running" && job.eta === null) status = `running: starting at ${where}…`;
  else if (job.state === "running") status += ` · elapsed ${seconds(job.elapsed)} · ETA ${seconds(job.eta)}`;
  if (job.state === "queued") status = "queued: waiting for the jobs before it";
  $("status").textContent = status;
  $("losses").textContent = losses(job.losses);
  $("job-error").textContent = job.error || "";
  $("cancel").hidden = FINISHED.includes(job.state);
  $("restart").hidden = !["interrupted", "failed", "cancelled"].includes(job.state);
  const result = job.urls.result;
  $("download").hidden = !result;
  if (result) {
    $("download").href = result;
    if (FINISHED.includes(job.state)) $("live-image").src = `${job.urls.preview}?v=${job.iteration}`;
  }
  // A finished clip plays in place of its last frame.
  const player = $("result-video");
  const playing = clip && Boolean(result) && FINISHED.includes(job.state);
  player.hidden = !playing;
  $("live-image").hidden = playing;
  if (playing && player.dataset.result !== result) {
    player.dataset.result = result;
    player.src = `${result}?download=false`;
  }
}

// ----- the gallery -----

async function refreshGallery() {
  let jobs;
  try { jobs = await api("GET", "/api/jobs"); } catch { return; }
  $("gallery-empty").hidden = jobs.length > 0;
  $("gallery").replaceChildren(...jobs.map(card));
  if (state.job) {
    const current = jobs.find((j) => j.id === state.job.id);
    if (current && (!state.source || state.source.readyState === EventSource.CLOSED)) show(current);
  }
}

function progressText(job) {
  return job.kind === "video" ? `video · frame ${job.iteration} / ${job.total}` : `${job.iteration}/${job.total}`;
}

function card(job) {
  const painted = job.urls.result || job.checkpoint > 0;
  const picture = painted ? `${job.urls.preview}?v=${job.iteration}` : job.urls.content;
  const settings = el("dl");
  for (const [key, value] of Object.entries({ ...job.options, ...(job.video || {}) })) {
    settings.append(el("dt", { text: key.replaceAll("_", " ") }), el("dd", { text: placeholder(value) }));
  }
  const action = (text, handler, secondary = true) =>
    el("button", { type: "button", class: secondary ? "secondary" : "", text, onclick: handler });
  const act = (fn) => async () => {
    try { await fn(); } catch (error) { alert(error.message); }
    refreshGallery();
  };
  const actions = [action("View", () => watch(job))];
  if (job.urls.result) actions.push(el("a", { class: "button", href: job.urls.result, download: "", text: "Download" }));
  if (!FINISHED.includes(job.state)) actions.push(action("Cancel", act(() => api("POST", `/api/jobs/${job.id}/cancel`))));
  if (["interrupted", "failed", "cancelled"].includes(job.state)) {
    actions.push(action("Restart", act(async () => watch(await api("POST", `/api/jobs/${job.id}/restart`)))));
  }
  actions.push(action("Run again with changes", () => prefill(job)));
  if (job.state !== "running") actions.push(action("Delete", act(() => api("DELETE", `/api/jobs/${job.id}`))));
  const when = new Date(job.created * 1000).toLocaleString();
  return el("li", { class: "card", "data-job": job.id }, [
    el("img", { class: "result", src: picture, alt: `job ${job.id.slice(0, 8)}` }),
    el("div", { class: "inputs" }, [job.urls.content, ...job.urls.styles].map((src) => el("img", { src, alt: "" }))),
    el("div", {}, [el("span", { class: `state ${job.state}`, text: job.state }),
                   el("span", { class: "small", text: ` · ${progressText(job)} · ${when}` })]),
    ...(job.error ? [el("p", { class: "error small", text: job.error })] : []),
    settings,
    el("div", { class: "actions" }, actions),
  ]);
}

// ----- wiring -----

document.addEventListener("DOMContentLoaded", async () => {
  $("job-form").addEventListener("submit", start);
  $("content-file").addEventListener("change", (e) => onFiles(e.target, (r) => { state.content = r; }));
  $("style-files").addEventListener("change", (e) => onFiles(e.target, (r) => state.styles.push(r)));
  $("content-example").addEventListener("change", (e) => {
    if (e.target.value) state.content = { example: e.target.value };
    e.target.value = "";
    showInputs();
  });
  $("style-example").addEventListener("change", (e) => {
    if (e.target.value) state.styles.push({ example: e.target.value });
    e.target.value = "";
    showInputs();
  });
  $("use-strength").addEventListener("change", (e) => { $("strength").disabled = !e.target.checked; });
  $("strength").addEventListener("input", (e) => { $("strength-value").textContent = e.target.value; });
  $("cancel").addEventListener("click", async () => {
    try { await api("POST", `/api/jobs/${state.job.id}/cancel`); } catch (error) { $("job-error").textContent = error.message; }
  });
  $("restart").addEventListener("click", async () => {
    try { watch(await api("POST", `/api/jobs/${state.job.id}/restart`)); } catch (error) { $("job-error").textContent = error.message; }
    refreshGallery();
  });
  try {
    await loadSchema();
  } catch (error) {
    $("form-error").textContent = `The studio did not answer: ${error.message}`;
  }
  await refreshGallery();
  setInterval(refreshGallery, 4000);
});
