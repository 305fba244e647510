// One circle: its posts live, posting, inviting, its people and roles, and
// your own place in it. See app.js for api(), el(), who().
"use strict";

const C = { id: null, topic: null, cursor: 0, members: [] };
// The newest posts a circle shows when opened (fast on an old laptop).
const SHOWN = 1000;
// What one post can hold (the node counts UTF-8 bytes: accented letters
// and other scripts take more than one each).
const POST_BYTES = 32 * 1024;
// Past these a post is shown folded.
const LONG_LINES = 12;
const LONG_CHARS = 1500;

// A person in an action line: "you", or their name and ~handle, isolated.
function named(n) {
  return n.you ? document.createTextNode("you") : who(n.name, n.handle);
}

// A circle action as a plain line among the posts (the CLI says the same).
function actionItem(m) {
  const a = m.action;
  const li = el("li", "action");
  li.dataset.author = m.author;
  const t = el("time", "when", when(m.timestamp) + " ");
  t.dateTime = new Date(m.timestamp).toISOString();
  const p = el("p", "text");
  p.append(t);
  const say = (...parts) => {
    for (const x of parts) p.append(typeof x === "string" ? document.createTextNode(x) : x);
  };
  const by = named(a.by);
  const whom = a.whom ? named(a.whom) : "";
  switch (a.what) {
    case "joined":
      say(whom, " joined");
      if (a.invite) say(" with invite " + a.invite + (a.invite_made ? " of " + when(a.invite_made) : "") + ", let in by ", by);
      break;
    case "removed": say(by, " removed ", whom); break;
    case "appointed": say(by, " made ", whom, " a moderator"); break;
    case "demoted": say(by, " made ", whom, " no longer a moderator"); break;
    case "left": say(by, " left the circle"); break;
    case "rules": say(by, " changed the circle's rules"); break;
    case "readmitted": say(by, " let ", whom, " back: an invite can let them in again"); break;
    default: say(by, " " + a.what + " ", whom);
  }
  if (a.reason) say(": " + safe(a.reason));
  li.append(p);
  return li;
}

function postItem(m) {
  if (m.action) return actionItem(m);
  const li = el("li", m.mine ? "mine" : "");
  li.dataset.author = m.author;
  const head = el("p", "meta");
  head.append(who(m.author_name, m.handle, m.role));
  if (m.similar_to && m.similar_to.length) {
    head.append(el("span", "warn", "name looks like " + m.similar_to.join(", ")));
  }
  const t = el("time", "when", when(m.timestamp));
  t.dateTime = new Date(m.timestamp).toISOString();
  head.append(t);
  if (m.late_by) head.append(el("span", "warn", "arrived late"));
  // A long post (or one of many blank lines) shows its start, with a way
  // to read it all: one post cannot push the circle off the screen.
  const lines = m.text.split("\n");
  const long = lines.length > LONG_LINES || m.text.length > LONG_CHARS;
  const body = el("p", "text", long ? lines.slice(0, LONG_LINES).join("\n").slice(0, LONG_CHARS) + " \u2026" : m.text);
  li.append(head, body);
  if (long) {
    const all = button("Show all of it (" + lines.length + " lines, " + [...m.text].length + " characters)", () => {
      body.textContent = safe(m.text);
      all.remove();
    }, "link");
    li.append(all);
  }
  if (!m.mine) {
    li.append(button("Write privately to " + (m.author_name || m.handle), () => {
      location.hash = "#m/" + encodeURIComponent(m.handle);
    }, "link"));
    li.append(button("Block " + safeLine(m.author_name || m.handle), () => blockAuthor(m), "link"));
  }
  return li;
}

// Blocking hides the person everywhere: their posts in every circle and
// their private messages; "People you blocked" under Private messages undoes it.
async function blockAuthor(m) {
  if (!confirm("Block " + safeLine(m.author_name || m.handle) + " " + m.handle + "? Their posts and private messages will not be shown anywhere until you unblock them (under Private messages).")) return;
  try {
    await api("POST", "/v1/consent", { peer: m.handle, action: "block" });
    notice("Blocked. Nothing from them will be shown, here or in private messages.");
    circleView(C.id);
  } catch (err) { notice(err.message); }
}

