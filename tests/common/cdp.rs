//! A small client for the Chrome DevTools protocol over a pipe
//! (`--remote-debugging-pipe`: commands on fd 3, answers on fd 4, each a
//! JSON text ending in NUL), driving Debian's real `chromium`. No browser
//! download, no WebSocket, no extra crate.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long one protocol call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The browser binary, if this machine has one.
pub fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

type Pending = Arc<Mutex<HashMap<u64, Sender<Value>>>>;

pub struct Browser {
    child: Child,
    commands: Mutex<File>,
    pending: Pending,
    events: Arc<Mutex<Vec<Value>>>,
    next: AtomicU64,
    _profile: tempfile::TempDir,
}

fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array we own.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2");
    (fds[0], fds[1])
}

impl Browser {
    /// A fresh headless browser with its own empty profile; None without
    /// chromium on this machine.
    pub fn launch() -> Option<Browser> {
        let bin = chromium()?;
        let profile = tempfile::tempdir().expect("browser profile");
        let (cmd_read, cmd_write) = pipe();
        let (ans_read, ans_write) = pipe();
        let mut command = Command::new(bin);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--window-size=1100,900",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork
        // and exec. Moving the ends above 10 first keeps dup2 from being a
        // no-op that would leave close-on-exec set.
        unsafe {
            command.pre_exec(move || {
                let a = libc::fcntl(cmd_read, libc::F_DUPFD, 10);
                let b = libc::fcntl(ans_write, libc::F_DUPFD, 10);
                if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("start chromium");
        // SAFETY: each fd is ours alone from here on.
        unsafe {
            libc::close(cmd_read);
            libc::close(ans_write);
        }
        let commands = unsafe { File::from_raw_fd(cmd_write) };
        let answers = unsafe { File::from_raw_fd(ans_read) };
        let pending: Pending = Default::default();
        let events: Arc<Mutex<Vec<Value>>> = Default::default();
        {
            let (pending, events) = (pending.clone(), events.clone());
            std::thread::spawn(move || {
                let mut r = BufReader::new(answers);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match r.read_until(0, &mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if buf.last() == Some(&0) {
                        buf.pop();
                    }
                    let Ok(v) = serde_json::from_slice::<Value>(&buf) else {
                        continue;
                    };
                    match v.get("id").and_then(Value::as_u64) {
                        Some(id) => {
                            if let Some(tx) = pending.lock().unwrap().remove(&id) {
                                let _ = tx.send(v);
                            }
                        }
                        None => events.lock().unwrap().push(v),
                    }
                }
            });
        }
        Some(Browser {
            child,
            commands: Mutex::new(commands),
            pending,
            events,
            next: AtomicU64::new(1),
            _profile: profile,
        })
    }

    /// One protocol call; the answer's `result`, or the browser's error.
    pub fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let (tx, rx) = channel();
        self.pending.lock().unwrap().insert(id, tx);
        {
            let mut w = self.commands.lock().unwrap();
            let mut bytes = serde_json::to_vec(&msg).unwrap();
            bytes.push(0);
            w.write_all(&bytes)
                .map_err(|e| format!("write to chromium: {e}"))?;
        }
        let v = rx
            .recv_timeout(CALL_TIMEOUT)
            .map_err(|_| format!("chromium did not answer {method} in time"))?;
        match v.get("error") {
            Some(e) => Err(format!("{method}: {e}")),
            None => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
        }
    }

    /// A new tab, attached, with the page and runtime domains on.
    pub fn tab(&self) -> Tab<'_> {
        let t = self
            .call(None, "Target.createTarget", json!({ "url": "about:blank" }))
            .expect("new tab");
        let target = t["targetId"].as_str().expect("target id").to_string();
        let a = self
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target, "flatten": true }),
            )
            .expect("attach to tab");
        let session = a["sessionId"].as_str().expect("session id").to_string();
        let tab = Tab {
            b: self,
            session,
            target,
        };
        tab.call("Page.enable", json!({}));
        tab.call("Runtime.enable", json!({}));
        tab
    }

    /// Events seen so far whose method is `method` (and takes them).
    pub fn take_events(&self, method: &str) -> Vec<Value> {
        let mut all = self.events.lock().unwrap();
        let (mine, rest): (Vec<_>, Vec<_>) = all.drain(..).partition(|e| e["method"] == method);
        *all = rest;
        mine
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.call(None, "Browser.close", json!({}));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One tab of the browser.
pub struct Tab<'a> {
    pub b: &'a Browser,
    session: String,
    target: String,
}

