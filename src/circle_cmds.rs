//! Commands on a circle's members, roles and invites.

use std::path::Path;

use anyhow::Result;
use clap::Subcommand;
use kindred_node::service_views::{InvitesReply, MemberView};
use serde_json::json;

use crate::client::Client;
use crate::format;

#[derive(Subcommand)]
pub enum CircleCmd {
    /// Who is in a circle: handle, name, role, since when, and who left or
    /// was removed (`*` marks you).
    Members {
        topic: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove someone from a circle (moderators and the owner). The circle
    /// moves to a new key that they never receive.
    Remove {
        topic: String,
        /// Their ~handle (from `members`), key, or exact name.
        member: String,
        /// Why, shown to the circle's members.
        #[arg(long)]
        reason: Option<String>,
        /// Also switch off the invite they came in with.
        #[arg(long)]
        revoke_invite: bool,
    },
    /// Let a removed person back (moderators; the owner for people the
    /// owner removed): until then no invite admits them.
    Readmit { topic: String, member: String },
    /// Make a member a moderator (the owner only).
    Promote { topic: String, member: String },
    /// Make a moderator a member again (the owner only).
    Demote { topic: String, member: String },
    /// Leave a circle and delete everything this node holds of it.
    Leave {
        topic: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Change your display name in one circle.
    Rename { topic: String, name: String },
    /// Show a circle's rules, or replace them with the text of FILE
    /// (moderators and the owner).
    Rules {
        topic: String,
        file: Option<std::path::PathBuf>,
    },
    /// Move a circle to a new key now (moderators and the owner): members
    /// receive it, anyone no longer in does not.
    Rotate { topic: String },
    /// A circle's invites (id, uses, expiry, state) and who waits for approval.
    Invites {
        topic: String,
        #[arg(long)]
        json: bool,
    },
    /// Switch off an invite.
    #[command(subcommand)]
    Invite(InviteCmd),
    /// Let someone in who waits for approval (moderators and the owner):
    /// ID is the request's id from `invites`, or their ~handle.
    Approve { topic: String, id: String },
}

#[derive(Subcommand)]
pub enum InviteCmd {
    /// Switch off an invite: nobody can join with it any more.
    Revoke {
        topic: String,
        /// The invite's id from `kindred invites`.
        id: String,
    },
}

fn print_member(m: &MemberView) {
    let state = match (m.state.as_str(), &m.removed_by) {
        ("member", _) => m.role.clone(),
        ("removed", Some(by)) => format!("removed by {by}"),
        (s, _) => s.to_string(),
    };
    let similar = if m.similar_to.is_empty() {
        String::new()
    } else {
        format!("  (name looks like {})", m.similar_to.join(", "))
    };
    println!(
        "{} {} {:<24} {:<10} since {}{}",
        if m.mine { "*" } else { " " },
        m.handle,
        format::safe(&m.name),
        state,
        format::time(m.since),
        similar
    );
    if let Some(r) = &m.reason {
        println!("    | reason: {}", format::safe(r));
    }
}

pub async fn run(cmd: CircleCmd, dir: &Path) -> Result<()> {
    let client = Client::connect(dir).await?;
    match cmd {
        CircleCmd::Members { topic, json } => {
            let members: Vec<MemberView> = client.get(&["v1", "topics", &topic, "members"]).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&members)?);
            } else {
                members.iter().for_each(print_member);
            }
        }
        CircleCmd::Remove {
            topic,
            member,
            reason,
            revoke_invite,
        } => {
            let body = json!({
                "member": member,
                "reason": reason.unwrap_or_default(),
                "revoke_invite": revoke_invite,
            });
            let m: MemberView = client
                .post_json(&["v1", "topics", &topic, "remove"], &body)
                .await?;
            println!(
                "Removed {} ({}). The circle has a new key they will never receive, and no invite lets them back in unless a moderator runs `kindred readmit`.",
                m.handle,
                format::safe(&m.name)
            );
            if let Some(id) = &m.invite {
                let others = m.invite_uses.saturating_sub(1);
                if revoke_invite {
                    println!("The invite they came in with ({id}, which let in {others} other(s)) is switched off.");
                } else if m.invite_active {
                    println!("The invite they came in with ({id}) still works and let in {others} other(s); switch it off with `kindred invite revoke {topic} {id}`.");
                }
            }
        }
        CircleCmd::Readmit { topic, member } => {
            let m: MemberView = client
                .post_json(
                    &["v1", "topics", &topic, "readmit"],
                    &json!({"member": member}),
                )
                .await?;
            println!(
                "{} ({}) may come back: any invite that still works lets them in.",
                m.handle,
                format::safe(&m.name)
            );
        }
        CircleCmd::Promote { topic, member } => {
            let m: MemberView = client
                .post_json(
                    &["v1", "topics", &topic, "promote"],
                    &json!({"member": member}),
                )
                .await?;
            println!(
                "{} ({}) is now a moderator.",
                m.handle,
                format::safe(&m.name)
            );
        }
        CircleCmd::Demote { topic, member } => {
            let m: MemberView = client
                .post_json(
                    &["v1", "topics", &topic, "demote"],
                    &json!({"member": member}),
                )
                .await?;
            println!(
                "{} ({}) is a member again.",
                m.handle,
                format::safe(&m.name)
            );
        }
        CircleCmd::Leave { topic, yes } => {
            if !yes
                && !crate::input::confirm(&format!(
                    "Leave \"{topic}\" and delete everything this node holds of it? [y/N] "
                ))?
            {
                println!("Nothing changed.");
                return Ok(());
            }
            let v: serde_json::Value = client
                .post_json(&["v1", "topics", &topic, "leave"], &json!({}))
                .await?;
            let name = v.get("left").and_then(|n| n.as_str()).unwrap_or(&topic);
            println!(
                "You left \"{}\"; its data is deleted from this node.",
                format::safe(name)
            );
        }
        CircleCmd::Rename { topic, name } => {
            let v: serde_json::Value = client
                .post_json(&["v1", "topics", &topic, "rename"], &json!({"name": name}))
                .await?;
            let name = v.get("name").and_then(|n| n.as_str()).unwrap_or_default();
            println!(
                "Your name in this circle is now \"{}\".",
                format::safe(name)
            );
        }
        CircleCmd::Rules { topic, file } => match file {
            None => {
                let topics: Vec<kindred_node::TopicSummary> = client.get(&["v1", "topics"]).await?;
                let t = topics
                    .iter()
                    .find(|t| t.name == topic || t.id.starts_with(&topic))
                    .ok_or_else(|| anyhow::anyhow!("no circle matches {topic:?}"))?;
                if t.rules.trim().is_empty() {
                    println!("This circle has no written rules.");
                } else {
                    println!("{}", format::indent(&t.rules));
                }
            }
            Some(path) => {
                let rules = std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
                let _: serde_json::Value = client
                    .post_json(&["v1", "topics", &topic, "rules"], &json!({"rules": rules}))
                    .await?;
                println!("The circle's rules are changed; members see them now.");
            }
        },
        CircleCmd::Rotate { topic } => {
            let v: serde_json::Value = client
                .post_json(&["v1", "topics", &topic, "rotate"], &json!({}))
                .await?;
            let epoch = v.get("epoch").and_then(|e| e.as_u64()).unwrap_or_default();
            println!("The circle has a new key (epoch {epoch}); its members receive it.");
        }
        CircleCmd::Invites { topic, json } => {
            let r: InvitesReply = client.get(&["v1", "topics", &topic, "invites"]).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(());
            }
            for i in &r.invites {
                let uses = match i.max_uses {
                    Some(m) => format!("{}/{m} uses", i.uses),
                    None => format!("{} uses", i.uses),
                };
                let expires = i
                    .expires
                    .map(|e| format!(", expires {}", format::time(e)))
                    .unwrap_or_default();
                let approval = if i.approval { ", needs approval" } else { "" };
                println!(
                    "{}  {:<8} {uses}{expires}{approval}, issued by {}",
                    i.id, i.state, i.issuer
                );
            }
            for p in &r.waiting {
                println!(
                    "waiting: {} {} ({}) via invite {}; `kindred approve {topic} {}`",
                    p.id,
                    p.handle,
                    format::safe(&p.name),
                    p.invite,
                    p.id
                );
            }
            if r.invites.is_empty() {
                println!("No invites.");
            }
        }
        CircleCmd::Invite(InviteCmd::Revoke { topic, id }) => {
            let _: serde_json::Value = client
                .post_json(&["v1", "topics", &topic, "revoke"], &json!({"id": id}))
                .await?;
            println!("Invite {id} is revoked: nobody can join with it any more.");
        }
        CircleCmd::Approve { topic, id } => {
            let v: serde_json::Value = client
                .post_json(&["v1", "topics", &topic, "approve"], &json!({"id": id}))
                .await?;
            let who = v
                .get("admitted")
                .and_then(|n| n.as_str())
                .unwrap_or_default();
            println!("Admitted {who}.");
        }
    }
    Ok(())
}
