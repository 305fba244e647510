//! Text that other people wrote, made safe to show.
//!
//! Stored and `--json` text stays exact; these functions are for the places
//! a person reads it (a terminal, a notification). A terminal acts on ESC
//! sequences (clear the screen, write the clipboard, hide text) and bidi
//! overrides reorder what it shows, so both are shown escaped. Names are
//! also refused at the sender when they carry any of it (spec/protocol.md §7).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters that change how text around them is laid out or read:
/// bidi embeddings, overrides, isolates and marks, and the Unicode line and
/// paragraph separators.
fn is_layout_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            | '\u{2028}' | '\u{2029}'
    )
}

/// C0 and C1 controls, DEL, and the layout controls above.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_layout_control(c)
}

fn escape_char(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// One line of text with every unsafe character shown as an escape
/// (`\x1b`, `\n`, `\u{202e}`); a backslash stays a backslash. Text without
/// any comes back borrowed.
pub fn escape_line(text: &str) -> Cow<'_, str> {
    escape_with(text, is_unsafe)
}

/// Like [`escape_line`] but keeps tabs, for the lines of a post.
fn escape_in_line(text: &str) -> Cow<'_, str> {
    escape_with(text, |c| c != '\t' && is_unsafe(c))
}

fn escape_with(text: &str, unsafe_char: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            escape_char(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The lines of a multi-line text (a post, a private message, rules), each
/// neutralised. Only `\n` breaks a line (`\r\n` counts as one break); every
/// other control is shown escaped inside its line. The caller prints the
/// first line after its prefix and each later one behind a marker no message
/// line starts with, so no line of a post can pass for another message.
pub fn lines(text: &str) -> Vec<Cow<'_, str>> {
    text.split('\n')
        .map(|l| escape_in_line(l.strip_suffix('\r').unwrap_or(l)))
        .collect()
}

/// Why a display name or circle name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("it is empty")]
    Empty,
    #[error("it is over {max} bytes")]
    TooLong { max: usize },
    #[error("it contains a control character ({0}): names are one line of plain text")]
    Control(String),
}

/// Checks a name someone chooses for themselves or a circle: one line, no
/// controls, no bidi overrides, within `max` bytes. Leading and trailing
/// spaces are the caller's to trim first.
pub fn check_name(name: &str, max: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > max {
        return Err(NameError::TooLong { max });
    }
    if let Some(c) = name.chars().find(|&c| is_unsafe(c)) {
        let mut shown = String::new();
        escape_char(&mut shown, c);
        return Err(NameError::Control(shown));
    }
    Ok(())
}

/// What two display names look like to a reader, for telling whether one
/// could pass for the other: the UTS #39 skeleton (confusable letters
/// mapped to one), without accents and other combining marks, emoji,
/// spaces and punctuation, in lower case. "Bøb 🌻", "B o b" and "Βob" (Greek
/// capital beta) all give "bob".
pub fn name_likeness(name: &str) -> String {
    use unicode_normalization::char::is_combining_mark;
    use unicode_normalization::UnicodeNormalization;
    let skeleton: String = unicode_security::confusable_detection::skeleton(name).collect();
    let bare: String = skeleton
        .nfd()
        .filter(|c| !is_combining_mark(*c) && c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    // Lower case can itself make new look-alikes ("I" and "l").
    unicode_security::confusable_detection::skeleton(&bare).collect()
}

/// What a display name claims to be beyond a name, if anything: a role
/// ("Amira (owner)", "moderator", "admin") or a member's `~handle`. Such a
/// name is refused when chosen and flagged when someone else's arrives.
pub fn claims_role(name: &str) -> Option<&'static str> {
    const ROLES: [(&str, &str); 6] = [
        ("owner", "the owner"),
        ("moderator", "a moderator"),
        ("mod", "a moderator"),
        ("admin", "a moderator"),
        ("administrator", "a moderator"),
        ("staff", "a moderator"),
    ];
    let skeleton: String = unicode_security::confusable_detection::skeleton(name).collect();
    let lower = skeleton.to_lowercase();
    for word in lower.split(|c: char| !c.is_alphanumeric()) {
        if let Some((_, what)) = ROLES.iter().find(|(w, _)| *w == word) {
            return Some(what);
        }
    }
    // A handle: "~" then hex digits, as the page and CLI show members.
    let handle = lower
        .split('~')
        .skip(1)
        .any(|rest| rest.chars().take_while(|c| c.is_ascii_hexdigit()).count() >= 4);
    handle.then_some("another member's handle")
}

