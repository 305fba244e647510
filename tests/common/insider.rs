//! A hostile member written in the tests: a real libp2p node (Kindred's own
//! network crate, on 127.0.0.1) that holds a circle's locator and whatever
//! else a removed member kept (its pseudonym, old epoch keys), and uses
//! them against real `kindred up` processes. It proves membership, claims
//! made-up heads in syncs, answers circle-action fetches and join requests
//! with junk, and publishes junk circle actions under old epoch keys.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use kindred_net::{Command, Event, Multiaddr, NetConfig, NetHandle, PeerId, StreamProtocol};
use kindred_proto::authority::join::{encode_ops, JoinReply, JOIN_PROTOCOL, OPS_PROTOCOL};
use kindred_proto::authority::{EpochSecret, Op};
use kindred_proto::codec::Fixed;
use kindred_proto::membership::{self, Answer, Challenge};
use kindred_proto::sync::{ids_to_wire, SyncRequest, SyncResponse};
use kindred_proto::topic::EpochKeys;
use kindred_proto::{Kind, MessageContent, MessageId, Pseudonym, TopicKeys, TopicSecret};

/// What the insider answers with; the test changes it between attacks.
#[derive(Default)]
pub struct Script {
    /// Encoded ops for every circle-action fetch.
    pub ops_answer: Vec<Vec<u8>>,
    /// Every join request is answered "admitted" with these ops.
    pub join_ops: Option<Vec<Vec<u8>>>,
    /// Bytes of sealed data each made-up head carries; 0 claims none.
    pub fake_head_bytes: usize,
    /// The depth each made-up head claims.
    pub fake_head_depth: u64,
    /// Made-up heads served so far (id → envelope).
    pub served: Vec<(MessageId, Vec<u8>)>,
    /// Requests seen, by protocol.
    pub ops_asked: usize,
    pub joins_asked: usize,
    pub syncs_asked: usize,
}

pub struct Insider {
    pub net: NetHandle,
    pub keys: TopicKeys,
    pub script: Arc<Mutex<Script>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Insider {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn lock(s: &Mutex<Script>) -> std::sync::MutexGuard<'_, Script> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl Insider {
    /// Starts on 127.0.0.1 with `key` as its node key, subscribed to the
    /// circle of `locator`, connected to `targets`, treating each as a
    /// proven member (nothing stops a hostile node from doing so).
    pub async fn start(
        key: kindred_net::Keypair,
        locator: &TopicSecret,
        targets: &[(PeerId, Multiaddr)],
    ) -> Insider {
        let keys = TopicKeys::derive(locator);
        let listen: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().expect("addr");
        let (net, mut events, task) =
            kindred_net::spawn(key, NetConfig::new(vec![listen])).expect("insider network");
        let script = Arc::new(Mutex::new(Script::default()));
        let mut tasks = vec![task];
        net.subscribe(keys.gossip_topic.clone())
            .await
            .expect("subscribe");
        for (peer, addr) in targets {
            net.dial(addr.clone()).await.expect("dial");
            net.send(Command::SetProven {
                peer: *peer,
                proven: true,
            })
            .await
            .expect("set proven");
        }

        // Membership challenges: answered with the locator, as a member.
        let mut incoming = net
            .streams()
            .accept(StreamProtocol::new(membership::PROTOCOL))
            .expect("accept membership");
        let (k, me) = (keys.clone(), net.peer_id().to_bytes());
        tasks.push(tokio::spawn(async move {
            while let Some((peer, mut s)) = incoming.next().await {
                let Some(req) = super::hostile::read_msg(&mut s).await else {
                    continue;
                };
                let Ok(c) = Challenge::decode(&req) else {
                    continue;
                };
                let proof = k.member_proof(&peer.to_bytes(), &me, &c.nonce.0);
                let _ =
                    super::hostile::write_msg(&mut s, &Answer::Proof(Fixed(proof)).encode()).await;
                let _ = s.close().await;
            }
        }));

        // Circle-action fetches: answered with the script's junk.
        tasks.push(answer_each(&net, OPS_PROTOCOL, script.clone(), |sc| {
            sc.ops_asked += 1;
            encode_ops(&sc.ops_answer)
        }));
        // Join requests (when an invite names this node): "admitted", with junk.
        tasks.push(answer_each(&net, JOIN_PROTOCOL, script.clone(), |sc| {
            sc.joins_asked += 1;
            match &sc.join_ops {
                Some(ops) => JoinReply::Admitted {
                    ops: ops.clone(),
                    history: Vec::new(),
                    cards: Vec::new(),
                },
                None => JoinReply::NotHere,
            }
            .encode()
        }));

        // Gossip is ignored; syncs are answered with made-up heads.
        let (n, sc, k) = (net.clone(), script.clone(), keys.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                match ev {
                    Event::Gossip(g) => {
                        let _ = n
                            .send(Command::Validate {
                                id: g.id,
                                source: g.source,
                                acceptance: libp2p::gossipsub::MessageAcceptance::Ignore,
                            })
                            .await;
                    }
                    Event::SyncRequest {
                        request, responder, ..
                    } => {
                        let response = answer_sync(&k, &sc, &request);
                        let _ = n
                            .send(Command::Respond {
                                responder,
                                response: response.encode(),
                            })
                            .await;
                    }
                    _ => {}
                }
            }
        }));
        Insider {
            net,
            keys,
            script,
            tasks,
        }
    }

    /// Publishes `op` in a circle-action message sealed under `epoch` and
    /// signed by `author` (a removed member still holds old epoch keys).
    pub async fn publish_op(&self, epoch: &EpochKeys, author: &Pseudonym, op: &Op) {
        let content = MessageContent {
            kind: Kind::Authority,
            body: String::new(),
            parents: vec![],
            timestamp: now_ms(),
            depth: 0,
        };
        let (_, env) =
            kindred_proto::envelope::seal_data(&self.keys, epoch, author, &content, op.encoded())
                .expect("seal");
        let _ = self.net.publish(self.keys.gossip_topic.clone(), env).await;
    }

    /// Publishes a post sealed under `epoch` and signed by `author`.
    pub async fn publish_post(&self, epoch: &EpochKeys, author: &Pseudonym, text: &str) {
        let content = MessageContent {
            kind: Kind::Post,
            body: text.into(),
            parents: vec![],
            timestamp: now_ms(),
            depth: 0,
        };
        let (_, env) =
            kindred_proto::envelope::seal(&self.keys, epoch, author, &content).expect("seal");
        let _ = self.net.publish(self.keys.gossip_topic.clone(), env).await;
    }

    /// Asks `peer` to check our membership: a node that answers syncs with
    /// us shortly after (what the removed member of issue 18 did every
    /// half second). Returns whether it answered with a proof.
    pub async fn challenge(&self, peer: PeerId) -> bool {
        let (me, them) = (self.net.peer_id().to_bytes(), peer.to_bytes());
        let nonce = [7u8; 32];
        let c = Challenge {
            tag: Fixed(self.keys.member_tag(&me, &them)),
            nonce: Fixed(nonce),
        };
        let mut control = self.net.streams();
        let run = async {
            let mut s = control
                .open_stream(peer, StreamProtocol::new(membership::PROTOCOL))
                .await
                .ok()?;
            super::hostile::write_msg(&mut s, &c.encode()).await?;
            let a = super::hostile::read_msg(&mut s).await?;
            Answer::decode(&a).ok()
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(10), run).await,
            Ok(Some(Answer::Proof(_)))
        )
    }

    /// Made-up heads served so far.
    pub fn served(&self) -> Vec<MessageId> {
        lock(&self.script)
            .served
            .iter()
            .map(|(id, _)| *id)
            .collect()
    }
}

