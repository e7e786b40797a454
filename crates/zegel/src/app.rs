//! Wiring: configuration -> store, keys, blobs, outbound -> `Zegel`; and the server loop.

use crate::config::{Config, DatabaseUrl, MasterKeySource};
use crate::http::server;
use anyhow::{bail, Context};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use zegel_core::blobs::Blobs;
use zegel_core::keys::KeyRing;
use zegel_core::outbound::{Mailer, OutboxMailer, OutboxSms, SmsSender, SmtpMailer};
use zegel_core::service::Worker;
use zegel_core::sms::HttpSms;
use zegel_core::{DynStore, Zegel};
use zegel_crypto::MasterKey;

use zegel_core::keys::META_KEY_CHECK;

/// Creates the data directory readable by its owner only (an existing one is left as it is).
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))
}

/// Connects the configured database and runs its migrations.
pub async fn open_store(cfg: &Config) -> anyhow::Result<DynStore> {
    let store: DynStore = match &cfg.database {
        DatabaseUrl::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_private_dir(dir)?;
            }
            Arc::new(
                zegel_store_sqlite::SqliteStore::connect(&path.to_string_lossy())
                    .await
                    .with_context(|| format!("opening SQLite database {}", path.display()))?,
            )
        }
        DatabaseUrl::Postgres(url) => Arc::new(
            zegel_store_postgres::PgStore::connect(url)
                .await
                .with_context(|| format!("connecting to {:?}", cfg.database))?,
        ),
    };
    store
        .migrate()
        .await
        .context("running database migrations")?;
    Ok(store)
}

/// Loads the master key. The key file is created on first start only: if the database already
/// has a key-check value, a missing key file is an error, never a new key.
async fn master_key(cfg: &Config, store: &DynStore) -> anyhow::Result<MasterKey> {
    match &cfg.master {
        MasterKeySource::Inline(b64) => {
            MasterKey::from_base64(b64).context("ZEGEL_MASTER_KEY is not base64 of 32 bytes")
        }
        MasterKeySource::File(path) => {
            let initialised = store.meta_get(META_KEY_CHECK).await?.is_some();
            if initialised && !path.exists() {
                bail!(
                    "the master key file {} is missing, but this database was initialised with a \
                     master key; restore the key file (or set ZEGEL_MASTER_KEY)",
                    path.display()
                );
            }
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_private_dir(dir)?;
            }
            let (key, created) = MasterKey::load_or_create(path)
                .with_context(|| format!("master key file {}", path.display()))?;
            if created {
                tracing::info!(path = %path.display(), "created a new master key; back it up");
            }
            Ok(key)
        }
    }
}

/// Builds the service from the configuration.
pub async fn open(cfg: &Config) -> anyhow::Result<Arc<Zegel>> {
    create_private_dir(&cfg.data_dir)?;
    let store = open_store(cfg).await?;
    let master = master_key(cfg, &store).await?;
    let keys = KeyRing::open(&store, master)
        .await
        .map_err(|e| anyhow::anyhow!("refusing to start: {e}"))?;
    let blobs = Blobs::from_url(&cfg.blob_url).context("opening blob storage")?;
    let mailer: Arc<dyn Mailer> = match &cfg.smtp {
        Some(s) => Arc::new(SmtpMailer::new(s).map_err(anyhow::Error::msg)?),
        None => Arc::new(
            OutboxMailer::new(outbox_mail_dir(cfg), &cfg.mail_from)?.with_dkim(cfg.dkim.clone()),
        ),
    };
    let sms: Arc<dyn SmsSender> = match &cfg.sms {
        Some(s) => Arc::new(HttpSms::new(s.clone()).map_err(anyhow::Error::msg)?),
        None => Arc::new(OutboxSms::new(outbox_sms_dir(cfg))?),
    };
    // One resolver for NTA 7516 lookups and for checking mail received from other providers.
    let mail_dns = if cfg.direct.is_some() || cfg.submission.is_some() {
        match zegel_core::mail_dns::MailDns::new(cfg.dns_resolver) {
            Ok(dns) => Some(Arc::new(dns)),
            Err(e) if cfg.direct.is_none() => {
                tracing::warn!(error = %e, "no DNS resolver: mail from other providers is not checked");
                None
            }
            Err(e) => return Err(anyhow::anyhow!(e)),
        }
    } else {
        None
    };
    let direct = match (&cfg.direct, &mail_dns) {
        (Some(d), Some(dns)) => Some(Arc::new(
            zegel_core::outbound::direct::Direct::new(d, dns.clone())
                .map_err(anyhow::Error::msg)?,
        )),
        _ => None,
    };
    Ok(Arc::new(Zegel {
        store,
        blobs,
        keys,
        mailer,
        sms,
        direct,
        mail_dns,
        settings: cfg.settings.clone(),
        job_wakeup: Arc::new(Notify::new()),
        smtp_logins: zegel_core::service::smtp_logins(),
    }))
}

