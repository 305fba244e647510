// Kindred's page: talks only to this node's API, on this origin. Text from
// the network is always set with textContent, never parsed as HTML.
// app.js: talking to the node, the views' frame, circles list, status and
// settings; circle.js: one circle; chat.js: private messages.
"use strict";

const K = {
  csrf: "",
  view: "",
  generation: 0, // bumps when the view changes, to stop its live loops
  topics: [],
  inbox: { conversations: [], requests: [] },
  down: false,
  noticeAge: 0,
};

const $ = (id) => document.getElementById(id);

// A notice lives through the one view change its action may cause.
function notice(text) {
  text = safe(text);
  $("notice").textContent = text;
  K.noticeAge = 0;
  setTimeout(() => { if ($("notice").textContent === text) $("notice").textContent = ""; }, 15000);
}

// Other people's text, made harmless to show: control, bidi and line
// separator characters (which reorder or fake what is shown) become
// visible escapes, as the CLI shows them; newlines and tabs stay. What is
// kept and sent is never changed.
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
function safe(s) {
  return String(s).replace(UNSAFE, (c) => "\\u{" + c.codePointAt(0).toString(16) + "}");
}
// The same on one line (a dialog, a notification): newlines shown too.
function safeLine(s) {
  return safe(s).replace(/[\n\t]/g, (c) => (c === "\n" ? "\\n" : "\\t"));
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = safe(text);
  return e;
}

// Enter sends, Shift+Enter makes a new line (as in most chat apps).
function sendOnEnter(textarea, form) {
  $(textarea).addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $(form).requestSubmit(); }
  });
}

function button(text, onClick, cls) {
  const b = el("button", cls || "", text);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

// The node cannot be reached: say so plainly, keep trying in the background.
function nodeDown(down) {
  K.down = down;
  const b = $("node-state");
  b.hidden = !down;
  const waiting = (K.inbox && K.inbox.waiting) || 0;
  b.textContent = down
    ? "Your Kindred node is not running, or this page cannot reach it. Nothing you write can be sent until it is back. Start it again (kindred up); this page reconnects by itself."
      + (waiting ? " " + (waiting === 1 ? "One private message you wrote waits" : waiting + " private messages you wrote wait")
        + " on this computer; " + (waiting === 1 ? "it goes" : "they go") + " once Kindred runs again and the person is online." : "")
    : "";
}

async function api(method, path, body) {
  // The cookie alone opens nothing: every request carries the session's
  // second secret, which only this page holds.
  const opts = { method, headers: { "X-Kindred-CSRF": K.csrf }, credentials: "same-origin" };
  if (method !== "GET") {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body || {});
  }
  let r;
  try {
    r = await fetch(path, opts);
  } catch (e) {
    nodeDown(true);
    throw new Error("your node cannot be reached");
  }
  if (K.down) nodeDown(false);
  const data = await r.json().catch(() => ({}));
  if (r.status === 401 && path !== "/v1/session") {
    show("signin");
    throw new Error("not signed in");
  }
  if (!r.ok) {
    throw new Error(data.error || ("the node answered " + r.status));
  }
  return data;
}

const VIEWS = ["signin", "welcome", "circles", "circle", "messages", "chat", "status", "settings"];

function show(view) {
  K.view = view;
  for (const id of VIEWS) $(id).hidden = id !== view;
  $("nav").hidden = view === "signin" || view === "welcome";
  for (const [v, link] of [["circles", "nav-circles"], ["messages", "nav-messages"], ["status", "nav-status"], ["settings", "nav-settings"]]) {
    const here = view === v || (v === "circles" && view === "circle") || (v === "messages" && view === "chat");
    if (here) $(link).setAttribute("aria-current", "page");
    else $(link).removeAttribute("aria-current");
  }
  // Move focus to the new view's heading, so keyboard and screen-reader
  // users land where the content starts.
  const h = $(view).querySelector("h2");
  if (h) h.focus({ preventScroll: false });
}