/// Answers every stream of `protocol` (one length-prefixed request, one
/// answer) with what `answer` makes of the script.
fn answer_each(
    net: &NetHandle,
    protocol: &'static str,
    script: Arc<Mutex<Script>>,
    answer: impl Fn(&mut Script) -> Vec<u8> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let mut incoming = net
        .streams()
        .accept(StreamProtocol::new(protocol))
        .expect("accept");
    tokio::spawn(async move {
        while let Some((_, mut s)) = incoming.next().await {
            let _ = read32(&mut s).await;
            let reply = answer(&mut lock(&script));
            let _ = write32(&mut s, &reply).await;
            let _ = s.close().await;
        }
    })
}

fn answer_sync(keys: &TopicKeys, script: &Mutex<Script>, request: &[u8]) -> SyncResponse {
    let Ok(req) = SyncRequest::decode(request) else {
        return SyncResponse::UnknownTopic;
    };
    let mut sc = lock(script);
    sc.syncs_asked += 1;
    if sc.fake_head_bytes == 0 {
        return SyncResponse::Heads {
            heads: ids_to_wire(&[]),
        };
    }
    match req {
        // Fresh heads every time, sealed under an epoch nobody holds.
        SyncRequest::Heads { .. } => {
            let epoch = EpochKeys::derive(
                &keys.id,
                &EpochSecret::from_bytes(kindred_proto::random_bytes().expect("random")),
            );
            let author = Pseudonym::from_seed(kindred_proto::random_bytes().expect("random"));
            let mut heads = Vec::new();
            for _ in 0..kindred_proto::sync::MAX_IDS {
                let content = MessageContent {
                    kind: Kind::Post,
                    body: String::new(),
                    parents: vec![],
                    timestamp: now_ms(),
                    depth: sc.fake_head_depth,
                };
                let data = vec![0x5a; sc.fake_head_bytes];
                let (id, env) =
                    kindred_proto::envelope::seal_data(keys, &epoch, &author, &content, &data)
                        .expect("seal");
                heads.push(id);
                sc.served.push((id, env));
            }
            SyncResponse::Heads {
                heads: ids_to_wire(&heads),
            }
        }
        SyncRequest::Fetch { want, .. } => {
            let want = kindred_proto::sync::ids_from_wire(&want);
            let envelopes: Vec<serde_bytes::ByteBuf> = sc
                .served
                .iter()
                .filter(|(id, _)| want.contains(id))
                .map(|(_, e)| serde_bytes::ByteBuf::from(e.clone()))
                .collect();
            SyncResponse::Messages {
                envelopes: envelopes.into(),
            }
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub async fn write32(s: &mut libp2p::Stream, v: &[u8]) -> Option<()> {
    s.write_all(&(v.len() as u32).to_be_bytes()).await.ok()?;
    s.write_all(v).await.ok()?;
    s.flush().await.ok()
}

pub async fn read32(s: &mut libp2p::Stream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await.ok()?;
    let n = u32::from_be_bytes(len) as usize;
    if n > 16 * 1024 * 1024 {
        return None;
    }
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).await.ok()?;
    Some(buf)
}
