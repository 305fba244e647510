//! The CLI's side of the control API.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use kindred_node::api::{ChatReply, InviteReply, JoinReply, MessagesReply};
use kindred_node::service_views::{
    ConversationView, DmSent, InboxView, MessageView, PeerView, StatusView,
};
use kindred_node::TopicSummary;
use serde::de::DeserializeOwned;

pub struct Client {
    http: reqwest::Client,
    base: reqwest::Url,
    token: String,
    dir: std::path::PathBuf,
}

fn not_running(dir: &Path) -> anyhow::Error {
    anyhow!(
        "no Kindred node is running for data dir {d}.\nStart one in another terminal with:\n    kindred --data-dir {d} up",
        d = dir.display()
    )
}

impl Client {
    /// Finds the node serving `dir` and checks it is that node (it proves
    /// it holds the token) before anything is sent to it.
    pub async fn connect(dir: &Path) -> Result<Client> {
        let (info, token) = kindred_node::control::read(dir).map_err(|_| not_running(dir))?;
        let base = reqwest::Url::parse(&format!("http://{}/", info.addr))
            .context("control file is damaged")?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("building the HTTP client")?;
        let client = Client {
            http,
            base,
            token,
            dir: dir.to_path_buf(),
        };
        client.check_node().await?;
        Ok(client)
    }