/// `<data>/outbox/mail`.
pub fn outbox_mail_dir(cfg: &Config) -> std::path::PathBuf {
    cfg.data_dir.join("outbox").join("mail")
}

/// `<data>/outbox/sms`.
pub fn outbox_sms_dir(cfg: &Config) -> std::path::PathBuf {
    cfg.data_dir.join("outbox").join("sms")
}

/// Binds the listener and fixes `public_url` when it was not configured.
pub async fn bind(cfg: &mut Config) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    if !cfg.public_url_set {
        cfg.settings.public_url = format!("http://{}", listener.local_addr()?);
    }
    Ok(listener)
}

/// Serves HTTP (and `/metrics` on `ZEGEL_METRICS_LISTEN` when set), runs the job worker and the
/// sweeper, until SIGTERM / Ctrl-C.
pub async fn serve(cfg: &Config, z: Arc<Zegel>, listener: TcpListener) -> anyhow::Result<()> {
    let metrics_listener = match &cfg.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("ZEGEL_METRICS_LISTEN: listening on {addr}"))?,
        ),
        None => None,
    };
    let (tx, rx) = watch::channel(false);
    let worker = tokio::spawn(Worker::new(z.clone()).run(rx.clone()));
    let sequencer = {
        let z = z.clone();
        let rx = rx.clone();
        tokio::spawn(async move { z.run_audit_sequencer(rx).await })
    };
    let sweeper = {
        let z = z.clone();
        let rx = rx.clone();
        let every = zegel_core::service::SWEEP_INTERVAL;
        tokio::spawn(async move { z.run_sweeper(every, rx).await })
    };
    let (router, metrics_router) = crate::http::router_and_metrics(z.clone(), http_options(cfg));
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let submission = match &cfg.submission {
        Some(settings) => {
            let l = crate::smtp::bind(settings).await?;
            let saddr = l.local_addr()?;
            // CONTRACT: printed before the HTTP line, which tests and scripts wait for.
            println!("smtp submission listening on {saddr}");
            tracing::info!(addr = %saddr, "smtp submission listening");
            let stop = stopped(rx.clone());
            Some(tokio::spawn(crate::smtp::serve(
                l,
                z.clone(),
                settings.clone(),
                stop,
            )))
        }
        None => None,
    };
    let addr = listener.local_addr()?;
    // CONTRACT: tests and scripts wait for this line.
    println!("listening on http://{addr}");
    tracing::info!(%addr, backend = z.store.backend(), "listening");
    let metrics = match (metrics_listener, metrics_router) {
        (Some(l), Some(r)) => {
            let maddr = l.local_addr()?;
            println!("metrics listening on http://{maddr}");
            tracing::info!(addr = %maddr, "metrics listening");
            let limits = cfg.server.clone();
            let stop = stopped(rx.clone());
            Some(tokio::spawn(server::serve(l, r, limits, stop)))
        }
        _ => None,
    };
    // SIGTERM / Ctrl-C: the worker stops claiming at once (jobs in flight finish), HTTP stops
    // accepting and drains its requests.
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested: no new jobs, finishing those in flight");
        let _ = tx.send(true);
    });
    server::serve(listener, router, cfg.server.clone(), stopped(rx.clone())).await?;
    if let Some(m) = metrics {
        m.await??;
    }
    if let Some(smtp) = submission {
        smtp.await??;
    }
    let _ = worker.await;
    let _ = sweeper.await;
    let _ = sequencer.await;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// The HTTP layer's options from the validated configuration.
fn http_options(cfg: &Config) -> crate::http::HttpOptions {
    crate::http::HttpOptions {
        rate_limit_per_minute: cfg.rate_limit_per_minute,
        rate_limit_burst: cfg.rate_limit_burst,
        proxies: cfg.trusted_proxies.clone(),
        secure_cookies: cfg.settings.public_url.starts_with("https://"),
        metrics_elsewhere: cfg.metrics_listen.is_some(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
