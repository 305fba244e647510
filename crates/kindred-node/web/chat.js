// Private messages: requests (accept, decline, block), conversations with
// delivery states, and opt-in notifications. See app.js for api(), el().
"use strict";

const M = { peer: null, last: "" };

const STATES = {
  queued: "waiting on this computer: it goes when they are online while Kindred runs here",
  sent: "sent, not yet confirmed by their device",
  delivered: "delivered to their device",
  received: "",
  request: "",
};

// A person in private messages, shown as in circles: name and handle.
function convPerson(c) {
  const handle = c.handles && c.handles.length ? c.handles[0] : "contact \u2026" + c.peer.slice(-8);
  return who(c.name, handle);
}

function convLabel(c) {
  return safeLine(c.name || "someone") + " " + (c.handles && c.handles.length ? c.handles[0] : "\u2026" + c.peer.slice(-8));
}

async function consent(peer, action) {
  await api("POST", "/v1/consent", { peer, action });
  notice({ accept: "Accepted: you can now write to each other.", decline: "Declined. They are not told.", block: "Blocked. Nothing from them will be shown, here or in circles.", unblock: "Unblocked." }[action]);
}

function renderInbox() {
  const rl = $("request-list");
  rl.replaceChildren();
  if (K.inbox.requests.length === 0) rl.append(el("li", "", "No one is asking to talk to you."));
  for (const c of K.inbox.requests) {
    const li = el("li");
    li.append(convPerson(c), el("p", "text", c.last_text));
    const row = el("p", "actions");
    row.append(
      button("Read all of it", () => { location.hash = "#m/" + c.peer; }, "quiet"),
      button("Accept " + convLabel(c), async () => { await consent(c.peer, "accept").catch((e) => notice(e.message)); location.hash = "#m/" + c.peer; }),
      button("Decline", async () => { await consent(c.peer, "decline").catch((e) => notice(e.message)); messagesView(); }, "quiet"),
      button("Block", async () => { await consent(c.peer, "block").catch((e) => notice(e.message)); messagesView(); }, "danger"),
    );
    li.append(row);
    rl.append(li);
  }
  const bl = $("blocked-list");
  bl.replaceChildren();
  const blocked = K.inbox.blocked || [];
  if (blocked.length === 0) bl.append(el("li", "", "You have blocked no one."));
  for (const c of blocked) {
    const li = el("li");
    li.append(convPerson(c));
    li.append(button("Unblock " + convLabel(c), async () => { await consent(c.peer, "unblock").catch((e) => notice(e.message)); messagesView(); }, "quiet"));
    bl.append(li);
  }
  const cl = $("conversation-list");
  cl.replaceChildren();
  const convs = K.inbox.conversations.filter((c) => c.consent !== "blocked");
  if (convs.length === 0) cl.append(el("li", "", "No private conversations yet. Write to someone from a circle, or with their contact code."));
  for (const c of convs) {
    const li = el("li");
    const a = el("a", "title");
    a.href = "#m/" + c.peer;
    a.append(convPerson(c));
    li.append(a);
    if (c.unread) li.append(el("span", "badge", c.unread + " new"));
    if (c.last_timestamp) li.append(el("p", "muted", when(c.last_timestamp) + " · " + c.last_text));
    cl.append(li);
  }
}

async function messagesView() {
  K.inbox = await api("GET", "/v1/inbox");
  renderInbox();
  show("messages");
}

function chatItem(m, c) {
  const li = el("li", m.mine ? "mine" : "");
  const head = el("p", "meta");
  head.append(m.mine ? who("You") : convPerson(c));
  const t = el("time", "when", when(m.timestamp));
  t.dateTime = new Date(m.timestamp).toISOString();
  head.append(t);
  const state = m.mine ? STATES[m.state] : "";
  if (state) head.append(el("span", "state", state));
  // Written a while before it reached you (it waited while one of you
  // was offline), so it sits after messages written later: say so.
  if (m.late) head.append(el("span", "warn", "reached you " + when(m.received_at)));
  li.append(head, el("p", "text", m.text));
  return li;
}

async function chatView(peer) {
  const gen = K.generation;
  K.inbox = await api("GET", "/v1/inbox");
  M.peer = peer;
  M.last = "";
  await renderChat(gen);
  show("chat");
  followChat(gen);
}

function findConv(peer, msgs) {
  const all = K.inbox.conversations.concat(K.inbox.requests);
  const byPeer = msgs.length ? msgs[0].peer : null;
  return all.find((c) => c.peer === peer || c.peer === byPeer || (c.handles || []).includes(peer))
    || { peer: byPeer || "", handles: peer.startsWith("~") ? [peer] : [], name: nameInCircle(peer), consent: "accepted" };
}

// The name a person goes by in the circle this conversation was started
// from (before they reply, the node knows no other).
function nameInCircle(handle) {
  const m = (typeof C === "undefined" ? [] : C.members || []).find((x) => x.handle === handle);
  return m ? m.name : null;
}