    async fn check_node(&self) -> Result<()> {
        let nonce = kindred_proto::random_bytes::<32>().context("drawing a nonce")?;
        let mut url = self.url(&["v1", "hello"])?;
        url.query_pairs_mut()
            .append_pair("nonce", &hex::encode(nonce));
        let resp = match self.http.get(url).send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Err(not_running(&self.dir)),
            Err(e) => return Err(e).context("talking to the node"),
        };
        let proof = resp
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v.get("proof").and_then(|p| p.as_str()).map(str::to_string))
            .and_then(|p| hex::decode(p).ok());
        let expected = kindred_node::control::api_proof(&self.token, &nonce);
        match proof {
            Some(p) if kindred_proto::constant_time_eq(&p, &expected) => Ok(()),
            _ => bail!(
                "the program at {} is not the Kindred node of data dir {} (it cannot prove it holds the API token); nothing was sent to it. If the node stopped, start it again with `kindred --data-dir {} up`.",
                self.base,
                self.dir.display(),
                self.dir.display()
            ),
        }
    }

    fn url(&self, segments: &[&str]) -> Result<reqwest::Url> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| anyhow!("bad API address"))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T> {
        let resp = match req.bearer_auth(&self.token).send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Err(not_running(&self.dir)),
            Err(e) => return Err(e).context("talking to the node"),
        };
        let status = resp.status();
        let body = resp.bytes().await.context("reading the node's answer")?;
        if !status.is_success() {
            let msg = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            bail!("{msg}");
        }
        serde_json::from_slice(&body)
            .context("the node's answer is not what this CLI expects (versions differ?)")
    }

    /// GET of any API path, for commands with their own answer types.
    pub async fn get<T: DeserializeOwned>(&self, parts: &[&str]) -> Result<T> {
        self.send(self.http.get(self.url(parts)?)).await
    }

    /// POST of a JSON body to any API path.
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        parts: &[&str],
        body: &serde_json::Value,
    ) -> Result<T> {
        self.send(self.http.post(self.url(parts)?).json(body)).await
    }

    pub async fn status(&self) -> Result<StatusView> {
        self.send(self.http.get(self.url(&["v1", "status"])?)).await
    }

    pub async fn peers(&self) -> Result<Vec<PeerView>> {
        self.send(self.http.get(self.url(&["v1", "peers"])?)).await
    }

    pub async fn topics(&self) -> Result<Vec<TopicSummary>> {
        self.send(self.http.get(self.url(&["v1", "topics"])?)).await
    }

    pub async fn create_topic(
        &self,
        name: &str,
        rules: &str,
        my_name: Option<String>,
        (expires, uses): (serde_json::Value, serde_json::Value),
        share_history: bool,
        moderators_invite: bool,
    ) -> Result<InviteReply> {
        let body = serde_json::json!({"name": name, "rules": rules, "my_name": my_name, "expires_hours": expires, "uses": uses, "share_history": share_history, "moderators_invite": moderators_invite});
        self.send(self.http.post(self.url(&["v1", "topics"])?).json(&body))
            .await
    }

    pub async fn invite(
        &self,
        topic: &str,
        (expires, uses): (serde_json::Value, serde_json::Value),
        approve: bool,
    ) -> Result<String> {
        let body = serde_json::json!({"expires_hours": expires, "uses": uses, "approve": approve});
        let v: serde_json::Value = self
            .send(
                self.http
                    .post(self.url(&["v1", "topics", topic, "invite"])?)
                    .json(&body),
            )
            .await?;
        v.get("invite")
            .and_then(|i| i.as_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("the node's answer has no invite"))
    }

    pub async fn join(&self, invite: &str, my_name: Option<String>) -> Result<JoinReply> {
        let body = serde_json::json!({"invite": invite, "my_name": my_name});
        self.send(self.http.post(self.url(&["v1", "join"])?).json(&body))
            .await
    }

    pub async fn post(&self, topic: &str, text: &str) -> Result<MessageView> {
        let body = serde_json::json!({ "text": text });
        self.send(
            self.http
                .post(self.url(&["v1", "topics", topic, "messages"])?)
                .json(&body),
        )
        .await
    }

    pub async fn messages(&self, topic: &str, limit: Option<usize>) -> Result<MessagesReply> {
        let mut url = self.url(&["v1", "topics", topic, "messages"])?;
        if let Some(l) = limit {
            url.query_pairs_mut().append_pair("limit", &l.to_string());
        }
        self.send(self.http.get(url)).await
    }

    pub async fn follow(&self, topic: &str, after: u64) -> Result<MessagesReply> {
        let mut url = self.url(&["v1", "topics", topic, "follow"])?;
        url.query_pairs_mut()
            .append_pair("after", &after.to_string())
            .append_pair("wait_ms", "25000");
        self.send(self.http.get(url)).await
    }

    pub async fn dm(&self, peer: &str, text: &str) -> Result<DmSent> {
        let body = serde_json::json!({ "peer": peer, "text": text });
        self.send(self.http.post(self.url(&["v1", "dm"])?).json(&body))
            .await
    }

    pub async fn inbox(&self) -> Result<InboxView> {
        self.send(self.http.get(self.url(&["v1", "inbox"])?)).await
    }

    pub async fn chat(&self, peer: &str, limit: Option<usize>) -> Result<ChatReply> {
        let mut url = self.url(&["v1", "chat"])?;
        url.query_pairs_mut().append_pair("peer", peer);
        if let Some(l) = limit {
            url.query_pairs_mut().append_pair("limit", &l.to_string());
        }
        let reply: ChatReply = self.send(self.http.get(url)).await?;
        self.mark_read(peer).await?;
        Ok(reply)
    }

    /// Tells the node the conversation was shown (reading changes nothing).
    async fn mark_read(&self, peer: &str) -> Result<()> {
        let body = serde_json::json!({ "peer": peer });
        let _: serde_json::Value = self
            .send(
                self.http
                    .post(self.url(&["v1", "chat", "read"])?)
                    .json(&body),
            )
            .await?;
        Ok(())
    }

    pub async fn chat_follow(&self, peer: &str, after: u64) -> Result<ChatReply> {
        let mut url = self.url(&["v1", "chat", "follow"])?;
        url.query_pairs_mut()
            .append_pair("peer", peer)
            .append_pair("after", &after.to_string())
            .append_pair("wait_ms", "25000");
        let reply: ChatReply = self.send(self.http.get(url)).await?;
        if !reply.messages.is_empty() {
            self.mark_read(peer).await?;
        }
        Ok(reply)
    }

    pub async fn consent(&self, peer: &str, action: &str) -> Result<ConversationView> {
        let body = serde_json::json!({ "peer": peer, "action": action });
        self.send(self.http.post(self.url(&["v1", "consent"])?).json(&body))
            .await
    }

    pub async fn contact(&self) -> Result<String> {
        let v: serde_json::Value = self
            .send(self.http.get(self.url(&["v1", "contact"])?))
            .await?;
        v.get("contact")
            .and_then(|c| c.as_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("the node's answer has no contact code"))
    }
}
