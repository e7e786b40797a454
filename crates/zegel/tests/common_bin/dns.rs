//! A DNS server for the NTA 7516 tests: dnsmasq answering only for `.test` from the records
//! given.

use super::free_port;
use std::path::Path;
use std::time::Duration;
use tokio::process::{Child, Command};

/// A dnsmasq answering only for `.test`, from the records given; killed on drop.
pub struct Dns {
    _child: Child,
    port: u16,
}

impl Dns {
    /// `records`: dnsmasq options such as `--txt-record=a.test,"..."` (no shell: the text
    /// goes as it is).
    pub async fn start(dir: &Path, records: &[String]) -> Dns {
        let port = free_port();
        let bin = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "dnsmasq"]
            .into_iter()
            .find(|b| !b.starts_with('/') || Path::new(b).exists())
            .expect("dnsmasq");
        let mut child = Command::new(bin)
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--local=/test/",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
            .args(records)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start dnsmasq (apt-get install dnsmasq-base; scripts/test.sh does)");
        // Ready when it answers on UDP.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("dnsmasq exited: {status}");
            }
            if udp_answers(port).await {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "dnsmasq did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Dns {
            _child: child,
            port,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Whether a DNS server answers a query for `probe.test.` on 127.0.0.1:`port`.
async fn udp_answers(port: u16) -> bool {
    let Ok(sock) = tokio::net::UdpSocket::bind("127.0.0.1:0").await else {
        return false;
    };
    // A query for probe.test. IN A (id 0x1234, RD).
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["probe", "test"] {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    if sock.send_to(&q, ("127.0.0.1", port)).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    matches!(
        tokio::time::timeout(Duration::from_millis(300), sock.recv_from(&mut buf)).await,
        Ok(Ok((n, _))) if n >= 12 && buf[0] == 0x12 && buf[1] == 0x34
    )
}
