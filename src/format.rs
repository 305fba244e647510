//! How the CLI prints what the node answers.

use kindred_node::service_views::{
    ConversationView, DmView, InboxView, MessageView, PeerView, StatusView,
};
use kindred_node::TopicSummary;

/// Someone else's one-line text (a name, a circle's name), controls escaped.
pub fn safe(text: &str) -> std::borrow::Cow<'_, str> {
    kindred_proto::text::escape_line(text)
}

/// Multi-line text someone else wrote (rules), each line neutralised and
/// indented.
pub fn indent(text: &str) -> String {
    kindred_proto::text::lines(text)
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Marks the later lines of a multi-line post or private message. Message
/// lines start with `[`; these cannot, so no line of a message can pass for
/// another message.
const CONTINUED: &str = "    | ";

/// `head` then the text's first line; later lines behind [`CONTINUED`].
/// Every line is neutralised (terminal escapes, bidi overrides).
fn print_text(head: &str, text: &str) {
    let lines = kindred_proto::text::lines(text);
    let mut out = String::with_capacity(head.len() + text.len() + 8);
    out.push_str(head);
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(CONTINUED);
        }
        out.push_str(line);
    }
    println!("{out}");
}

fn json_line<T: serde::Serialize>(v: &T) {
    println!("{}", serde_json::to_string(v).unwrap_or_default());
}

/// UTC time of day for a millisecond timestamp, as YYYY-MM-DD HH:MM.
pub fn time(ms: u64) -> String {
    kindred_proto::authority::date(ms)
        .trim_end_matches(" UTC")
        .to_string()
}

pub fn message(m: &MessageView, json: bool) {
    if json {
        return json_line(m);
    }
    if let Some(a) = &m.action {
        return println!("[{} UTC] — {}", time(m.timestamp), action_words(a));
    }
    let name = safe(m.author_name.as_deref().unwrap_or("?"));
    let me = match (m.mine, m.role.as_str()) {
        (true, "") => " (you)".to_string(),
        (true, r) => format!(" (you, {r})"),
        (false, "") => String::new(),
        (false, r) => format!(" ({r})"),
    };
    let late = if m.late_by > 0 {
        format!(" (arrived late, placed {} back in history)", m.late_by)
    } else {
        String::new()
    };
    // A name another member also uses (or one that looks like it) is
    // shown with that warning every time, so nobody can pass for someone.
    let clash = if m.similar_to.is_empty() {
        String::new()
    } else {
        format!(" [name looks like {}'s]", m.similar_to.join(", "))
    };
    let head = format!(
        "[{} UTC]{late} {name}{me} {}{clash}: ",
        time(m.timestamp),
        m.handle
    );
    print_text(&head, &m.text);
}

pub fn topics(topics: &[TopicSummary], json: bool) {
    if json {
        return topics.iter().for_each(json_line);
    }
    if topics.is_empty() {
        println!("You are in no circles yet. Create one with `kindred topic create NAME` or join with `kindred join INVITE`.");
    }
    for t in topics {
        println!(
            "{}  {}  {} messages, {} member(s) connected, {}; you: {}",
            &t.id[..12],
            safe(&t.name),
            t.messages,
            t.peers,
            sync_words(t),
            safe(&t.role)
        );
    }
}

fn sync_words(t: &TopicSummary) -> String {
    match t.sync.as_str() {
        "gaps" => format!(
            "GAPS: {} message(s) waiting for {} earlier one(s) never received{}",
            t.pending,
            t.missing,
            t.gap_since
                .map(|s| format!(" (since {} UTC)", time(s)))
                .unwrap_or_default()
        ),
        "catching-up" => format!("catching up ({} messages so far)", t.catching_up),
        "no-peers" => "no member connected".into(),
        _ => "in sync".into(),
    }
}

pub fn peers(peers: &[PeerView], json: bool) {
    if json {
        return peers.iter().for_each(json_line);
    }
    if peers.is_empty() {
        println!("No peers connected.");
    }
    for p in peers {
        let handles = if p.handles.is_empty() {
            "-".to_string()
        } else {
            p.handles.join(",")
        };
        println!(
            "{}  {handles}  {}  {}",
            p.peer_id,
            p.addrs.join(" "),
            safe(&p.topics.join(", "))
        );
    }
}

