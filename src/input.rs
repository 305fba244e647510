//! Reading what should not go on the command line: invite keys (a secret,
//! visible in `ps` and shell history there) and message text (which the
//! shell mangles: `!!`, `$50`).

use std::io::{Read, Write};

use anyhow::{bail, Context, Result};

fn stdin_is_terminal() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 }
}

/// Message text: as given, or from standard input when absent or `-`. On
/// a terminal it says how to finish first.
pub fn message_text(given: Option<String>) -> Result<String> {
    if let Some(t) = given.filter(|t| t != "-") {
        return Ok(t);
    }
    if stdin_is_terminal() {
        eprintln!("Write your message. Press Enter for a new line, and Ctrl-D on an empty line to send it (Ctrl-C to cancel).");
    }
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading the message from standard input")?;
    let s = s.trim_end_matches('\n').to_string();
    if s.trim().is_empty() {
        bail!("the message is empty; nothing was sent");
    }
    Ok(s)
}

/// An invite key: as given, or from standard input. On a terminal it is
/// read without echo (like a password), so it stays off the screen, out of
/// the shell's history and out of `ps`.
pub fn invite(given: Option<String>) -> Result<String> {
    if let Some(i) = given.filter(|i| i != "-") {
        return Ok(i);
    }
    let text = if stdin_is_terminal() {
        eprint!("Paste the invite key and press Enter (it is not shown): ");
        let _ = std::io::stderr().flush();
        let line = read_hidden_line()?;
        eprintln!();
        line
    } else {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the invite key from standard input")?;
        s
    };
    let text = text.trim().to_string();
    if text.is_empty() {
        bail!("no invite key was given");
    }
    Ok(text)
}

/// One line from the terminal with echo off. Canonical mode is off too:
/// the kernel's line buffer (4 KiB) is shorter than the longest invite.
fn read_hidden_line() -> Result<String> {
    let fd = libc::STDIN_FILENO;
    // SAFETY: a zeroed termios is a valid out-parameter for tcgetattr.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is a terminal (checked by the caller); saved is valid.
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        bail!("cannot read the terminal's settings");
    }
    let mut quiet = saved;
    // ISIG off too, so Ctrl-C arrives as a byte and echo is restored after it.
    quiet.c_lflag &= !(libc::ECHO | libc::ICANON | libc::ISIG);
    quiet.c_cc[libc::VMIN] = 1;
    quiet.c_cc[libc::VTIME] = 0;
    // SAFETY: quiet is a valid termios derived from the current one.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) } != 0 {
        bail!("cannot turn the terminal's echo off");
    }
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    let result = loop {
        match std::io::stdin().read(&mut byte) {
            Ok(0) => break Ok(()),
            Ok(_) if matches!(byte[0], b'\n' | b'\r' | 4) => break Ok(()),
            Ok(_) if byte[0] == 3 => break Err(anyhow::anyhow!("cancelled")),
            Ok(_) if line.len() > 64 * 1024 => {
                break Err(anyhow::anyhow!("the input is too long for an invite key"))
            }
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e.into()),
        }
    };
    // SAFETY: restores the settings read above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    result?;
    String::from_utf8(line).context("the invite key is not text")
}

/// Asks a yes/no question on the terminal; anything but "y" or "yes" is no.
/// Without a terminal the answer is no: scripts pass `--yes`.
pub fn confirm(question: &str) -> Result<bool> {
    if !stdin_is_terminal() {
        bail!("this asks for confirmation; pass --yes to run it without a terminal");
    }
    eprint!("{question}");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("reading the answer")?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