async function renderChat(gen) {
  const r = await api("GET", "/v1/chat?peer=" + encodeURIComponent(M.peer) + "&limit=300");
  if (gen !== K.generation) return;
  const key = JSON.stringify(r.messages.map((m) => [m.id, m.state]));
  if (key === M.last) return;
  M.last = key;
  const c = findConv(M.peer, r.messages);
  $("chat-name").replaceChildren(convPerson(c));
  const request = c.consent === "requested" || K.inbox.requests.some((x) => x.peer === c.peer);
  $("chat-consent").hidden = !request;
  const isBlocked = c.consent === "blocked" || (K.inbox.blocked || []).some((x) => x.peer === c.peer);
  $("chat-block-now").hidden = request || isBlocked;
  $("chat-unblock").hidden = !isBlocked;
  $("chat-state").textContent = request
    ? "They asked to talk to you. Nothing you write reaches them until you accept."
    : c.consent === "blocked" ? "You blocked them." : "Only the two of you can read this.";
  const list = $("chat-list");
  list.replaceChildren(...r.messages.map((m) => chatItem(m, c)));
  if (r.messages.length === 0) list.append(el("li", "empty", "No messages yet. Say hello."));
  list.lastElementChild.scrollIntoView({ block: "end" });
  const news = r.messages.filter((m) => !m.mine);
  if (news.length) $("chat-live").textContent = "Latest from " + convLabel(c) + ": " + safeLine(news[news.length - 1].text.slice(0, 80));
  // Read means shown to the person: only while this view is on screen.
  if (news.length && document.visibilityState === "visible") {
    await api("POST", "/v1/chat/read", { peer: M.peer }).catch(() => {});
  }
}

// New messages at once (long poll), delivery states within a few seconds.
async function followChat(gen) {
  let cursor = 0;
  while (gen === K.generation) {
    try {
      const r = await api("GET", "/v1/chat/follow?peer=" + encodeURIComponent(M.peer) + "&after=" + cursor + "&wait_ms=3000");
      if (gen !== K.generation) return;
      cursor = r.cursor;
      await renderChat(gen);
    } catch (e) {
      await new Promise((ok) => setTimeout(ok, 3000));
    }
  }
}

async function sendChat(e) {
  e.preventDefault();
  const text = $("chat-text").value;
  if (!text.trim()) return;
  try {
    const r = await api("POST", "/v1/dm", { peer: M.peer, text });
    $("chat-text").value = "";
    if (r.state === "queued") notice("They are not online; your message goes as soon as they are.");
    await renderChat(K.generation);
  } catch (err) { notice(err.message); }
}

async function newChat(e) {
  e.preventDefault();
  const to = $("new-chat-to").value.trim();
  try {
    await api("POST", "/v1/dm", { peer: to, text: $("new-chat-text").value });
    $("new-chat").reset();
    location.hash = "#m/" + encodeURIComponent(to);
  } catch (err) { notice(err.message); }
}

// Called with each fresh inbox: badges, the list if open, notifications.
async function inboxChanged(inbox) {
  const before = K.inbox;
  K.inbox = inbox;
  const unread = inbox.conversations.reduce((n, c) => n + c.unread, 0) + inbox.requests.length;
  badge("unread-messages", unread);
  if (K.view === "messages") renderInbox();
  const known = new Map(before.conversations.concat(before.requests).map((c) => [c.peer, c.last_timestamp]));
  const fresh = inbox.conversations.concat(inbox.requests)
    .filter((c) => c.unread || inbox.requests.includes(c))
    .filter((c) => (known.get(c.peer) || 0) < c.last_timestamp && known.size + before.requests.length > 0);
  if (localStorage.getItem("notify") === "on" && "Notification" in window && Notification.permission === "granted") {
    for (const c of fresh) {
      if (K.view === "chat" && (M.peer === c.peer || (c.handles || []).includes(M.peer)) && document.visibilityState === "visible") continue;
      const body = localStorage.getItem("notify-text") === "on" ? c.last_text : "Open Kindred to read it.";
      const title = inbox.requests.includes(c) ? "Someone asks to talk to you" : "New private message from " + convLabel(c);
      new Notification(safeLine(title), { body: safeLine(body), tag: "kindred-" + c.peer });
    }
  }
}

window.messagesView = messagesView;
window.chatView = chatView;
window.inboxChanged = inboxChanged;
window.chatSetup = () => {
  $("chat-form").addEventListener("submit", sendChat);
  sendOnEnter("chat-text", "chat-form");
  $("new-chat").addEventListener("submit", newChat);
  $("chat-accept").addEventListener("click", async () => { await consent(M.peer, "accept").catch((e) => notice(e.message)); M.last = ""; K.inbox = await api("GET", "/v1/inbox"); renderChat(K.generation); });
  $("chat-decline").addEventListener("click", async () => { await consent(M.peer, "decline").catch((e) => notice(e.message)); location.hash = "#messages"; });
  $("chat-block").addEventListener("click", async () => { await consent(M.peer, "block").catch((e) => notice(e.message)); location.hash = "#messages"; });
  $("chat-block-now").addEventListener("click", async () => {
    if (!confirm("Block them? Nothing from them will be shown, in private or in any circle, until you unblock them (under Private messages).")) return;
    await consent(M.peer, "block").catch((e) => notice(e.message));
    location.hash = "#messages";
  });
  $("chat-unblock").addEventListener("click", async () => { await consent(M.peer, "unblock").catch((e) => notice(e.message)); M.last = ""; K.inbox = await api("GET", "/v1/inbox"); renderChat(K.generation); });
};
