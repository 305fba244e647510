//! A small lab of hosts as Linux network namespaces: one "internet" namespace
//! holding a bridge, and hosts attached to it by veth pairs. Everything lives
//! in namespaces this harness creates (nothing is added to the machine's own
//! namespace) and is deleted when the lab is dropped.
//!
//! Addresses are from 198.18.0.0/24 (the benchmarking range) and exist only
//! inside the lab.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static LABS: AtomicU32 = AtomicU32::new(0);

pub struct Lab {
    prefix: String,
    inet: String,
    hosts: Vec<String>,
}

#[derive(Clone)]
pub struct Host {
    pub ns: String,
    pub ip: String,
    /// The host's port on the lab bridge (in the internet namespace).
    port: String,
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

impl Lab {
    /// A new lab, or `None` (with the reason printed) where namespaces
    /// cannot be made: not root, or no `ip`/`iptables`.
    pub fn new() -> Option<Lab> {
        if unsafe { libc::geteuid() } != 0 {
            super::skip_or_fail("the network-namespace suite needs root");
            return None;
        }
        for tool in ["ip", "iptables"] {
            if Command::new(tool).arg("-V").output().is_err()
                && Command::new(tool).arg("--version").output().is_err()
            {
                super::skip_or_fail(&format!(
                    "the network-namespace suite needs `{tool}` (iproute2, iptables)"
                ));
                return None;
            }
        }
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("kd{}x{n}", std::process::id() % 100_000);
        let inet = format!("{prefix}-inet");
        let lab = Lab {
            prefix,
            inet: inet.clone(),
            hosts: Vec::new(),
        };
        let setup = || -> Result<(), String> {
            run(&["ip", "netns", "add", &inet])?;
            run(&[
                "ip", "netns", "exec", &inet, "ip", "link", "set", "lo", "up",
            ])?;
            run(&[
                "ip", "netns", "exec", &inet, "ip", "link", "add", "br0", "type", "bridge",
            ])?;
            run(&[
                "ip", "netns", "exec", &inet, "ip", "link", "set", "br0", "up",
            ])
        };
        if let Err(e) = setup() {
            super::skip_or_fail(&format!("cannot create network namespaces here ({e})"));
            return None;
        }
        Some(lab)
    }

    /// Adds a host on the lab's bridge.
    pub fn host(&mut self, name: &str) -> Host {
        let idx = self.hosts.len() + 1;
        let ns = format!("{}-{name}", self.prefix);
        let port = format!("h{idx}");
        let ip = format!("198.18.0.{idx}");
        let cidr = format!("{ip}/24");
        let steps: Vec<Vec<&str>> = vec![
            vec!["ip", "netns", "add", &ns],
            vec![
                "ip", "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port,
                "netns", &self.inet,
            ],
            vec![
                "ip", "netns", "exec", &self.inet, "ip", "link", "set", &port, "master", "br0",
            ],
            vec![
                "ip", "netns", "exec", &self.inet, "ip", "link", "set", &port, "up",
            ],
            vec![
                "ip", "netns", "exec", &ns, "ip", "addr", "add", &cidr, "dev", "eth0",
            ],
            vec![
                "ip", "netns", "exec", &ns, "ip", "link", "set", "eth0", "up",
            ],
            vec!["ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"],
        ];
        for s in steps {
            run(&s).unwrap_or_else(|e| panic!("lab setup failed: {e}"));
        }
        self.hosts.push(ns.clone());
        Host { ns, ip, port }
    }

