// Kindred's page: talks only to this node's API, on this origin. Text from
// the network is always set with textContent, never parsed as HTML.
"use strict";

let csrf = "";
let current = null; // the open circle's id
let cursor = 0;
let following = 0; // bumps to stop an old follow loop

const $ = (id) => document.getElementById(id);

function notice(text) {
  $("notice").textContent = text;
}

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (method !== "GET") {
    opts.headers["X-Kindred-CSRF"] = csrf;
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body || {});
  }
  const r = await fetch(path, opts);
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    throw new Error(data.error || ("the node answered " + r.status));
  }
  return data;
}

function show(section) {
  for (const id of ["signin", "home", "circle"]) {
    $(id).hidden = id !== section;
  }
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function syncWords(t) {
  switch (t.sync) {
    case "in-sync": return "up to date";
    case "catching-up": return "catching up (" + t.catching_up + " so far)";
    case "no-peers": return "no one from this circle is online";
    case "gaps": return "some earlier messages have not arrived yet";
    default: return t.sync;
  }
}

async function home() {
  following++;
  current = null;
  const topics = await api("GET", "/v1/topics");
  const list = $("circles");
  list.replaceChildren();
  if (topics.length === 0) {
    list.append(el("li", "", "You are in no circles yet. Start one, or join with an invite."));
  }
  for (const t of topics) {
    const li = el("li");
    const a = el("a", "", t.name);
    a.href = "#" + t.id;
    a.addEventListener("click", (e) => { e.preventDefault(); openCircle(t.id); });
    li.append(a, el("span", "state", " · " + t.messages + " posts · " + syncWords(t) + " · you: " + t.role));
    list.append(li);
  }
  show("home");
}

function postItem(m) {
  const li = el("li");
  const who = el("span", "who", m.author_name || "anonymous");
  const role = m.role ? " (" + m.role + ")" : "";
  li.append(who, el("span", "handle", role + " " + m.handle));
  if (m.similar_to && m.similar_to.length) {
    li.append(el("span", "handle", " · name looks like " + m.similar_to.join(", ")));
  }
  li.append(el("span", "when", " · " + new Date(m.timestamp).toLocaleString()));
  li.append(el("p", "text", m.text));
  return li;
}

async function openCircle(id) {
  following++;
  current = id;
  const topics = await api("GET", "/v1/topics");
  const t = topics.find((x) => x.id === id);
  if (!t) return home();
  $("circle-name").textContent = t.name;
  $("circle-state").textContent = syncWords(t) + " · " + t.members + " members · you: " + t.role;
  $("circle-rules").textContent = t.rules || "This circle has no written rules.";
  $("invite-text").textContent = "";
  const r = await api("GET", "/v1/topics/" + id + "/messages?limit=200");
  const list = $("posts");
  list.replaceChildren(...r.messages.map(postItem));
  cursor = r.cursor;
  show("circle");
  follow(id, following);
}

async function follow(id, generation) {
  // A moment first: nothing is lost (the cursor holds), and a page opened
  // only to be read (a headless test's dump) settles without a long poll.
  await new Promise((ok) => setTimeout(ok, 1000));
  while (generation === following && current === id) {
    try {
      const r = await api("GET", "/v1/topics/" + id + "/follow?after=" + cursor + "&wait_ms=25000");
      if (generation !== following) return;
      cursor = r.cursor;
      for (const m of r.messages) $("posts").append(postItem(m));
    } catch (e) {
      notice("Lost touch with your node: " + e.message);
      await new Promise((ok) => setTimeout(ok, 3000));
    }
  }
}

async function start() {
  try {
    csrf = (await api("GET", "/v1/session")).csrf;
  } catch (e) {
    show("signin");
    return;
  }
  $("back").addEventListener("click", (e) => { e.preventDefault(); home(); });
  $("create").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const r = await api("POST", "/v1/topics", {
        name: $("create-name").value, rules: $("create-rules").value,
        my_name: $("create-me").value || null,
      });
      await openCircle(r.topic.id);
      $("invite-text").textContent = r.invite;
      notice("Circle started. Share the invite below only with people you want in it.");
    } catch (err) { notice(err.message); }
  });
  $("join").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const r = await api("POST", "/v1/join", {
        invite: $("join-invite").value, my_name: $("join-me").value || null,
      });
      notice(r.topic.role === "waiting to be admitted"
        ? "Asked to join. A member has not let you in yet; this page updates when they do."
        : "You are in. The circle's rules are below.");
      await openCircle(r.topic.id);
    } catch (err) { notice(err.message); }
  });
  $("post").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("post-text").value;
    if (!text.trim()) return;
    try {
      await api("POST", "/v1/topics/" + current + "/messages", { text });
      $("post-text").value = "";
    } catch (err) { notice(err.message); }
  });
  $("invite").addEventListener("click", async () => {
    try {
      const r = await api("POST", "/v1/topics/" + current + "/invite", {});
      $("invite-text").textContent = r.invite;
      if (navigator.clipboard) {
        await navigator.clipboard.writeText(r.invite).then(
          () => notice("Invite copied. Share it only with people you want in the circle."),
          () => notice("Select the invite below to copy it."));
      }
    } catch (err) { notice(err.message); }
  });
  await home();
  // A link to one circle (#ID) opens it.
  const wanted = location.hash.slice(1);
  if (wanted) await openCircle(wanted);
}

start();