// One person, shown one way everywhere: their name and the same short handle.
function who(name, handle, role) {
  const s = el("span", "person");
  // Isolated (app.css) and its own direction: a name written right to
  // left, or one with bidi controls, cannot reorder the handle beside it.
  const n = el("span", "who", name || "someone");
  n.dir = "auto";
  s.append(n);
  if (role) s.append(el("span", "role", role));
  if (handle) s.append(el("span", "handle", handle));
  return s;
}

function when(ms) {
  const d = new Date(ms);
  const today = new Date();
  return d.toDateString() === today.toDateString()
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

// A circle's state in words a person can trust.
function syncWords(t) {
  if (t.role === "waiting to be admitted") return "waiting for a member to let you in";
  if (t.members <= 1 && t.peers === 0) return "only you so far: share an invite to bring someone in";
  let w;
  switch (t.sync) {
    case "in-sync": w = "up to date"; break;
    case "catching-up": w = "catching up (" + t.catching_up + " so far)"; break;
    case "gaps": w = "some earlier messages have not arrived yet"; break;
    case "no-peers": w = "no one from this circle is online"; break;
    default: w = t.sync;
  }
  if (t.sync === "no-peers") {
    w += t.last_in_touch
      ? "; you may have missed messages since " + when(t.last_in_touch)
      : "; nothing has arrived since you joined";
  }
  return w;
}

function people(n) {
  return n === 1 ? "1 person" : n + " people";
}

function badge(id, n) {
  const b = $(id);
  b.hidden = !n;
  b.textContent = n > 99 ? "99+ new" : n + " new";
}

// ---- circles list ----

async function circlesView() {
  K.topics = await api("GET", "/v1/topics");
  renderCircles();
  show("circles");
}

function renderCircles() {
  const list = $("circle-list");
  list.replaceChildren();
  if (K.topics.length === 0) {
    list.append(el("li", "", "You are in no circles yet. Start one, or join with an invite someone gave you."));
  }
  for (const t of K.topics) {
    const li = el("li");
    const a = el("a", "title", t.name);
    a.href = "#c/" + t.id;
    li.append(a);
    if (t.unread) li.append(el("span", "badge", t.unread > 99 ? "99+ new" : t.unread + " new"));
    li.append(el("p", "muted", syncWords(t) + " · " + people(t.members) + " · you: " + t.role));
    list.append(li);
  }
  badge("unread-circles", K.topics.reduce((n, t) => n + t.unread, 0));
}

async function startCircle(e) {
  e.preventDefault();
  try {
    const r = await api("POST", "/v1/topics", {
      name: $("create-name").value, rules: $("create-rules").value,
      my_name: $("create-me").value || null,
      share_history: $("create-share").checked, moderators_invite: $("create-mods").checked,
    });
    $("create").reset();
    $("create-box").open = false;
    K.pendingInvite = r.invite;
    location.hash = "#c/" + r.topic.id;
    notice("Circle started. Share the invite only with people you want in it.");
  } catch (err) { notice(err.message); }
}

async function readInvite(e) {
  e.preventDefault();
  try {
    const p = await api("POST", "/v1/invite/preview", { invite: $("join-invite").value });
    if (p.already_member) {
      notice("You are already in \u201c" + p.name + "\u201d.");
      location.hash = "#c/" + p.id;
      return;
    }
    $("join-name").textContent = safe(p.name);
    $("join-owner").textContent = "Started by " + (p.owner_name ? safe(p.owner_name) + " " : "") + p.owner
      + (p.expires ? " · this invite stops working " + when(p.expires) : "");
    $("join-rules").textContent = safe(p.rules || "This circle has no written rules.");
    $("join-accept").checked = false;
    $("join-read").hidden = true;
    $("join").hidden = false;
    $("join-name").tabIndex = -1;
    $("join-name").focus();
  } catch (err) { notice(err.message); }
}

function cancelJoin() {
  $("join").hidden = true;
  $("join-read").hidden = false;
}

async function join(e) {
  e.preventDefault();
  if (!$("join-accept").checked) {
    notice("Please read the rules and tick the box to agree to them first.");
    return;
  }
  try {
    const r = await api("POST", "/v1/join", {
      invite: $("join-invite").value, my_name: $("join-me").value || null,
    });
    $("join-read").reset();
    cancelJoin();
    $("join-box").open = false;
    notice(r.topic.role === "waiting to be admitted"
      ? "Asked to join. A member has not let you in yet; this page updates when they do."
      : "You are in. Welcome.");
    location.hash = "#c/" + r.topic.id;
  } catch (err) { notice(err.message); }
}

// ---- status and settings ----

// One answer, in the words `kindred status` uses: whether others can dial
// this node, and if not, whether a relay keeps a place for it (a relay's
// reservation shows as a listen address through it).
function reachWords(s) {
  const relays = s.listen.filter((a) => a.includes("/p2p-circuit")).map((a) => a.split("/p2p-circuit")[0]);
  if (s.reachability === "public") return "directly: people can connect to this computer";
  if (s.reachability === "private") {
    return relays.length
      ? "through a relay (this computer is behind a router or firewall): " + relays.join(", ")
      : "only from this network for now: this computer is behind a router or firewall and no relay keeps a place for it yet";
  }
  return "not known yet: no one has tried to connect back" + (relays.length ? "; a relay keeps a place for you: " + relays.join(", ") : "");
}

async function statusView() {
  const [s, peers] = await Promise.all([api("GET", "/v1/status"), api("GET", "/v1/peers")]);
  const facts = [
    ["This node", s.peer_id],
    ["How others reach you", reachWords(s)],
    ["People connected now", String(s.peers)],
    ["Listening on", s.listen.filter((a) => !a.includes("/p2p-circuit")).join(", ") || "nothing yet"],
    ["Data kept in", s.data_dir],
    ["Records set aside as damaged", String(s.quarantined)],
    ["Kindred version", s.version],
  ];
  const dl = $("status-list");
  dl.replaceChildren();
  for (const [k, v] of facts) dl.append(el("dt", "", k), el("dd", "", v));
  const list = $("peer-list");
  list.replaceChildren();
  if (peers.length === 0) list.append(el("li", "", "No one is connected right now."));
  for (const p of peers) {
    const li = el("li");
    if (p.handles.length) p.handles.forEach((h, i) => li.append(who(p.names[i], h), " "));
    else li.append(el("span", "who", "a node not in your circles"));
    li.append(el("p", "muted", (p.topics.length ? "in " + p.topics.join(", ") : "shares no circle with you") + " · " + p.peer_id));
    list.append(li);
  }
  show("status");
}

async function settingsView() {
  const [p, c] = await Promise.all([api("GET", "/v1/profile"), api("GET", "/v1/contact")]);
  $("profile-name").value = p.name;
  $("contact-code").textContent = c.contact;
  $("notify-on").checked = localStorage.getItem("notify") === "on";
  $("notify-text").checked = localStorage.getItem("notify-text") === "on";
  show("settings");
}

async function copy(text, done) {
  try {
    await navigator.clipboard.writeText(text);
    notice(done);
  } catch (e) {
    notice("Select the text above to copy it.");
  }
}

async function saveProfile(e) {
  e.preventDefault();
  try {
    await api("POST", "/v1/profile", { name: $("welcome").hidden ? $("profile-name").value : $("welcome-name").value, welcomed: true });
    notice("Saved.");
    if (!$("welcome").hidden) location.hash = "#circles";
  } catch (err) { notice(err.message); }
}

async function notifySetting() {
  if ($("notify-on").checked && "Notification" in window && Notification.permission !== "granted") {
    const answer = await Notification.requestPermission().catch(() => "denied");
    if (answer !== "granted") {
      $("notify-on").checked = false;
      notice("Your browser did not allow notifications.");
    }
  }
  localStorage.setItem("notify", $("notify-on").checked ? "on" : "off");
  localStorage.setItem("notify-text", $("notify-text").checked ? "on" : "off");
}

// ---- the frame ----

async function route() {
  K.generation++;
  if (K.noticeAge++ >= 1) $("notice").textContent = "";
  const h = decodeURIComponent(location.hash.slice(1));
  try {
    if (h === "welcome") { show("welcome"); return; }
    if (h.startsWith("c/")) return await window.circleView(h.slice(2));
    if (/^[0-9a-f]{64}$/.test(h)) return await window.circleView(h);
    if (h.startsWith("m/")) return await window.chatView(h.slice(2));
    if (h === "messages") return await window.messagesView();
    if (h === "status") return await statusView();
    if (h === "settings") return await settingsView();
    return await circlesView();
  } catch (err) { notice(err.message); }
}

// Every few seconds: unread counts, requests, whether the node is there.
async function background() {
  for (;;) {
    await new Promise((ok) => setTimeout(ok, 4000));
    if (K.view === "signin") continue;
    try {
      K.topics = await api("GET", "/v1/topics");
      if (K.view === "circles") renderCircles();
      else badge("unread-circles", K.topics.reduce((n, t) => n + t.unread, 0));
      if (K.view === "circle") window.circleStateChanged();
      await window.inboxChanged(await api("GET", "/v1/inbox"));
    } catch (e) { /* the banner says it */ }
  }
}

// The sign-in redirect hands the page its session's second secret in the
// URL fragment (never sent to any server). It is kept for this tab only
// and taken out of the address bar and history at once.
function takeSignin() {
  const m = /^#signin=([0-9a-f]{64})$/.exec(location.hash);
  if (m) {
    sessionStorage.setItem("kindred-signin", m[1]);
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem("kindred-signin") || "";
}

async function start() {
  K.csrf = takeSignin();
  try {
    await api("GET", "/v1/session");
  } catch (e) {
    show("signin");
    return;
  }
  $("create").addEventListener("submit", startCircle);
  $("join-read").addEventListener("submit", readInvite);
  $("join").addEventListener("submit", join);
  $("join-cancel").addEventListener("click", cancelJoin);
  $("welcome-form").addEventListener("submit", saveProfile);
  $("welcome-skip").addEventListener("click", async () => {
    await api("POST", "/v1/profile", { welcomed: true }).catch(() => {});
    location.hash = "#circles";
  });
  $("profile").addEventListener("submit", saveProfile);
  $("contact-copy").addEventListener("click", () => copy($("contact-code").textContent, "Contact code copied."));
  $("notify-on").addEventListener("change", notifySetting);
  $("notify-text").addEventListener("change", notifySetting);
  window.circleSetup();
  window.chatSetup();
  window.addEventListener("hashchange", route);
  // Each notice belongs to one action: the next action (a form sent, a
  // button pressed) clears it before it runs, so a refusal does not stay
  // on screen after the next try went through.
  const fresh = (e) => { if (e.type === "submit" || e.target.closest("button")) $("notice").textContent = ""; };
  document.addEventListener("submit", fresh, true);
  document.addEventListener("click", fresh, true);
  const p = await api("GET", "/v1/profile").catch(() => ({ welcomed: true }));
  if (!p.welcomed && !location.hash) location.hash = "#welcome";
  await route();
  background();
}

document.addEventListener("DOMContentLoaded", start);

// Says, once a text nears what it can hold, how much room is left, in
// characters and as a share (counting as the node does, in UTF-8 bytes).
function lengthHint(textarea, out, maxBytes) {
  const text = $(textarea).value;
  const bytes = new TextEncoder().encode(text).length;
  const chars = [...text].length;
  let say = "";
  if (bytes > maxBytes) {
    say = chars + " characters: about " + Math.ceil(bytes * 100 / maxBytes - 100) + "% too long. Split it into two or more.";
  } else if (bytes > maxBytes * 0.8) {
    say = chars + " characters: " + Math.floor(bytes * 100 / maxBytes) + "% of what fits.";
  }
  $(out).textContent = say;
}