/// Who looks like whom in a circle, the same on every node: `people` in
/// the order they came into the circle (the owner first), each with every
/// name they are known by. A person is flagged when one of their names
/// looks like a name of someone who came earlier; the one who came first
/// keeps the name and is never flagged for another's copy. Returns, per
/// flagged person (by index), the indexes of those they look like.
pub fn later_look_alikes(people: &[Vec<String>]) -> Vec<(usize, Vec<usize>)> {
    let likeness: Vec<Vec<String>> = people
        .iter()
        .map(|names| {
            let mut l: Vec<String> = names
                .iter()
                // The default name says nobody is claiming a name.
                .filter(|n| !n.trim().eq_ignore_ascii_case("anonymous"))
                .map(|n| name_likeness(n))
                .filter(|l| !l.is_empty())
                .collect();
            l.sort();
            l.dedup();
            l
        })
        .collect();
    let mut out = Vec::new();
    for (i, mine) in likeness.iter().enumerate() {
        let earlier: Vec<usize> = (0..i)
            .filter(|j| likeness[*j].iter().any(|l| mine.contains(l)))
            .collect();
        if !earlier.is_empty() {
            out.push((i, earlier));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_sequences_and_bidi() {
        assert_eq!(escape_line("hi\u{1b}[2Jx"), "hi\\x1b[2Jx");
        assert_eq!(escape_line("a\nb\tc\r"), "a\\nb\\tc\\r");
        assert_eq!(escape_line("abc\u{202e}def"), "abc\\u{202e}def");
        assert_eq!(escape_line("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape_line("\u{7f}"), "\\x7f");
        assert!(matches!(escape_line("Bøb 🌻 \\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_first_to_use_a_name_keeps_it_and_later_look_alikes_are_flagged() {
        let people = vec![
            vec!["Amira".to_string()],
            vec!["Bo".to_string(), "\u{410}mira".to_string()],
            vec!["anonymous".to_string()],
            vec!["anonymous".to_string(), "bo".to_string()],
        ];
        assert_eq!(later_look_alikes(&people), vec![(1, vec![0]), (3, vec![1])]);
        assert_eq!(claims_role("Amira (owner)"), Some("the owner"));
        assert_eq!(claims_role("M\u{43e}derator"), Some("a moderator"));
        assert_eq!(claims_role("I am ~3f2a9c"), Some("another member's handle"));
        assert_eq!(claims_role("Modesty"), None);
        assert_eq!(claims_role("Amira"), None);
    }

    #[test]
    fn lines_split_only_on_newline() {
        let l = lines("one\r\ntwo\u{1b}]52;c;aGk=\u{7}\n\tthree\u{2028}four");
        assert_eq!(
            l,
            vec!["one", "two\\x1b]52;c;aGk=\\x07", "\tthree\\u{2028}four"]
        );
    }

    #[test]
    fn names() {
        assert_eq!(check_name("Bob", 64), Ok(()));
        assert_eq!(check_name("Bøb 🌻", 64), Ok(()));
        assert_eq!(check_name("", 64), Err(NameError::Empty));
        assert_eq!(
            check_name(&"x".repeat(65), 64),
            Err(NameError::TooLong { max: 64 })
        );
        assert_eq!(
            check_name("Bob\nAlice", 64),
            Err(NameError::Control("\\n".into()))
        );
        assert!(check_name("a\u{202e}b", 64).is_err());
        assert!(check_name("a\u{1b}[31m", 64).is_err());
    }

    #[test]
    fn look_alike_names() {
        let bob = name_likeness("Bob");
        for n in ["Bøb 🌻", "B o b", "\u{392}ob", "bob", "BOB", "Bób"] {
            assert_eq!(name_likeness(n), bob, "{n}");
        }
        assert_ne!(name_likeness("Rob"), bob);
        assert_ne!(name_likeness("Alice"), bob);
        assert_eq!(name_likeness("Alice"), name_likeness("AIice"));
    }

    proptest::proptest! {
        #[test]
        fn escaped_output_is_always_safe(s in "\\PC*|[\\x00-\\x7f\\u{80}-\\u{9f}\\u{202a}-\\u{202e}]*") {
            proptest::prop_assert!(!escape_line(&s).chars().any(is_unsafe));
            for l in lines(&s) {
                proptest::prop_assert!(!l.chars().any(|c| c != '\t' && is_unsafe(c)));
            }
        }
    }
}