async function circleView(id) {
  const gen = K.generation;
  const topics = await api("GET", "/v1/topics");
  K.topics = topics;
  const t = topics.find((x) => x.id === id || x.id.startsWith(id));
  if (!t) {
    notice("This circle is not on this node (you may have left it).");
    location.hash = "#circles";
    return;
  }
  C.id = t.id;
  C.topic = t;
  $("circle-name").textContent = safe(t.name);
  renderCircleState(t);
  $("circle-rules").textContent = safe(t.rules || "This circle has no written rules.");
  $("rename-name").value = t.my_name;
  $("rules-text").value = t.rules;
  const moderator = t.role === "owner" || t.role === "moderator";
  $("rules-form").hidden = !moderator;
  $("rotate-row").hidden = !moderator;
  $("post").hidden = !["owner", "moderator", "member"].includes(t.role);
  const r = await api("GET", "/v1/topics/" + t.id + "/messages?limit=" + SHOWN);
  if (gen !== K.generation) return;
  const list = $("posts");
  list.replaceChildren(...r.messages.map(postItem));
  if (!r.messages.some((m) => !m.action)) {
    // History held sealed means people talked before this node came in, in
    // a circle that keeps that for those who were there.
    list.append(el("li", "empty", t.sealed > 0
      ? "People talked here before you joined; this circle keeps what was said then for those who were there. What is said from now on appears here."
      : "Nothing has been said here yet."));
  }
  C.cursor = r.cursor;
  if (K.pendingInvite) {
    showInvite(K.pendingInvite);
    K.pendingInvite = null;
  } else {
    $("invite-text").textContent = "";
    $("invite-copy").hidden = true;
  }
  show("circle");
  list.lastElementChild && list.lastElementChild.scrollIntoView({ block: "end" });
  // For the page benchmark (kindred-bench page): when the posts are drawn.
  requestAnimationFrame(() => performance.mark("posts-rendered"));
  seen();
  refreshPeople(gen);
  followPosts(t.id, gen);
}

function renderCircleState(t) {
  // Someone who is out is told so plainly, with what they still have,
  // not that a key is "being renewed" (nothing is coming to them).
  const out = t.role.startsWith("removed") || t.role === "left";
  $("circle-state").textContent = syncWords(t) + " · " + people(t.members) + " · you: " + t.role
    + (t.keys_ok || out ? "" : " · the circle's key is being renewed");
  const box = $("circle-out");
  box.hidden = !out;
  box.textContent = !out ? ""
    : (t.role === "left" ? "You left this circle." : "You were " + safe(t.role) + ".")
      + " You can still read what was said while you were in it, here on your own device. Nothing said since reaches you, and you cannot post here."
      + (t.role === "left" ? "" : " If you think this was a mistake, write privately to a moderator; only a moderator can let you back.");
}

function seen() {
  if (document.visibilityState === "visible") {
    api("POST", "/v1/topics/" + C.id + "/seen", { cursor: C.cursor }).catch(() => {});
  }
}

async function followPosts(id, gen) {
  // A moment first: nothing is lost (the cursor holds), and a page opened
  // only to be read (a headless test's dump) settles without a long poll.
  await new Promise((ok) => setTimeout(ok, 300));
  while (gen === K.generation) {
    try {
      const r = await api("GET", "/v1/topics/" + id + "/follow?after=" + C.cursor + "&wait_ms=20000");
      if (gen !== K.generation) return;
      C.cursor = r.cursor;
      if (r.messages.length) {
        const list = $("posts");
        const empty = list.querySelector(".empty");
        if (empty && r.messages.some((m) => !m.action)) empty.remove();
        for (const m of r.messages) list.append(postItem(m));
        if (window.kindredTiming) {
          const at = performance.timeOrigin + performance.now();
          for (const m of r.messages) window.kindredTiming.push([m.id, at]);
        }
        const others = r.messages.filter((m) => !m.mine && !m.action);
        if (others.length) {
          $("posts-live").textContent = others.length === 1
            ? "New post from " + safeLine(others[0].author_name || others[0].handle)
            : others.length + " new posts";
        }
        list.lastElementChild.scrollIntoView({ block: "end" });
        seen();
      }
      if (r.messages.length || r.people_changed) K.topics = await api("GET", "/v1/topics");
      const t = K.topics.find((x) => x.id === id);
      if (t) {
        C.topic = t;
        renderCircleState(t);
      }
      // Someone joined, left, was removed or renamed: the people, invites
      // and requests shown, and the names on posts, follow at once.
      if (r.people_changed) await refreshPeople(gen);
    } catch (e) {
      await new Promise((ok) => setTimeout(ok, 3000));
    }
  }
}

// ---- people and invites ----

