//! snow, as Kindred builds it, against the published Noise test vectors for
//! the patterns Kindred uses (extracted from the cacophony and snow vector
//! files that snow 0.10 ships; see spec/vectors/noise-snow.json).

use serde_json::Value;
use snow::Builder;

fn bytes(v: &Value, key: &str) -> Option<Vec<u8>> {
    v.get(key)
        .and_then(|x| x.as_str())
        .map(|s| hex::decode(s).expect("hex"))
}

fn run(v: &Value) -> Result<(), String> {
    let name = v["protocol_name"].as_str().ok_or("no protocol name")?;
    let one_way = name.starts_with("Noise_X_")
        || name.starts_with("Noise_K_")
        || name.starts_with("Noise_N_");
    let params: snow::params::NoiseParams = name.parse().map_err(|e| format!("{e}"))?;
    let build = |side: &str| -> Result<snow::HandshakeState, String> {
        let prologue = bytes(v, &format!("{side}_prologue")).unwrap_or_default();
        let s = bytes(v, &format!("{side}_static"));
        let e = bytes(v, &format!("{side}_ephemeral"));
        let rs = bytes(v, &format!("{side}_remote_static"));
        let mut b = Builder::new(params.clone())
            .prologue(&prologue)
            .map_err(|e| e.to_string())?;
        if let Some(s) = &s {
            b = b.local_private_key(s).map_err(|e| e.to_string())?;
        }
        if let Some(rs) = &rs {
            b = b.remote_public_key(rs).map_err(|e| e.to_string())?;
        }
        if let Some(e) = &e {
            b = b.fixed_ephemeral_key_for_testing_only(e);
        }
        if side == "init" {
            b.build_initiator()
        } else {
            b.build_responder()
        }
        .map_err(|e| e.to_string())
    };
    let (mut init, mut resp) = (build("init")?, build("resp")?);
    let messages = v["messages"].as_array().ok_or("no messages")?;
    let mut buf = vec![0u8; 65535];
    let mut out = vec![0u8; 65535];
    let mut it = messages.iter().enumerate();
    while !init.is_handshake_finished() {
        let (i, m) = it.next().ok_or("ran out of messages in the handshake")?;
        let payload = bytes(m, "payload").unwrap_or_default();
        let expected = bytes(m, "ciphertext").ok_or("no ciphertext")?;
        let (tx, rx) = if i % 2 == 0 {
            (&mut init, &mut resp)
        } else {
            (&mut resp, &mut init)
        };
        let n = tx
            .write_message(&payload, &mut buf)
            .map_err(|e| format!("write {i}: {e}"))?;
        if buf[..n] != expected[..] {
            return Err(format!("handshake message {i} differs"));
        }
        let k = rx
            .read_message(&buf[..n], &mut out)
            .map_err(|e| format!("read {i}: {e}"))?;
        if out[..k] != payload[..] {
            return Err(format!("handshake payload {i} differs"));
        }
    }
    if let Some(h) = bytes(v, "handshake_hash") {
        if init.get_handshake_hash() != h.as_slice() || resp.get_handshake_hash() != h.as_slice() {
            return Err("handshake hash differs".into());
        }
    }
    let (mut init, mut resp) = (
        init.into_transport_mode().map_err(|e| e.to_string())?,
        resp.into_transport_mode().map_err(|e| e.to_string())?,
    );
    for (i, m) in it {
        let payload = bytes(m, "payload").unwrap_or_default();
        let expected = bytes(m, "ciphertext").ok_or("no ciphertext")?;
        let (tx, rx) = if one_way || i % 2 == 0 {
            (&mut init, &mut resp)
        } else {
            (&mut resp, &mut init)
        };
        let n = tx
            .write_message(&payload, &mut buf)
            .map_err(|e| format!("write {i}: {e}"))?;
        if buf[..n] != expected[..] {
            return Err(format!("transport message {i} differs"));
        }
        let k = rx
            .read_message(&buf[..n], &mut out)
            .map_err(|e| format!("read {i}: {e}"))?;
        if out[..k] != payload[..] {
            return Err(format!("transport payload {i} differs"));
        }
    }
    Ok(())
}

#[test]
fn snow_matches_the_noise_vectors_for_our_patterns() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../spec/vectors/noise-snow.json"
    );
    let all: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("vectors file")).expect("json");
    let vectors = all["vectors"].as_array().expect("vectors");
    let mut seen = std::collections::BTreeSet::new();
    for v in vectors {
        let name = v["protocol_name"].as_str().unwrap_or("?");
        if let Err(e) = run(v) {
            panic!("{name} ({}): {e}", v["source"]);
        }
        seen.insert(name.to_string());
    }
    for p in [
        kindred_proto::noise::SESSION_PATTERN,
        kindred_proto::noise::SEALED_PATTERN,
    ] {
        assert!(seen.contains(p), "no vector for {p}");
    }
    println!("{} Noise vectors passed", vectors.len());
}