    /// Adds a host behind its own home router: the router sits on the lab
    /// bridge with a public address and masquerades (NAT) for the host,
    /// which has a private 10.N.0.2 address and no way in from outside.
    pub fn host_behind_nat(&mut self, name: &str) -> Host {
        let router = self.host(&format!("{name}r"));
        let n = self.hosts.len();
        let ns = format!("{}-{name}", self.prefix);
        let (lan_r, lan_h) = (format!("10.{n}.0.1"), format!("10.{n}.0.2"));
        let (cidr_r, cidr_h) = (format!("{lan_r}/24"), format!("{lan_h}/24"));
        let steps: Vec<Vec<&str>> = vec![
            vec!["ip", "netns", "add", &ns],
            vec![
                "ip", "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", "lan0",
                "netns", &router.ns,
            ],
            vec![
                "ip", "netns", "exec", &router.ns, "ip", "addr", "add", &cidr_r, "dev", "lan0",
            ],
            vec![
                "ip", "netns", "exec", &router.ns, "ip", "link", "set", "lan0", "up",
            ],
            vec![
                "ip",
                "netns",
                "exec",
                &router.ns,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
            vec![
                "ip",
                "netns",
                "exec",
                &router.ns,
                "iptables",
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-o",
                "eth0",
                "-j",
                "MASQUERADE",
            ],
            vec![
                "ip", "netns", "exec", &ns, "ip", "addr", "add", &cidr_h, "dev", "eth0",
            ],
            vec![
                "ip", "netns", "exec", &ns, "ip", "link", "set", "eth0", "up",
            ],
            vec!["ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"],
            vec![
                "ip", "netns", "exec", &ns, "ip", "route", "add", "default", "via", &lan_r,
            ],
        ];
        for s in steps {
            run(&s).unwrap_or_else(|e| panic!("lab setup failed: {e}"));
        }
        // Like a home router's firewall: unsolicited packets from outside are
        // dropped, to the router and to the host. Dropped packets leave no
        // connection-tracking entry, so a hole-punching packet that arrives
        // before our own outgoing one does not make the NAT pick another
        // port for it (which a plain MASQUERADE does).
        drop_unsolicited(&router.ns, &["INPUT", "FORWARD"]);
        self.hosts.push(ns.clone());
        Host {
            ns,
            ip: lan_h,
            port: router.port,
        }
    }

    /// Puts a firewall in front of a host with a public address: nothing
    /// from outside gets in unless the host started the exchange.
    pub fn firewall(&self, host: &Host) {
        drop_unsolicited(&host.ns, &["INPUT"]);
    }

    /// Drops all traffic between `host` and each of `others` (both ways),
    /// as a broken link would.
    pub fn partition(&self, host: &Host, others: &[&Host]) {
        for o in others {
            for (chain, flag) in [("INPUT", "-s"), ("OUTPUT", "-d")] {
                run(&[
                    "ip", "netns", "exec", &host.ns, "iptables", "-A", chain, flag, &o.ip, "-j",
                    "DROP",
                ])
                .unwrap_or_else(|e| panic!("partition failed: {e}"));
            }
        }
    }

    /// Lets all of `host`'s traffic through again.
    pub fn heal(&self, host: &Host) {
        for chain in ["INPUT", "OUTPUT"] {
            run(&["ip", "netns", "exec", &host.ns, "iptables", "-F", chain])
                .unwrap_or_else(|e| panic!("heal failed: {e}"));
        }
    }

    /// Takes the host's link down or up at the bridge.
    pub fn link(&self, host: &Host, up: bool) {
        run(&[
            "ip",
            "netns",
            "exec",
            &self.inet,
            "ip",
            "link",
            "set",
            &host.port,
            if up { "up" } else { "down" },
        ])
        .unwrap_or_else(|e| panic!("link change failed: {e}"));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain(std::iter::once(&self.inet)) {
            let _ = run(&["ip", "netns", "del", ns]);
        }
    }
}

/// Drops packets arriving on `eth0` of `ns` that no outgoing one asked for.
fn drop_unsolicited(ns: &str, chains: &[&str]) {
    for chain in chains {
        run(&[
            "ip",
            "netns",
            "exec",
            ns,
            "iptables",
            "-A",
            chain,
            "-i",
            "eth0",
            "-m",
            "conntrack",
            "--ctstate",
            "NEW,INVALID",
            "-j",
            "DROP",
        ])
        .unwrap_or_else(|e| panic!("firewall setup failed: {e}"));
    }
}