impl Tab<'_> {
    pub fn call(&self, method: &str, params: Value) -> Value {
        self.b
            .call(Some(&self.session), method, params)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn goto(&self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
        self.wait("the page to load", "document.readyState === 'complete'");
    }

    /// Runs `js` (an expression; promises are awaited) and returns its value.
    pub fn eval(&self, js: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": js, "awaitPromise": true, "returnByValue": true }),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("script failed: {js}\n{e}");
        }
        r["result"]["value"].clone()
    }

    /// Waits (up to 30 s) until `js` is truthy; returns its value.
    pub fn wait(&self, what: &str, js: &str) -> Value {
        self.wait_for(what, js, Duration::from_secs(30))
    }

    pub fn wait_for(&self, what: &str, js: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.call(
                "Runtime.evaluate",
                json!({ "expression": js, "awaitPromise": true, "returnByValue": true }),
            );
            let v = r["result"]["value"].clone();
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy && r.get("exceptionDetails").is_none() {
                return v;
            }
            if Instant::now() > deadline {
                let text = self.text("document.body");
                panic!("timed out waiting for {what} ({js}); the page says:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The visible text of the element a selector (or expression) names.
    pub fn text(&self, expr: &str) -> String {
        let js = if expr.starts_with('#') || expr.starts_with('.') {
            format!("document.querySelector({expr:?})?.innerText ?? ''")
        } else {
            format!("({expr})?.innerText ?? ''")
        };
        self.eval(&js).as_str().unwrap_or_default().to_string()
    }

    /// Clicks the first button or link whose text contains `label`,
    /// without waiting for what the click starts (a dialog may open).
    pub fn click(&self, label: &str) {
        let js = format!(
            "(() => {{ const b = [...document.querySelectorAll('button, a, summary')].find(e => e.offsetParent !== null && e.innerText.includes({label:?})); if (!b) return false; setTimeout(() => b.click(), 0); return true; }})()"
        );
        self.wait(&format!("a visible control named {label:?}"), &js);
    }

    /// Types into a field as a person would (focus, then text input).
    pub fn fill(&self, id: &str, text: &str) {
        self.eval(&format!("document.getElementById({id:?}).focus()"));
        self.eval(&format!("document.getElementById({id:?}).value = ''"));
        self.call("Input.insertText", json!({ "text": text }));
    }

    /// Presses Tab until `js` (about `document.activeElement`) is true.
    pub fn tab_to(&self, js: &str) {
        for _ in 0..60 {
            if self.eval(js) == Value::Bool(true) {
                return;
            }
            self.key("Tab");
        }
        panic!("Tab never reached what {js} looks for");
    }

    /// Presses one key (Tab, Enter, Space, …) on whatever has focus.
    pub fn key(&self, key: &str) {
        self.key_with(key, 0);
    }

    /// With modifiers (8: Shift).
    pub fn key_with(&self, key: &str, modifiers: u32) {
        let (code, vk, text) = match key {
            "Tab" => ("Tab", 9, ""),
            "Enter" => ("Enter", 13, "\r"),
            " " => ("Space", 32, " "),
            "Escape" => ("Escape", 27, ""),
            other => panic!("no key code for {other:?}"),
        };
        for kind in ["rawKeyDown", "char", "keyUp"] {
            if kind == "char" && text.is_empty() {
                continue;
            }
            self.call(
                "Input.dispatchKeyEvent",
                json!({ "type": kind, "key": key, "code": code, "windowsVirtualKeyCode": vk,
                        "nativeVirtualKeyCode": vk, "text": if kind == "keyUp" { "" } else { text },
                        "modifiers": modifiers }),
            );
        }
    }

    /// Answers the next `confirm`/`prompt` the page opens.
    pub fn answer_dialog(&self, accept: bool, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self
            .b
            .take_events("Page.javascriptDialogOpening")
            .is_empty()
        {
            assert!(Instant::now() < deadline, "no dialog opened");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.call(
            "Page.handleJavaScriptDialog",
            json!({ "accept": accept, "promptText": text }),
        );
    }

    /// A PNG of what the tab shows.
    pub fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap_or_default())
            .expect("screenshot is base64");
        std::fs::write(path, png).expect("write screenshot");
    }

    pub fn close(self) {
        let _ = self.b.call(
            None,
            "Target.closeTarget",
            json!({ "targetId": self.target }),
        );
    }
}
