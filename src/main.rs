//! `kindred`: run a node, and talk to the running node from the command line.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod circle_cmds;
mod client;
mod format;
mod input;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use client::Client;

/// Serverless, end-to-end encrypted peer-support circles.
#[derive(Parser)]
#[command(name = "kindred", version, about)]
struct Cli {
    /// Where this node keeps its identity and history. Several nodes on one
    /// machine need one directory each.
    #[arg(long, global = true, env = "KINDRED_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create this node's identity (`up` does it too on first start).
    Init {
        /// Your default display name in circles.
        #[arg(long)]
        name: Option<String>,
    },
    /// Run the node in the foreground until Ctrl-C.
    Up {
        /// Address to listen on for peers (repeatable). Default: TCP and QUIC
        /// on all interfaces, ports chosen by the OS.
        #[arg(long = "listen", value_name = "MULTIADDR")]
        listen: Vec<String>,
        /// Port for the local control API and the page on 127.0.0.1 (default:
        /// the last run's, so the page's address stays the same; any free
        /// port if it is taken).
        #[arg(long, default_value_t = 0)]
        api_port: u16,
        /// A DHT peer to join through, as MULTIADDR/p2p/PEERID (repeatable;
        /// remembered for later runs). There is no built-in list.
        #[arg(long = "bootstrap", value_name = "MULTIADDR")]
        bootstrap: Vec<String>,
        /// Never use local-network discovery (mDNS), even when listening
        /// beyond loopback.
        #[arg(long)]
        no_mdns: bool,
        /// Relay for members who cannot be reached directly (behind home
        /// routers). Limits: 128 reservations, 64 relayed connections of at
        /// most 10 min and 16 MiB each.
        #[arg(long)]
        relay: bool,
    },
    /// Create a circle or invite people to one.
    #[command(subcommand)]
    Topic(TopicCmd),
    /// Join a circle with an invite key. Without INVITE (or with `-`) the
    /// key is read from standard input, hidden on a terminal, so it stays
    /// out of `ps` and your shell history.
    Join {
        invite: Option<String>,
        /// Your display name in this circle.
        #[arg(long = "as", value_name = "NAME")]
        name: Option<String>,
        /// Only show the circle's name, owner and rules; do not join.
        #[arg(long)]
        show: bool,
    },
    /// The circles you belong to.
    Topics {
        #[arg(long)]
        json: bool,
    },
    /// Peers connected right now.
    Peers {
        #[arg(long)]
        json: bool,
    },
    /// This node's identity, addresses and the state of each circle.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Post to a circle. Without TEXT (or with `-`) it is read from
    /// standard input, safe from the shell's `!` and `$`.
    Post { topic: String, text: Option<String> },
    /// Read a circle's history in order.
    Read {
        topic: String,
        #[arg(long)]
        json: bool,
        /// Keep printing new posts as they arrive.
        #[arg(long)]
        follow: bool,
        /// Only the newest N posts.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Write privately to someone. PEER is a ~handle from a circle (see
    /// `read`, `peers`), a whole pseudonym, a PeerId, or a contact code.
    /// Without TEXT (or with `-`) it is read from standard input.
    Dm { peer: String, text: Option<String> },
    /// Your conversations, unread counts, and requests waiting for you.
    Inbox {
        #[arg(long)]
        json: bool,
    },
    /// One private conversation in order.
    Chat {
        peer: String,
        #[arg(long)]
        json: bool,
        /// Keep printing new messages as they arrive.
        #[arg(long)]
        follow: bool,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// People who wrote to you first and wait for your answer.
    Requests {
        #[arg(long)]
        json: bool,
    },
    /// Accept someone's request: their messages show, now and later.
    Accept { peer: String },
    /// Decline a request: their messages are deleted and never shown.
    Decline { peer: String },
    /// Block someone: nothing they send is ever shown.
    Block { peer: String },
    /// Undo a block.
    Unblock { peer: String },
    /// Print this node's contact code, for people to write to you privately.
    Contact,
    /// Show or set the name new circles give you (each circle's own name
    /// changes with `rename`).
    Name { name: Option<String> },
    /// Open Kindred's page in your browser, signed in (a fresh one-time
    /// link that works for 5 minutes; the browser gets it through a private
    /// file in the data directory, never on a command line others can read).
    Open {
        /// Print the link instead of opening a browser.
        #[arg(long)]
        print: bool,
    },
    #[command(flatten)]
    Circle(circle_cmds::CircleCmd),
}

/// What `kindred accept/decline/block/unblock` does.
fn consent_word(cmd: &Cmd) -> Option<(&'static str, &str)> {
    match cmd {
        Cmd::Accept { peer } => Some(("accept", peer)),
        Cmd::Decline { peer } => Some(("decline", peer)),
        Cmd::Block { peer } => Some(("block", peer)),
        Cmd::Unblock { peer } => Some(("unblock", peer)),
        _ => None,
    }
}

#[derive(Subcommand)]
enum TopicCmd {
    /// Open a new circle and print its invite key on the last line.
    Create {
        name: String,
        /// A file with the circle's rules (its code of conduct).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Your display name in this circle.
        #[arg(long = "as", value_name = "NAME")]
        my_name: Option<String>,
        /// The invite stops working after this many hours (default: a week;
        /// `never` for an invite that never expires).
        #[arg(long, value_name = "HOURS|never")]
        expires: Option<String>,
        /// How many people may join with the first invite (default: 10;
        /// `unlimited` for no limit).
        #[arg(long, value_name = "N|unlimited")]
        uses: Option<String>,
        /// Newcomers may read what was said before they joined (by default
        /// they cannot: each admission starts a new key).
        #[arg(long)]
        share_history: bool,
        /// Only moderators and you may issue invites (by default any member may).
        #[arg(long)]
        moderators_invite: bool,
    },
    /// Print a fresh invite key for a circle you belong to.
    Invite {
        topic: String,
        /// The invite stops working after this many hours (default: a week;
        /// `never` for an invite that never expires).
        #[arg(long, value_name = "HOURS|never")]
        expires: Option<String>,
        /// How many people may join with it (default: 10; `unlimited` for
        /// no limit).
        #[arg(long, value_name = "N|unlimited")]
        uses: Option<String>,
        /// A moderator must approve each person who uses it.
        #[arg(long)]
        approve: bool,
    },
}

fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("kindred");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    if cfg!(target_os = "macos") {
        home.join("Library/Application Support/kindred")
    } else {
        home.join(".local/share/kindred")
    }
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    // Everything Kindred writes (keys, database, API token) is private to this user.
    // SAFETY: umask only changes the process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
    let cli = Cli::parse();
    let dir = cli.data_dir.clone().unwrap_or_else(default_data_dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run(cli.command, dir))
}

async fn run(cmd: Cmd, dir: PathBuf) -> Result<()> {
    if let Some((action, peer)) = consent_word(&cmd) {
        let c = Client::connect(&dir).await?.consent(peer, action).await?;
        println!("{}: {}", c.peer, c.consent);
        return Ok(());
    }
    match cmd {
        Cmd::Accept { .. } | Cmd::Decline { .. } | Cmd::Block { .. } | Cmd::Unblock { .. } => {
            Ok(())
        }
        Cmd::Dm { peer, text } => {
            let client = Client::connect(&dir).await?;
            let text = input::message_text(text)?;
            let sent = client.dm(&peer, &text).await?;
            if sent.state == "delivered" {
                println!("Delivered to {}.", sent.peer);
            } else {
                println!("Stored and queued for {}: they are not reachable right now; it will be delivered when they are.", sent.peer);
            }
            Ok(())
        }
        Cmd::Inbox { json } => {
            let inbox = Client::connect(&dir).await?.inbox().await?;
            format::inbox(&inbox, json);
            Ok(())
        }
        Cmd::Requests { json } => {
            let inbox = Client::connect(&dir).await?.inbox().await?;
            format::conversations(&inbox.requests, json, "No requests.");
            Ok(())
        }
        Cmd::Chat {
            peer,
            json,
            follow,
            limit,
        } => {
            let client = Client::connect(&dir).await?;
            let first = client.chat(&peer, limit).await?;
            let (items, cursor) = (first.messages, first.cursor);
            let (client, peer) = (&client, &peer);
            let next = |c| async move {
                client
                    .chat_follow(peer, c)
                    .await
                    .map(|r| (r.messages, r.cursor))
            };
            show(
                items,
                cursor,
                follow,
                |m| m.id.clone(),
                |m| format::dm(m, json),
                next,
            )
            .await
        }
        Cmd::Open { print } => {
            let v: serde_json::Value = Client::connect(&dir)
                .await?
                .post_json(&["v1", "login-link"], &serde_json::json!({}))
                .await?;
            let url = v
                .get("url")
                .and_then(|u| u.as_str())
                .context("the node's answer has no link")?
                .to_string();
            if print {
                println!("{url}");
                return Ok(());
            }
            let opener = if cfg!(target_os = "macos") {
                "open"
            } else {
                "xdg-open"
            };
            // A browser's command line is readable by every local user
            // (/proc): it gets a private file that forwards to the link.
            let door = dir.join("open.html");
            let page = format!(
                "<!doctype html><meta charset=\"utf-8\"><meta name=\"referrer\" content=\"no-referrer\"><meta http-equiv=\"refresh\" content=\"0;url={url}\"><title>Kindred</title><p>Opening Kindred…</p>\n"
            );
            kindred_store::datadir_write_private(&door, page.as_bytes())
                .with_context(|| format!("could not write {}", door.display()))?;
            // The opener's own complaints (no browser, no display) would
            // bury the link: quiet, and the link is printed instead.
            match std::process::Command::new(opener)
                .arg(&door)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
            {
                Ok(s) if s.success() => println!(
                    "Opened Kindred in your browser (the sign-in link works once, for 5 minutes)."
                ),
                _ => println!(
                    "Open this link in your browser (it works once, for 5 minutes):\n    {url}"
                ),
            }
            Ok(())
        }
        Cmd::Name { name } => {
            let c = Client::connect(&dir).await?;
            let v: serde_json::Value = match name {
                Some(n) => {
                    c.post_json(&["v1", "profile"], &serde_json::json!({ "name": n }))
                        .await?
                }
                None => c.get(&["v1", "profile"]).await?,
            };
            let n = v.get("name").and_then(|n| n.as_str()).unwrap_or_default();
            if n.is_empty() {
                println!("No name set: circles show you by your handle until you choose one.");
            } else {
                println!("{}", crate::format::safe(n));
            }
            Ok(())
        }
        Cmd::Contact => {
            println!("{}", Client::connect(&dir).await?.contact().await?);
            Ok(())
        }
        Cmd::Init { name } => init(&dir, name),
        Cmd::Up {
            listen,
            api_port,
            bootstrap,
            no_mdns,
            relay,
        } => {
            let opts = UpOpts {
                listen,
                api_port,
                bootstrap,
                no_mdns,
                relay,
            };
            up(dir, opts).await
        }
        Cmd::Topic(TopicCmd::Create {
            name,
            rules,
            my_name,
            expires,
            uses,
            share_history,
            moderators_invite,
        }) => {
            let defaults = expires.is_none() && uses.is_none();
            let rules = match rules {
                Some(p) => std::fs::read_to_string(&p)
                    .with_context(|| format!("reading rules from {}", p.display()))?,
                None => String::new(),
            };
            let reply = Client::connect(&dir)
                .await?
                .create_topic(
                    &name,
                    &rules,
                    my_name,
                    (limit_arg(expires), limit_arg(uses)),
                    share_history,
                    moderators_invite,
                )
                .await?;
            println!(
                "Created circle \"{}\" ({}).",
                format::safe(&reply.topic.name),
                &reply.topic.id[..16]
            );
            println!("Share this invite key only with people you want in the circle; whoever holds it can ask to join (`kindred invite revoke` switches it off):");
            if defaults {
                println!("It works for a week and lets in up to 10 people; `kindred topic invite` makes more (`--expires never --uses unlimited` for one without limits).");
            }
            println!("{}", reply.invite);
            Ok(())
        }
        Cmd::Topic(TopicCmd::Invite {
            topic,
            expires,
            uses,
            approve,
        }) => {
            let client = Client::connect(&dir).await?;
            let limits = (limit_arg(expires), limit_arg(uses));
            println!("{}", client.invite(&topic, limits, approve).await?);
            Ok(())
        }
        Cmd::Circle(c) => circle_cmds::run(c, &dir).await,
        Cmd::Join { invite, name, show } => {
            let client = Client::connect(&dir).await?;
            let invite = input::invite(invite)?;
            if show {
                let p: kindred_node::service_views::InvitePreview = client
                    .post_json(
                        &["v1", "invite", "preview"],
                        &serde_json::json!({ "invite": invite }),
                    )
                    .await?;
                println!(
                    "\"{}\" ({}), owned by {} {}",
                    format::safe(&p.name),
                    &p.id[..16],
                    format::safe(&p.owner_name),
                    p.owner
                );
                if p.rules.trim().is_empty() {
                    println!("This circle has no written rules.");
                } else {
                    println!("Rules of this circle:\n{}", format::indent(&p.rules));
                }
                if p.already_member {
                    println!("You are already in it.");
                }
                return Ok(());
            }
            let reply = client.join(&invite, name).await?;
            let t = &reply.topic;
            if reply.already_member {
                println!(
                    "You are already in \"{}\" ({}); nothing changed.",
                    format::safe(&t.name),
                    &t.id[..16]
                );
                return Ok(());
            }
            if t.role == "waiting to be admitted" {
                println!(
                    "Asked to join \"{}\" ({}). A member has not admitted you yet (the invite may need a moderator's approval); your node keeps asking.",
                    format::safe(&t.name),
                    &t.id[..16]
                );
                return Ok(());
            }
            println!("Joined \"{}\" ({}).", format::safe(&t.name), &t.id[..16]);
            if t.rules.trim().is_empty() {
                println!("This circle has no written rules.");
            } else {
                println!("Rules of this circle:\n{}", format::indent(&t.rules));
            }
            if reply.connected == 0 {
                println!("No member was reachable yet; the node keeps trying and will catch up when one is.");
            } else {
                println!(
                    "Connected to {} member(s); history is syncing.",
                    reply.connected
                );
            }
            Ok(())
        }
        Cmd::Topics { json } => {
            let topics = Client::connect(&dir).await?.topics().await?;
            format::topics(&topics, json);
            Ok(())
        }
        Cmd::Peers { json } => {
            let peers = Client::connect(&dir).await?.peers().await?;
            format::peers(&peers, json);
            Ok(())
        }
        Cmd::Status { json } => {
            let status = Client::connect(&dir).await?.status().await?;
            format::status(&status, json);
            Ok(())
        }
        Cmd::Post { topic, text } => {
            let client = Client::connect(&dir).await?;
            let text = input::message_text(text)?;
            let m = client.post(&topic, &text).await?;
            println!("Posted {} (stored on disk).", &m.id[..16]);
            Ok(())
        }
        Cmd::Read {
            topic,
            json,
            follow,
            limit,
        } => {
            let client = Client::connect(&dir).await?;
            let first = client.messages(&topic, limit).await?;
            let (items, cursor) = (first.messages, first.cursor);
            let (client, topic) = (&client, &topic);
            let next = |c| async move {
                client
                    .follow(topic, c)
                    .await
                    .map(|r| (r.messages, r.cursor))
            };
            show(
                items,
                cursor,
                follow,
                |m| m.id.clone(),
                |m| format::message(m, json),
                next,
            )
            .await
        }
    }
}

/// Prints a first page; with `follow`, keeps printing what arrives after
/// `cursor`, each item once (an item that lands between reading the page
/// and taking the cursor would otherwise print twice).
async fn show<T, Fut>(
    first: Vec<T>,
    mut cursor: u64,
    follow: bool,
    id: impl Fn(&T) -> String,
    print: impl Fn(&T),
    next: impl Fn(u64) -> Fut,
) -> Result<()>
where
    Fut: std::future::Future<Output = Result<(Vec<T>, u64)>>,
{
    first.iter().for_each(&print);
    if !follow {
        return Ok(());
    }
    let mut printed: std::collections::HashSet<String> = first.iter().map(&id).collect();
    loop {
        let (items, c) = next(cursor).await?;
        for item in &items {
            if printed.insert(id(item)) {
                print(item);
            }
        }
        cursor = c;
    }
}

fn init(dir: &std::path::Path, name: Option<String>) -> Result<()> {
    let locked = match kindred_store::DataDir::lock(dir) {
        Ok(d) => d,
        Err(kindred_store::StoreError::InUse { .. }) => {
            bail!(
                "a node is running with data dir {}; it already has an identity",
                dir.display()
            )
        }
        Err(e) => return Err(e.into()),
    };
    let (secret, created) = kindred_store::load_or_create_identity(dir)?;
    let store = kindred_store::Store::open(locked)?;
    if let Some(n) = &name {
        kindred_proto::text::check_name(n.trim(), kindred_proto::MAX_NAME_BYTES)
            .map_err(|e| anyhow::anyhow!("this display name cannot be used: {e}"))?;
        if let Some(what) = kindred_proto::text::claims_role(n) {
            anyhow::bail!("this display name cannot be used: it reads as {what}, which Kindred shows beside names itself");
        }
        store.set_config("name", n.trim())?;
    }
    store.flush_blocking()?;
    let peer = kindred_node::peer_id_of(&secret)?;
    if created {
        println!("Created identity {peer} in {}", dir.display());
    } else {
        println!("Identity {peer} already exists in {}", dir.display());
    }
    if let Some(n) = name {
        println!("Default display name: {n}");
    }
    Ok(())
}

/// What `kindred up` was asked for.
struct UpOpts {
    listen: Vec<String>,
    api_port: u16,
    bootstrap: Vec<String>,
    no_mdns: bool,
    relay: bool,
}

async fn up(dir: PathBuf, opts: UpOpts) -> Result<()> {
    let UpOpts {
        listen,
        api_port,
        bootstrap,
        no_mdns,
        relay,
    } = opts;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // kad warns that it cannot bootstrap whenever a node knows
                // no other yet: normal for a first node, not worth a warning.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,libp2p_kad=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let listen = listen
        .iter()
        .map(|a| {
            a.parse()
                .with_context(|| format!("--listen {a} is not a valid multiaddr"))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut config = kindred_node::NodeConfig::new(&dir);
    config.listen = listen;
    if no_mdns {
        config.mdns = Some(false);
    }
    config.relay = relay;
    config.bootstrap = bootstrap
        .iter()
        .map(|a| {
            a.parse()
                .with_context(|| format!("--bootstrap {a} is not a valid multiaddr"))
        })
        .collect::<Result<Vec<_>>>()?;
    config.api_port = api_port;
    let running = kindred_node::Node::start(config).await?;
    let node = running.node.clone();
    let mut events = node.ui_events();
    println!("Kindred node {}", node.peer_id());
    println!("data dir {}", dir.display());
    println!("control API on http://{}", running.api_addr);
    println!(
        "Open Kindred in your browser (this link works once; `kindred open` makes a new one):\n    {}",
        running.login_url()
    );
    match node.default_name()? {
        Some(n) => println!("your name in new circles: {}", format::safe(&n)),
        None => println!(
            "you have no display name yet: others in your circles will see \"anonymous\". Choose one with `kindred init --name NAME` (or `--as NAME` when you create or join a circle)."
        ),
    }
    let peer_id = node.peer_id().to_string();
    // Listeners may have come up before we subscribed: print those the node
    // has now, then new ones as they come, each once.
    let mut shown = std::collections::HashSet::new();
    let mut show = move |a: String| {
        if shown.insert(a.clone()) {
            // Relayed addresses already end in our /p2p/<id>.
            if a.ends_with(&peer_id) {
                println!("listening on {a}");
            } else {
                println!("listening on {a}/p2p/{peer_id}");
            }
        }
    };
    for a in node.status().await?.listen {
        show(a);
    }
    let printer = tokio::spawn(async move {
        use kindred_node::UiEvent;
        while let Ok(ev) = events.recv().await {
            match ev {
                UiEvent::Listening(a) => show(a.to_string()),
                UiEvent::PeerJoined(p) => println!("peer connected: {p}"),
                UiEvent::PeerLeft(p) => println!("peer disconnected: {p}"),
            }
        }
    });
    wait_for_signal().await;
    println!("shutting down");
    printer.abort();
    running.shutdown().await?;
    println!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}

/// An invite limit for the node: a number, a word ("never", "unlimited")
/// the node checks, or nothing (the node's safe default).
fn limit_arg(arg: Option<String>) -> serde_json::Value {
    match arg {
        None => serde_json::Value::Null,
        Some(s) => s
            .trim()
            .parse::<u64>()
            .map(serde_json::Value::from)
            .unwrap_or(serde_json::Value::String(s)),
    }
}
