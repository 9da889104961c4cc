// The demo page: one photo (upload or sample) + caption -> POST recommend -> ranked hashtags.
// "Add" moves a suggestion to the accepted list and asks again with `accepted`, so the rest is
// re-ranked given it; clicking an accepted tag removes it and re-ranks. No network beyond the
// demo server, no libraries. Everything the server sends is shown as text (never as HTML).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { info: null, file: null, sample: null, previewUrl: null, accepted: [], seq: 0 };

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function setPreview(src) {
  const img = $("preview");
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = src && src.startsWith("blob:") ? src : null;
  img.hidden = !src;
  $("preview-empty").hidden = Boolean(src);
  $("clear-photo").hidden = !src;
  if (src) img.src = src; else img.removeAttribute("src");
}

function newPost() {  // another photo: earlier acceptances belonged to the old post
  state.accepted = [];
  renderAccepted();
  renderSuggestions([]);
  $("notes").replaceChildren();
}

function clearPhoto(keepInput = false) {
  state.file = null;
  state.sample = null;
  if (!keepInput) $("photo").value = "";
  $("sample-tags").hidden = true;
  document.querySelectorAll("#samples button").forEach((b) => b.classList.remove("chosen"));
  setPreview(null);
}

function mb(bytes) { return (bytes / 1e6).toFixed(1) + " MB"; }

function onPhotoChosen() {
  const file = $("photo").files[0];
  showError("");
  if (!file) return;
  clearPhoto(true);
  newPost();
  const limit = state.info ? state.info.max_upload_bytes : Infinity;
  if (file.size > limit) {
    $("photo").value = "";
    showError(`${file.name} is ${mb(file.size)}: the demo accepts photos up to ${mb(limit)}.`);
    return;
  }
  state.file = file;
  setPreview(URL.createObjectURL(file));
  suggest();
}

function chooseSample(sample, button) {
  clearPhoto();
  newPost();
  showError("");
  state.sample = sample.id;
  button.classList.add("chosen");
  setPreview(sample.image);
  $("caption").value = sample.text;
  const tags = $("sample-tags");
  tags.textContent = sample.hashtags.length
    ? "The post's own hashtags: " + sample.hashtags.map((t) => "#" + t).join(" ")
    : "";
  tags.hidden = !sample.hashtags.length;
  suggest();
}

function renderAccepted() {
  const list = $("accepted");
  list.replaceChildren(...state.accepted.map((tag) => {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "chip";
    b.dataset.tag = tag;
    b.title = "remove #" + tag;
    b.textContent = "#" + tag + " \u00d7";
    b.addEventListener("click", () => {
      state.accepted = state.accepted.filter((t) => t !== tag);
      renderAccepted();
      suggest();
    });
    li.append(b);
    return li;
  }));
  $("accepted-empty").hidden = state.accepted.length > 0;
}

function renderSuggestions(hashtags) {
  const top = hashtags.length ? hashtags[0].score : 1;
  $("suggestions").replaceChildren(...hashtags.map(({ tag, score }) => {
    const li = document.createElement("li");
    li.dataset.tag = tag;
    const name = document.createElement("span");
    name.className = "tag";
    name.textContent = "#" + tag;
    name.title = "#" + tag;
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = (top > 0 ? Math.max(2, (100 * score) / top) : 0).toFixed(0) + "%";
    bar.append(fill);
    const value = document.createElement("span");
    value.className = "score";
    value.textContent = score >= 0.0005 ? score.toFixed(3) : "<0.001";
    value.title = String(score);
    li.dataset.score = String(score);
    const add = document.createElement("button");
    add.type = "button";
    add.className = "add";
    add.textContent = "Add";
    add.title = "accept #" + tag;
    add.addEventListener("click", () => {
      if (!state.accepted.includes(tag)) state.accepted.push(tag);
      renderAccepted();
      suggest();
    });
    li.append(name, bar, value, add);
    return li;
  }));
}

function renderNotes(notes) {
  $("notes").replaceChildren(...notes.map((n) => {
    const li = document.createElement("li");
    li.textContent = n;
    return li;
  }));
}

async function suggest() {
  const caption = $("caption").value;
  if (!state.file && !state.sample && !caption.trim()) {
    showError("Give a photo, a caption or both.");
    return;
  }
  const form = new FormData();
  if (state.file) form.append("image", state.file);
  else if (state.sample) form.append("sample", state.sample);
  form.append("text", caption);
  for (const field of ["user", "existing", "history", "k"]) form.append(field, $(field).value);
  form.append("accepted", state.accepted.join(","));
  const seq = ++state.seq;  // a newer request supersedes this one
  document.body.classList.add("busy");
  $("status").textContent = "Thinking\u2026";
  let response, data;
  try {
    response = await fetch("recommend", { method: "POST", body: form });
    data = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
  } catch (err) {
    response = null;
    data = { error: "could not reach the demo server (is it still running?)" };
  }
  if (seq !== state.seq) return;
  document.body.classList.remove("busy");
  if (!response || !response.ok) {
    showError(data.error || `the server answered ${response.status}`);
    $("status").textContent = "No suggestions.";
    renderSuggestions([]);
    if (state.file && response && response.status !== 404) clearPhoto();  // a bad upload
    return;
  }
  showError("");
  renderSuggestions(data.hashtags);
  renderNotes(data.notes);
  const n = data.hashtags.length;
  $("status").textContent = n
    ? `${n} suggestion${n === 1 ? "" : "s"}, best first (scores from the model).`
    : "The model has nothing more to suggest.";
}

async function start() {
  $("photo").addEventListener("change", onPhotoChosen);
  $("clear-photo").addEventListener("click", () => { clearPhoto(); newPost(); });
  $("suggest").addEventListener("click", suggest);
  $("caption").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) suggest();
  });
  renderAccepted();
  try {
    state.info = await (await fetch("info")).json();
  } catch (err) {
    showError("could not reach the demo server (is it still running?)");
    return;
  }
  const info = state.info;
  $("run-info").textContent =
    `Run "${info.run}": ${info.vocabulary} hashtags; photos up to ${mb(info.max_upload_bytes)}.`;
  $("k").value = info.k;
  $("k").max = info.max_k;
  $("caption").maxLength = info.max_text_chars;
  if (!info.image) {
    $("photo-row").hidden = true;
    $("preview-box").hidden = true;
  }
  if (info.image && info.samples.length) {
    $("samples-box").hidden = false;
    $("samples-part").textContent = info.samples_part || "test";
    $("samples").replaceChildren(...info.samples.map((s) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "sample";
      b.dataset.id = s.id;
      b.title = s.text || s.id;
      const img = document.createElement("img");
      img.src = s.image;
      img.alt = "sample " + s.id;
      b.append(img);
      b.addEventListener("click", () => chooseSample(s, b));
      return b;
    }));
  }
  document.body.dataset.ready = "true";
}

start();