async function refreshPeople(gen) {
  const t = C.topic;
  const moderator = t.role === "owner" || t.role === "moderator";
  try {
    const members = await api("GET", "/v1/topics/" + t.id + "/members");
    if (gen !== K.generation) return;
    C.members = members;
    renameShown(members);
    const list = $("member-list");
    list.replaceChildren();
    for (const m of members) {
      const li = el("li");
      li.append(who(m.name, m.handle, m.role === "member" ? "" : m.role));
      if (m.mine) li.append(el("span", "muted", " (you)"));
      if (m.similar_to && m.similar_to.length) li.append(el("span", "warn", "name looks like " + m.similar_to.join(", ")));
      const state = m.state === "member" ? "in the circle since " + when(m.since)
        : m.state === "removed" ? "removed by " + (m.removed_by || "a moderator") + (m.reason ? " (" + m.reason + ")" : "")
          + (m.readmitted ? "; a moderator has let them back, so an invite can let them in again" : "; no invite lets them back in")
        : m.state;
      li.append(el("p", "muted", state));
      if (m.state === "removed" && moderator && !m.readmitted) {
        const row = el("p", "actions");
        row.append(button("Let " + safeLine(m.name || m.handle) + " back…", () => readmit(m), "quiet"));
        li.append(row);
      }
      if (m.state === "member" && !m.mine) {
        const row = el("p", "actions");
        row.append(button("Write privately", () => { location.hash = "#m/" + encodeURIComponent(m.handle); }, "quiet"));
        if (t.role === "owner" && m.role === "member") row.append(button("Make moderator", () => act("promote", m), "quiet"));
        if (t.role === "owner" && m.role === "moderator") row.append(button("Stop being moderator", () => act("demote", m), "quiet"));
        if (moderator && m.role !== "owner" && !(t.role === "moderator" && m.role === "moderator")) {
          row.append(button("Remove from circle…", () => removeMember(m), "danger"));
        }
        li.append(row);
      }
      list.append(li);
    }
    const inv = await api("GET", "/v1/topics/" + t.id + "/invites");
    if (gen !== K.generation) return;
    const il = $("invite-list");
    il.replaceChildren();
    if (inv.invites.length === 0) il.append(el("li", "", "No invites yet."));
    for (const i of inv.invites) {
      const li = el("li");
      const limits = [i.max_uses ? i.uses + " of " + i.max_uses + " uses" : i.uses + " uses"];
      if (i.expires) limits.push("until " + when(i.expires));
      if (i.approval) limits.push("a moderator lets each person in");
      li.append(el("span", "who", "Invite " + i.id), el("p", "muted", i.state + " · made by " + i.issuer + " · " + limits.join(" · ")));
      if (i.state === "active" && moderator) {
        li.append(button("Switch this invite off", () => revoke(i), "quiet"));
      }
      il.append(li);
    }
    const wl = $("waiting-list");
    wl.replaceChildren();
    if (inv.waiting.length === 0) wl.append(el("li", "", "No one is waiting."));
    for (const w of inv.waiting) {
      const li = el("li");
      li.append(who(w.name, w.handle), el("p", "muted", "asked " + when(w.since) + " with invite " + w.invite));
      if (moderator) li.append(button("Let " + (w.name || w.handle) + " in", () => approve(w), ""));
      wl.append(li);
    }
  } catch (err) { notice(err.message); }
}

// Posts show each person's name now (as the CLI does): after a rename
// the posts already on screen follow.
function renameShown(members) {
  const names = new Map(members.map((m) => [m.key, m.name]));
  for (const li of $("posts").querySelectorAll("li[data-author]")) {
    if (!names.has(li.dataset.author)) continue;
    const n = li.querySelector(".meta .who");
    if (n && names.get(li.dataset.author)) n.textContent = names.get(li.dataset.author);
  }
}

async function act(what, m) {
  try {
    await api("POST", "/v1/topics/" + C.id + "/" + what, { member: m.handle });
    notice(what === "promote" ? (m.name || m.handle) + " is now a moderator." : (m.name || m.handle) + " is no longer a moderator.");
    refreshPeople(K.generation);
  } catch (err) { notice(err.message); }
}

async function removeMember(m) {
  const reason = prompt("Remove " + safeLine(m.name || m.handle) + " " + m.handle + " from the circle? They will not see anything said after this, and no invite lets them back in unless a moderator lets them back. You can give a reason (optional):", "");
  if (reason === null) return;
  let revokeInvite = false;
  if (m.invite && m.invite_active) {
    const others = Math.max(0, (m.invite_uses || 0) - 1);
    revokeInvite = confirm("They came in with invite " + m.invite + ", which let in " + others + " other " + (others === 1 ? "person" : "people") + " and still works: anyone holding it can still join. Switch that invite off too?");
  }
  try {
    await api("POST", "/v1/topics/" + C.id + "/remove", { member: m.handle, reason, revoke_invite: revokeInvite });
    notice((m.name || m.handle) + " was removed. The circle moves to a new key." + (revokeInvite ? " The invite they came in with no longer works." : ""));
    refreshPeople(K.generation);
  } catch (err) { notice(err.message); }
}