pub fn status(s: &StatusView, json: bool) {
    if json {
        return json_line(s);
    }
    println!("peer id   {}", s.peer_id);
    println!("data dir  {}", s.data_dir);
    println!("api       {}", s.api.as_deref().unwrap_or("-"));
    for a in &s.listen {
        println!("listening {a}");
    }
    let relayed = s.listen.iter().any(|a| a.contains("/p2p-circuit"));
    let reach = match (s.reachability.as_str(), relayed) {
        ("public", _) => "public: peers can dial this node directly",
        ("private", true) => "behind NAT or a firewall: reachable through a relay",
        ("private", false) => {
            "behind NAT or a firewall, no relay yet: only members on this network can reach you"
        }
        _ => "not known yet (no peer has tried to dial back)",
    };
    println!("reach     {reach}");
    println!("peers     {}", s.peers);
    if s.quarantined > 0 {
        println!(
            "store     {} damaged record(s) could not be read and were set aside (kept in the data dir)",
            s.quarantined
        );
    }
    for t in &s.topics {
        println!(
            "circle    {} ({}): {} messages, {}; {} accepted, {} rejected, {} duplicates",
            safe(&t.name),
            &t.id[..12],
            t.messages,
            sync_words(t),
            t.accepted,
            t.rejected,
            t.duplicates
        );
        let keys = if t.keys_ok {
            "every member holds its key"
        } else {
            "a new key is on its way to some members"
        };
        println!(
            "          you: {}; {} members; epoch {} ({keys})",
            safe(&t.role),
            t.members,
            t.epoch
        );
    }
}

pub fn dm(m: &DmView, json: bool) {
    if json {
        return json_line(m);
    }
    let who = if m.mine {
        "you".to_string()
    } else if m.who.is_empty() {
        short(&m.from)
    } else {
        safe(&m.who).into_owned()
    };
    let state = if m.mine {
        format!(" ({})", m.state)
    } else if m.late {
        format!(" (reached you {} UTC)", time(m.received_at))
    } else if m.state == "request" {
        " (asking to talk: kindred accept, decline or block)".to_string()
    } else {
        String::new()
    };
    print_text(
        &format!("[{} UTC] {who}{state}: ", time(m.timestamp)),
        &m.text,
    );
}

fn short(peer: &str) -> String {
    let tail = &peer[peer.len().saturating_sub(8)..];
    format!("…{tail}")
}

pub fn conversations(list: &[ConversationView], json: bool, empty: &str) {
    if json {
        return list.iter().for_each(json_line);
    }
    if list.is_empty() {
        println!("{empty}");
    }
    for c in list {
        let name = safe(c.name.as_deref().unwrap_or_default());
        let handles = c.handles.join(",");
        let count = if c.consent == "requested" {
            format!("{} waiting", c.held)
        } else {
            format!("{} unread", c.unread)
        };
        println!(
            "{}  {name} {handles}  {count}  \"{}\"",
            c.peer,
            safe(&c.last_text)
        );
    }
}

pub fn inbox(inbox: &InboxView, json: bool) {
    if json {
        return json_line(inbox);
    }
    conversations(&inbox.conversations, false, "No conversations yet.");
    if !inbox.requests.is_empty() {
        println!("\nRequests (kindred accept PEER / kindred decline PEER):");
        conversations(&inbox.requests, false, "");
    }
    if !inbox.blocked.is_empty() {
        println!("\nBlocked (kindred unblock PEER shows them again):");
        conversations(&inbox.blocked, false, "");
    }
}

/// A person in a line: their name and ~handle, or "you".
fn named(n: &kindred_node::service_views::Named) -> String {
    if n.you {
        return "you".into();
    }
    match n.name.as_deref().filter(|s| !s.is_empty()) {
        Some(name) => format!("{} {}", safe(name), n.handle),
        None => n.handle.clone(),
    }
}

/// A circle action as a plain sentence (the page says the same).
pub fn action_words(a: &kindred_node::service_views::ActionLine) -> String {
    let by = named(&a.by);
    let whom = a.whom.as_ref().map(named).unwrap_or_default();
    let mut s = match a.what.as_str() {
        "joined" => {
            let how = match (&a.invite, a.invite_made) {
                (Some(i), Some(made)) => {
                    format!(" with invite {i} of {} UTC, let in by {by}", time(made))
                }
                _ => String::new(),
            };
            format!("{whom} joined{how}")
        }
        "removed" => format!("{by} removed {whom}"),
        "appointed" => format!("{by} made {whom} a moderator"),
        "demoted" => format!("{by} made {whom} no longer a moderator"),
        "left" => format!("{by} left the circle"),
        "rules" => format!("{by} changed the circle's rules"),
        "readmitted" => format!("{by} let {whom} back: an invite can let them in again"),
        other => format!("{by}: {other} {whom}"),
    };
    if !a.reason.is_empty() {
        s.push_str(&format!(": {}", safe(&a.reason)));
    }
    s
}
