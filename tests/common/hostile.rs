//! A hostile peer written in the tests: a bare libp2p node (TCP, Noise,
//! yamux, identify, raw streams) with an identity of its own, that speaks
//! Kindred's private-message protocol directly, to attack a real
//! `kindred up` process.

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use kindred_proto::dm::{Contact, DmMessage, Item};
use kindred_proto::noise::{self, Binding, Frame, Handshake, SessionLimits, StaticKeypair};
use kindred_proto::NodeSecret;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identify, Multiaddr, PeerId, StreamProtocol};

#[derive(NetworkBehaviour)]
struct Bare {
    identify: identify::Behaviour,
    streams: libp2p_stream::Behaviour,
}

/// One throwaway identity connected to a target.
pub struct Stranger {
    pub peer: PeerId,
    secret: NodeSecret,
    control: libp2p_stream::Control,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Stranger {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stranger {
    /// A fresh identity connected to `to` at `addr` (a kindred node).
    pub async fn connect(to: PeerId, addr: &Multiaddr) -> Stranger {
        let secret = NodeSecret::from_bytes(kindred_proto::random_bytes().expect("random"));
        let key = kindred_net::keypair_from_secret(secret.as_bytes()).expect("key");
        let peer = key.public().to_peer_id();
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_other_transport(kindred_net::tcp_transport)
            .expect("transport")
            .with_behaviour(|key| Bare {
                identify: identify::Behaviour::new(identify::Config::new(
                    "/kindred/1".into(),
                    key.public(),
                )),
                streams: libp2p_stream::Behaviour::new(),
            })
            .expect("behaviour")
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        let control = swarm.behaviour().streams.new_control();
        let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(to)
            .addresses(vec![addr.clone()])
            .build();
        swarm.dial(opts).expect("dial");
        let connected = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let libp2p::swarm::SwarmEvent::ConnectionEstablished { .. } =
                    swarm.select_next_some().await
                {
                    break;
                }
            }
        })
        .await;
        assert!(connected.is_ok(), "a stranger could not connect");
        let task = tokio::spawn(async move {
            loop {
                let _ = swarm.select_next_some().await;
            }
        });
        Stranger {
            peer,
            secret,
            control,
            task,
        }
    }

    /// Opens a private-message stream to `to` and sends nothing on it.
    pub async fn idle_stream(&mut self, to: PeerId) -> Option<libp2p::Stream> {
        let proto = StreamProtocol::new(noise::DM_PROTOCOL);
        tokio::time::timeout(Duration::from_secs(10), self.control.open_stream(to, proto))
            .await
            .ok()?
            .ok()
    }

    /// Sends one private message of `text` to the node whose contact code is
    /// `contact`; returns whether it was acknowledged.
    pub async fn send_dm(&mut self, contact: &Contact, to: PeerId, text: &str) -> bool {
        let Some(mut stream) = self.idle_stream(to).await else {
            return false;
        };
        let key = StaticKeypair::derive(&self.secret);
        let binding = Binding::create(&self.secret, &key.public);
        let Ok(mut hs) = Handshake::initiator(&key, &binding, contact.identity) else {
            return false;
        };
        let run = async {
            while !hs.is_finished() {
                if hs.is_my_turn() {
                    write_msg(&mut stream, &hs.write().ok()?).await?;
                } else {
                    hs.read(&read_msg(&mut stream).await?).ok()?;
                }
            }
            let mut session = hs.into_session(SessionLimits::default()).ok()?;
            let id = kindred_proto::random_bytes::<16>().ok()?;
            let msg = DmMessage::new(id, 1, text.to_string()).ok()?;
            for f in noise::chunk(1, &Item::Direct(msg).encode()).ok()? {
                for m in session.seal_frame(&f).ok()? {
                    write_msg(&mut stream, &m).await?;
                }
            }
            let reply = read_msg(&mut stream).await?;
            matches!(session.open_frame(&reply), Ok(Some(Frame::Ack { .. }))).then_some(())
        };
        // An acknowledgement takes milliseconds; a refusal is silence.
        tokio::time::timeout(Duration::from_secs(2), run)
            .await
            .ok()
            .flatten()
            .is_some()
    }
}

/// Writes one message with a 2-byte length before it (the private-message
/// and membership framing).
pub async fn write_msg(s: &mut libp2p::Stream, m: &[u8]) -> Option<()> {
    s.write_all(&(m.len() as u16).to_be_bytes()).await.ok()?;
    s.write_all(m).await.ok()?;
    s.flush().await.ok()
}

/// Reads one message framed as [`write_msg`] writes it.
pub async fn read_msg(s: &mut libp2p::Stream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.ok()?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).await.ok()?;
    Some(buf)
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// Bytes under a directory.
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_bytes(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}