async function readmit(m) {
  if (!confirm("Let " + safeLine(m.name || m.handle) + " " + m.handle + " back? Any invite that still works will let them in again.")) return;
  try {
    await api("POST", "/v1/topics/" + C.id + "/readmit", { member: m.handle });
    notice((m.name || m.handle) + " may come back now.");
    refreshPeople(K.generation);
  } catch (err) { notice(err.message); }
}

async function revoke(i) {
  try {
    await api("POST", "/v1/topics/" + C.id + "/revoke", { id: i.id });
    notice("That invite no longer works.");
    refreshPeople(K.generation);
  } catch (err) { notice(err.message); }
}

async function approve(w) {
  try {
    await api("POST", "/v1/topics/" + C.id + "/approve", { id: w.id });
    notice((w.name || w.handle) + " is let in.");
    refreshPeople(K.generation);
  } catch (err) { notice(err.message); }
}

function showInvite(text) {
  $("invite-box").open = true;
  $("invite-text").textContent = text;
  $("invite-copy").hidden = false;
}

async function makeInvite(e) {
  e.preventDefault();
  const n = (id) => ($(id).value ? Number($(id).value) : null);
  try {
    const r = await api("POST", "/v1/topics/" + C.id + "/invite", {
      expires_hours: $("invite-unlimited").checked ? "never" : n("invite-hours"),
      uses: $("invite-unlimited").checked ? "unlimited" : n("invite-uses"),
      approve: $("invite-approve").checked,
    });
    showInvite(r.invite);
    await copy(r.invite, "Invite made and copied. Share it only with people you want in the circle.");
    refreshPeople(K.generation);
  } catch (err) { notice(err.message); }
}

async function post(e) {
  e.preventDefault();
  const text = $("post-text").value;
  if (!text.trim()) return;
  try {
    await api("POST", "/v1/topics/" + C.id + "/messages", { text });
    $("post-text").value = "";
  } catch (err) { notice(err.message); }
}

async function rename(e) {
  e.preventDefault();
  try {
    await api("POST", "/v1/topics/" + C.id + "/rename", { name: $("rename-name").value });
    notice("Your name in this circle is now " + $("rename-name").value + ".");
  } catch (err) { notice(err.message); }
}

async function saveRules(e) {
  e.preventDefault();
  try {
    await api("POST", "/v1/topics/" + C.id + "/rules", { rules: $("rules-text").value });
    $("circle-rules").textContent = $("rules-text").value || "This circle has no written rules.";
    notice("The rules are saved.");
  } catch (err) { notice(err.message); }
}

async function rotate() {
  try {
    await api("POST", "/v1/topics/" + C.id + "/rotate", {});
    notice("The circle has a new key. Only its members get it.");
  } catch (err) { notice(err.message); }
}

async function leave() {
  const name = C.topic ? C.topic.name : "this circle";
  if (!confirm("Leave \u201c" + safeLine(name) + "\u201d? Everything this computer holds of it is deleted, and you need a new invite to come back.")) return;
  try {
    await api("POST", "/v1/topics/" + C.id + "/leave", {});
    notice("You left \u201c" + name + "\u201d.");
    location.hash = "#circles";
  } catch (err) { notice(err.message); }
}

window.circleView = circleView;
window.circleStateChanged = () => {
  const t = K.topics.find((x) => x.id === C.id);
  if (t) renderCircleState(t);
};
window.showInvite = showInvite;
window.circleSetup = () => {
  $("post").addEventListener("submit", post);
  $("post-text").addEventListener("input", () => lengthHint("post-text", "post-count", POST_BYTES));
  sendOnEnter("post-text", "post");
  $("invite-form").addEventListener("submit", makeInvite);
  $("invite-copy").addEventListener("click", () => copy($("invite-text").textContent, "Invite copied."));
  $("rename").addEventListener("submit", rename);
  $("rules-form").addEventListener("submit", saveRules);
  $("rotate").addEventListener("click", rotate);
  $("leave").addEventListener("click", leave);
  document.addEventListener("visibilitychange", () => { if (K.view === "circle") seen(); });
};
