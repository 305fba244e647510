//! One way to find whom a PEER argument means, for every command that takes
//! one: a ~handle (any unique start of it), the whole pseudonym, a PeerId
//! (or a unique start of it), or a display name nobody else shares.

/// Someone a query may mean.
pub(crate) struct Candidate<K> {
    pub key: K,
    /// Their pseudonyms as hex (a handle is the start of one).
    pub pseudonyms: Vec<String>,
    /// Their node's PeerId, when they are known as a node.
    pub peer_id: Option<String>,
    /// Display names they go by.
    pub names: Vec<String>,
    /// How a list of candidates names them: "Amira ~00ba12345678".
    pub label: String,
}

#[derive(Debug, PartialEq)]
pub(crate) enum Pick<K> {
    One(K),
    Nobody,
    /// Labels of everyone the query fits, to choose from.
    Several(Vec<String>),
}

/// Whom `query` means among `all`. The most exact form decides: a
/// `~handle` (or 6 or more hex digits) is matched against pseudonyms only,
/// then a PeerId start, then a whole display name (case aside).
pub(crate) fn pick<K: Clone + PartialEq>(query: &str, all: &[Candidate<K>]) -> Pick<K> {
    let q = query.trim();
    if q.is_empty() {
        return Pick::Nobody;
    }
    let is_hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let tilde = q.strip_prefix('~');
    let hex = tilde
        .or_else(|| (q.len() >= 6).then_some(q))
        .filter(|h| is_hex(h));
    if let Some(h) = hex {
        let h = h.to_ascii_lowercase();
        let found = decide(all, |c| c.pseudonyms.iter().any(|p| p.starts_with(&h)));
        if found != Pick::Nobody || tilde.is_some() {
            return found;
        }
    }
    if tilde.is_some() {
        return Pick::Nobody;
    }
    if q.len() >= 4 {
        let found = decide(all, |c| {
            c.peer_id.as_deref().is_some_and(|p| p.starts_with(q))
        });
        if found != Pick::Nobody {
            return found;
        }
    }
    let name = q.to_lowercase();
    decide(all, |c| {
        c.names.iter().any(|n| n.trim().to_lowercase() == name)
    })
}

fn decide<K: Clone + PartialEq>(
    all: &[Candidate<K>],
    fits: impl Fn(&Candidate<K>) -> bool,
) -> Pick<K> {
    let mut found: Vec<&Candidate<K>> = Vec::new();
    for c in all.iter().filter(|c| fits(c)) {
        if !found.iter().any(|f| f.key == c.key) {
            found.push(c);
        }
    }
    match found.as_slice() {
        [] => Pick::Nobody,
        [one] => Pick::One(one.key.clone()),
        many => Pick::Several(many.iter().map(|c| c.label.clone()).collect()),
    }
}

/// "A, B or C" for the candidates of an ambiguous query (at most six).
pub(crate) fn list(labels: &[String]) -> String {
    let shown: Vec<&str> = labels.iter().take(6).map(String::as_str).collect();
    let more = labels.len().saturating_sub(shown.len());
    let mut out = match shown.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    };
    if more > 0 {
        out.push_str(&format!(" (and {more} more)"));
    }
    out
}

/// How one person is named everywhere: their name, then their handle.
pub(crate) fn label(name: Option<&str>, handle: Option<&str>, peer: &str) -> String {
    let tag = handle.map(str::to_string).unwrap_or_else(|| {
        let tail = &peer[peer.len().saturating_sub(8)..];
        format!("…{tail}")
    });
    match name.filter(|n| !n.trim().is_empty()) {
        Some(n) => format!("{n} {tag}"),
        None => tag,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(key: u8, pseudonym: &str, peer: &str, name: &str) -> Candidate<u8> {
        Candidate {
            key,
            pseudonyms: vec![pseudonym.into()],
            peer_id: Some(peer.into()),
            names: vec![name.into()],
            label: format!("{name} ~{}", &pseudonym[..12]),
        }
    }

    fn people() -> Vec<Candidate<u8>> {
        vec![
            c(1, "00ba1234567890ab", "12D3KooWAmira", "Amira"),
            c(2, "00bb9999567890ab", "12D3KooWBen", "Ben"),
            c(3, "ed48aaaa567890ab", "12D3KooWOther", "amira"),
            c(4, "77aa0000567890ab", "12D3KooWCara", "Cara"),
        ]
    }

    #[test]
    fn every_form_of_naming_finds_one_person() {
        let all = people();
        assert_eq!(pick("~00ba", &all), Pick::One(1));
        assert_eq!(pick("~ED48", &all), Pick::One(3));
        assert_eq!(pick("77aa0000", &all), Pick::One(4));
        assert_eq!(pick("00ba1234567890ab", &all), Pick::One(1));
        assert_eq!(pick("12D3KooWB", &all), Pick::One(2));
        assert_eq!(pick(" ben ", &all), Pick::One(2));
        assert_eq!(pick("Cara", &all), Pick::One(4));
    }

    #[test]
    fn an_ambiguous_query_lists_who_it_could_be() {
        let all = people();
        assert_eq!(
            pick("~00b", &all),
            Pick::Several(vec![
                "Amira ~00ba12345678".into(),
                "Ben ~00bb99995678".into()
            ])
        );
        let Pick::Several(both) = pick("AMIRA", &all) else {
            panic!("two people are called Amira")
        };
        assert_eq!(list(&both), "Amira ~00ba12345678 or amira ~ed48aaaa5678");
        assert_eq!(
            pick("12D3KooW", &all),
            Pick::Several(all.iter().map(|c| c.label.clone()).collect())
        );
    }

    #[test]
    fn nothing_is_guessed() {
        let all = people();
        assert_eq!(pick("~ffff", &all), Pick::Nobody);
        assert_eq!(pick("Am", &all), Pick::Nobody);
        assert_eq!(pick("", &all), Pick::Nobody);
        // A handle given with ~ never falls back to names.
        let named_like_a_handle = vec![c(9, "abcdef0000000000", "12D3KooWX", "~00ba")];
        assert_eq!(pick("~00ba", &named_like_a_handle), Pick::Nobody);
    }

    #[test]
    fn labels() {
        assert_eq!(
            label(Some("Amira"), Some("~00ba12345678"), "12D3KooWxyz"),
            "Amira ~00ba12345678"
        );
        assert_eq!(label(None, None, "12D3KooWabcdefgh"), "…abcdefgh");
        assert_eq!(label(Some(" "), None, "12D3KooWabcdefgh"), "…abcdefgh");
        assert_eq!(
            list(&(0..8).map(|i| i.to_string()).collect::<Vec<_>>()),
            "0, 1, 2, 3, 4 or 5 (and 2 more)"
        );
    }
}
