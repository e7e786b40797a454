//! `zegel`: secure messaging portal for Dutch healthcare.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use zegel::{app, config};
use zegel_core::model::Role;
use zegel_core::service::NewUserReq;
use zegel_core::Zegel;

// mimalloc instead of glibc malloc: a send and its notification make many short-lived
// allocations on two threads, and glibc's malloc/free was 7 % of the machine's CPU in the
// delivery benchmark (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "zegel",
    version,
    about = "Zegel: secure messaging for Dutch healthcare"
)]
struct Cli {
    /// Configuration file (TOML); `ZEGEL_*` variables override it.
    #[arg(long, global = true, env = "ZEGEL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Demo: SQLite in ./zegel-data, dev outbox, demo sender and a sample message; serves.
    Demo,
    /// Serves HTTP and runs the workers.
    Serve,
    /// Runs the database migrations and exits.
    Migrate,
    /// A consistent backup (SQLite and local blobs) into a new directory, while serving.
    Backup {
        /// The directory to write (new or empty).
        #[arg(long)]
        to: PathBuf,
    },
    /// Restores a backup into a new installation (the master key must be in place).
    Restore {
        /// The backup directory.
        #[arg(long)]
        from: PathBuf,
    },
    /// The NEN 7513 audit trail: check it, export it.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Organisations, users and API tokens.
    Admin {
        #[command(subcommand)]
        cmd: AdminCmd,
    },
    /// Signed receipts.
    Receipt {
        #[command(subcommand)]
        cmd: ReceiptCmd,
    },
}

#[derive(Subcommand)]
enum ReceiptCmd {
    /// Checks a signed receipt (JWS) offline; exits 0 and prints what it proves, or exits 1
    /// with the reason (bad signature, unknown key, malformed).
    Verify {
        /// The receipt file (as downloaded).
        file: PathBuf,
        /// The organisation's public keys (JWK Set, from `zegel admin keys public` or
        /// `/.well-known/zegel/keys/{slug}.json`); without it, the keys in the configured
        /// installation's database.
        #[arg(long = "key")]
        key: Option<PathBuf>,
        /// Prints the verified payload as JSON instead of the summary.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Checks every hash chain, signed checkpoint and event against its entry; exits 0 when
    /// the trail is whole, 1 naming the first bad entry. Safe while serving.
    Verify,
    /// Signs the head of every chain now (the server does so about once a minute).
    Checkpoint,
    /// Writes entries to standard output, oldest first.
    Export {
        /// From this day (Amsterdam; `2026-12-01`) or RFC 3339 time on.
        #[arg(long)]
        from: Option<String>,
        /// Up to and including this day (or before this RFC 3339 time).
        #[arg(long)]
        to: Option<String>,
        /// Only entries concerning this recipient (e-mail address or phone number).
        #[arg(long)]
        recipient: Option<String>,
        /// `jsonl` (one JSON object per line) or `csv`.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: zegel::audit_cli::Format,
    },
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Organisations.
    Org {
        #[command(subcommand)]
        cmd: OrgCmd,
    },
    /// Users (senders, admins).
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Key rotation (organisation keys, master key) and the public signing keys.
    Keys {
        #[command(subcommand)]
        cmd: zegel::admin_keys::KeysCmd,
    },
    /// SMTP submission credentials (mail clients, hospital systems).
    SmtpCredential {
        #[command(subcommand)]
        cmd: SmtpCredentialCmd,
    },
    /// NTA 7516 (secure mail directly between care providers).
    Nta {
        #[command(subcommand)]
        cmd: NtaCmd,
    },
}

#[derive(Subcommand)]
enum NtaCmd {
    /// Prints the TXT record the organisation publishes on its mail domains (one line).
    Record {
        /// Organisation slug.
        #[arg(long)]
        org: String,
    },
}

#[derive(Subcommand)]
enum SmtpCredentialCmd {
    /// Creates an SMTP credential for E (creating sender E when missing) and prints one line:
    /// the user name, a space, the password (shown once).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "smtp")]
        label: String,
    },
    /// Revokes the SMTP credential with this user name (its sessions cannot log in again).
    Revoke {
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand)]
enum OrgCmd {
    /// Creates an organisation with its own key.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// Lists organisations.
    List,
    /// Shows or changes an organisation's policy for replies, forwards, remembered devices,
    /// its contact line on the recipient pages, its SMS codes (budget per day, countries) and
    /// how long its messages stay available; prints the policy as JSON.
    Policy {
        /// Organisation slug.
        #[arg(long, default_value = "default")]
        slug: String,
        /// Default reply policy: once, unlimited or off.
        #[arg(long)]
        reply_default: Option<String>,
        /// Senders may not change the reply policy (true/false).
        #[arg(long)]
        reply_locked: Option<bool>,
        /// Recipients may forward securely (true/false).
        #[arg(long)]
        forward: Option<bool>,
        /// "Remember this device" for this many days (0 = a code on every visit).
        #[arg(long)]
        device_days: Option<i64>,
        /// Public contact line on the recipient pages ("" removes it).
        #[arg(long)]
        contact: Option<String>,
        /// SMS codes the organisation sends per day (UTC) at most; 0: none (default 1000).
        #[arg(long)]
        sms_per_day: Option<i64>,
        /// Countries whose mobile numbers may get an SMS code, e.g. NL,BE,DE (the default).
        #[arg(long, value_delimiter = ',')]
        sms_countries: Option<Vec<String>>,
        /// Senders must set up a second factor (TOTP or a passkey) (true/false).
        #[arg(long)]
        second_factor_required: Option<bool>,
        /// Days a new message stays available when the sender chooses nothing (default 90).
        #[arg(long)]
        default_availability_days: Option<i64>,
        /// The longest a sender may make a message available, from its sending (default 90).
        #[arg(long)]
        max_availability_days: Option<i64>,
    },
    /// Sets (PNG, JPEG or WebP, at most 256 KiB) or removes the logo on the recipient pages.
    Logo {
        /// Organisation slug.
        #[arg(long, default_value = "default")]
        slug: String,
        /// The image file.
        #[arg(long, conflicts_with = "remove")]
        file: Option<std::path::PathBuf>,
        /// Remove the logo.
        #[arg(long)]
        remove: bool,
    },
    /// Shows or changes the mail domains the organisation receives mail for from other
    /// providers (NTA 7516); prints the domains, one per line.
    Domains {
        #[arg(long)]
        slug: String,
        /// A domain to add (repeatable).
        #[arg(long)]
        add: Vec<String>,
        /// A domain to remove (repeatable).
        #[arg(long)]
        remove: Vec<String>,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Creates a user.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        name: String,
        /// Organisation slug (default organisation when absent).
        #[arg(long)]
        org: Option<String>,
        /// `sender` or `admin`.
        #[arg(long, default_value = "sender", value_parser = parse_role)]
        role: Role,
    },
    /// Lists the users of an organisation.
    List {
        #[arg(long, default_value = "default")]
        org: String,
    },
    /// Creates sender E when missing and prints only a one-time set-up link (72 hours).
    Invite {
        #[arg(long)]
        email: String,
    },
    /// Removes E's password, TOTP and passkeys, ends E's sessions and prints a new set-up link.
    Reset {
        #[arg(long)]
        email: String,
    },
    /// Sets E's password, read from standard input (at least 12 characters, not guessable).
    Password {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Creates an API token for E (creating sender E when missing) and prints only the token.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "cli")]
        label: String,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ZEGEL_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // A failed log write (the collector on stderr went away) is dropped: by default tracing
    // reports it with `eprintln!` to the same closed stderr, which panics, and a panic in a
    // request's task closes the client's connection without a reply.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .log_internal_errors(false)
        .init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging();
    let cli = Cli::parse();
    let raw = config::Raw::load(cli.config.as_deref())?;
    let mut cfg = raw.validate()?;
    match cli.cmd {
        Cmd::Serve => {
            let listener = app::bind(&mut cfg).await?;
            let z = app::open(&cfg).await?;
            app::serve(&cfg, z, listener).await
        }
        Cmd::Demo => demo(cfg).await,
        Cmd::Migrate => {
            let store = app::open_store(&cfg).await?;
            println!("migrations applied ({})", store.backend());
            Ok(())
        }
        Cmd::Backup { to } => {
            let m = zegel::backup::backup(&cfg, &to).await?;
            println!(
                "backup in {}: database {} bytes, {} blobs, {} missing (destroyed during the backup); the master key is not in it",
                to.display(),
                m.database.bytes,
                m.blobs.len(),
                m.missing.len()
            );
            Ok(())
        }
        Cmd::Restore { from } => {
            let m = zegel::backup::restore(&cfg, &from).await?;
            println!(
                "restored the backup of {} ({} blobs) into {}",
                m.created_at,
                m.blobs.len(),
                cfg.data_dir.display()
            );
            Ok(())
        }
        Cmd::Audit { cmd } => {
            let z = app::open(&cfg).await?;
            audit(&z, cmd).await
        }
        Cmd::Admin { cmd } => {
            let z = app::open(&cfg).await?;
            admin(&z, cmd).await
        }
        Cmd::Receipt {
            cmd: ReceiptCmd::Verify { file, key, json },
        } => {
            let v = zegel::receipts::verify(&cfg, &file, key.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v.receipt)?);
            } else {
                print!("{}", zegel::receipts::summary(&v));
            }
            Ok(())
        }
    }
}

async fn audit(z: &Arc<Zegel>, cmd: AuditCmd) -> anyhow::Result<()> {
    match cmd {
        AuditCmd::Verify => {
            let keys = zegel::audit_cli::StoreKeys::load(z).await?;
            if !zegel::audit_cli::verify(z, &keys).await? {
                std::process::exit(1);
            }
            Ok(())
        }
        AuditCmd::Checkpoint => {
            let n = z.checkpoint_audit(0).await?;
            println!("{n} checkpoints signed");
            Ok(())
        }
        AuditCmd::Export {
            from,
            to,
            recipient,
            format,
        } => {
            let filter = zegel_core::audit::AuditFilter {
                from: from
                    .as_deref()
                    .map(|s| zegel::audit_cli::parse_when(s, false))
                    .transpose()?,
                to: to
                    .as_deref()
                    .map(|s| zegel::audit_cli::parse_when(s, true))
                    .transpose()?,
                recipient,
            };
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let n = zegel::audit_cli::export(z, &filter, format, &mut out).await?;
            drop(out);
            zegel::audit_cli::record_export(z, &filter, n).await?;
            eprintln!("{n} entries exported");
            Ok(())
        }
    }
}

async fn admin(z: &Arc<Zegel>, cmd: AdminCmd) -> anyhow::Result<()> {
    match cmd {
        AdminCmd::Keys { cmd } => zegel::admin_keys::run(z, cmd).await?,
        AdminCmd::Org {
            cmd: OrgCmd::Create { slug, name },
        } => {
            let o = z
                .create_org(&slug, &name)
                .await
                .map_err(anyhow::Error::from)?;
            println!("{}\t{}\t{}", o.id, o.slug, o.name);
        }
        AdminCmd::Org { cmd: OrgCmd::List } => {
            for o in z.store.list_orgs().await? {
                println!("{}\t{}\t{}", o.id, o.slug, o.name);
            }
        }
        AdminCmd::Org {
            cmd:
                OrgCmd::Policy {
                    slug,
                    reply_default,
                    reply_locked,
                    forward,
                    device_days,
                    contact,
                    sms_per_day,
                    sms_countries,
                    second_factor_required,
                    default_availability_days,
                    max_availability_days,
                },
        } => {
            let org = z
                .store
                .org_by_slug(&slug)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no organisation {slug}"))?;
            let mut doc = zegel_core::service::PolicyDoc::from(z.org_policy(&org.id).await?);
            if let Some(r) = reply_default {
                doc.reply_default = zegel_core::model::ReplyPolicy::parse(&r).ok_or_else(|| {
                    anyhow::anyhow!("reply policy must be once, unlimited or off")
                })?;
            }
            if let Some(v) = reply_locked {
                doc.reply_locked = v;
            }
            if let Some(v) = forward {
                doc.forward_allowed = v;
            }
            if let Some(v) = device_days {
                doc.device_days = v;
            }
            if let Some(c) = contact {
                doc.contact = Some(c);
            }
            if let Some(n) = sms_per_day {
                doc.sms_per_day = Some(n);
            }
            if let Some(list) = sms_countries {
                doc.sms_countries = Some(list);
            }
            (doc.default_availability_days, doc.max_availability_days) =
                (default_availability_days, max_availability_days);
            let doc = z.set_org_policy_of(&org.id, doc).await?;
            let mut json = serde_json::to_value(&doc)?;
            if let Some(required) = second_factor_required {
                z.set_second_factor_required(&slug, required)
                    .await
                    .map_err(account_error)?;
                if let Some(m) = json.as_object_mut() {
                    m.insert("second_factor_required".into(), required.into());
                }
            }
            println!("{}", serde_json::to_string_pretty(&json)?);
        }
        AdminCmd::Org {
            cmd: OrgCmd::Logo { slug, file, remove },
        } => {
            let org = z
                .store
                .org_by_slug(&slug)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no organisation {slug}"))?;
            match (file, remove) {
                (Some(path), false) => {
                    let bytes = std::fs::read(&path)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                    z.set_org_logo(&org.id, Some(&bytes)).await?;
                    println!("logo set for {slug}");
                }
                (None, true) => {
                    z.set_org_logo(&org.id, None).await?;
                    println!("logo removed for {slug}");
                }
                _ => anyhow::bail!("give --file PATH or --remove"),
            }
        }
        AdminCmd::Org {
            cmd: OrgCmd::Domains { slug, add, remove },
        } => {
            let no_org = |e: zegel_core::Error| match e {
                zegel_core::Error::NotFound => anyhow::anyhow!("no organisation {slug}"),
                other => other.into(),
            };
            for d in &add {
                use zegel_core::mail_store::DomainAdded;
                if z.add_org_domain(&slug, d).await.map_err(no_org)?
                    == DomainAdded::OtherOrganisation
                {
                    anyhow::bail!("{d} is a mail domain of another organisation");
                }
            }
            for d in &remove {
                if !z.remove_org_domain(&slug, d).await.map_err(no_org)? {
                    eprintln!("{slug} had no mail domain {d}");
                }
            }
            for d in z.org_domains(&slug).await.map_err(no_org)? {
                println!("{d}");
            }
        }
        AdminCmd::User {
            cmd:
                UserCmd::Create {
                    email,
                    name,
                    org,
                    role,
                },
        } => {
            let u = z
                .create_user(NewUserReq {
                    email,
                    name,
                    org_slug: org,
                    password: None,
                    role,
                })
                .await?;
            println!("{}\t{}\t{}", u.id, u.email, u.role);
        }
        AdminCmd::User {
            cmd: UserCmd::List { org },
        } => {
            let o = z
                .store
                .org_by_slug(&org)
                .await?
                .with_context(|| format!("no organisation {org}"))?;
            for u in z.store.list_users(&o.id).await? {
                println!("{}\t{}\t{}\t{}", u.id, u.email, u.role, u.name);
            }
        }
        AdminCmd::User {
            cmd: UserCmd::Invite { email },
        } => {
            // CONTRACT: prints only the set-up link.
            println!("{}", z.invite_user(&email).await.map_err(account_error)?);
        }
        AdminCmd::User {
            cmd: UserCmd::Reset { email },
        } => {
            let (user, link) = z.reset_user(&email).await.map_err(account_error)?;
            z.end_user_sender_sessions(&user.id, None).await?;
            println!("{link}");
        }
        AdminCmd::User {
            cmd: UserCmd::Password { email },
        } => {
            let mut input = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)
                .context("reading the password from standard input")?;
            let password = input.strip_suffix('\n').unwrap_or(&input);
            let password = password.strip_suffix('\r').unwrap_or(password);
            let user = z
                .admin_set_password(&email, password)
                .await
                .map_err(account_error)?;
            z.end_user_sender_sessions(&user.id, None).await?;
            println!("password set for {}", user.email);
        }
        AdminCmd::Token {
            cmd: TokenCmd::Create { email, label },
        } => {
            let u = z.ensure_user(&email).await?;
            // CONTRACT: prints only the token.
            println!("{}", z.create_api_token(&u, &label).await?);
        }
        AdminCmd::SmtpCredential {
            cmd: SmtpCredentialCmd::Create { email, label },
        } => {
            let u = z.ensure_user(&email).await?;
            let c = z.create_smtp_credential(&u, &label, None).await?;
            // CONTRACT: one line, the user name, a space, the password.
            println!("{} {}", c.username, c.password);
        }
        AdminCmd::Nta {
            cmd: NtaCmd::Record { org },
        } => {
            let record = z
                .nta_record(&org, zegel_core::model::Ts::now())
                .await
                .map_err(|e| match e {
                    zegel_core::Error::NotFound => anyhow::anyhow!("no organisation {org}"),
                    other => other.into(),
                })?;
            println!("{record}");
        }
        AdminCmd::SmtpCredential {
            cmd: SmtpCredentialCmd::Revoke { user },
        } => {
            if !z.revoke_smtp_credential(&user).await? {
                anyhow::bail!("no live SMTP credential with user name {user}");
            }
            println!("revoked {user}");
        }
    }
    Ok(())
}

async fn demo(mut cfg: config::Config) -> anyhow::Result<()> {
    let listener = app::bind(&mut cfg).await?;
    let z = app::open(&cfg).await?;
    let setup = z.demo_setup().await?;
    let password = z
        .demo_password(&setup.sender)
        .await
        .map_err(account_error)?;
    let token = z.create_api_token(&setup.sender, "demo").await?;
    let req: zegel_core::service::NewMessageReq = serde_json::from_value(serde_json::json!({
        "subject": "Uitslag bloedonderzoek",
        "body": "Beste mevrouw Jansen,\n\nDe uitslag van uw bloedonderzoek van vorige week is binnen. \
                 De waarden zijn goed; u hoeft geen nieuwe afspraak te maken.\n\nMet vriendelijke groet,\nDr. A. de Vries",
        "recipients": [{"email": "patient@zegel.localhost", "phone": "06 12345678", "verification": "sms"}],
        "reply": "once",
        "expires_in_days": 30
    }))?;
    let principal = z.authenticate_api_token(&token).await?;
    let mut draft = z.begin_message(&principal, req).await?;
    let sample = b"Uitslag bloedonderzoek (demo)\nHb 8,4 mmol/l\nGlucose 5,1 mmol/l\n".to_vec();
    draft
        .add_attachment(
            "uitslag-bloedonderzoek.txt",
            "text/plain",
            futures::stream::iter([Ok(bytes::Bytes::from(sample))]),
        )
        .await?;
    let created = draft.commit(&Default::default()).await?;
    let url = &cfg.settings.public_url;
    println!();
    println!("Zegel demo");
    println!("  URL:             {url}");
    println!(
        "  Afzender:        {} ({})",
        setup.sender.email, setup.sender.name
    );
    println!("  Wachtwoord:      {password}");
    println!("  Inloggen:        {url}/inloggen");
    println!("  API-token:       {token}");
    println!("  Database:        {:?}", cfg.database);
    println!(
        "  Outbox (e-mail): {}",
        app::outbox_mail_dir(&cfg).display()
    );
    println!("  Outbox (sms):    {}", app::outbox_sms_dir(&cfg).display());
    println!();
    println!("Voorbeeldbericht aan de demo-patiënt:");
    for l in &created.links {
        println!("  {l}");
    }
    println!("  De sms-code verschijnt na 'Stuur mij de code' als JSON-bestand in de sms-outbox.");
    println!();
    println!("Zelf een bericht sturen:");
    println!("  curl -H 'Authorization: Bearer {token}' -F 'message={{\"subject\":\"Test\",\"body\":\"Hallo\",\"recipients\":[{{\"email\":\"jan@example.nl\",\"verification\":\"email\"}}]}};type=application/json' -F attachment=@README.md {url}/api/v1/messages");
    println!();
    app::serve(&cfg, z, listener).await
}

/// An account error for the command line: its reason in words (weak passwords explained).
fn account_error(e: zegel_core::service::AccountError) -> anyhow::Error {
    use zegel_core::service::{AccountError, WeakPassword};
    match e {
        AccountError::WeakPassword(WeakPassword::TooShort) => {
            anyhow::anyhow!("the password must have at least 12 characters")
        }
        AccountError::WeakPassword(WeakPassword::Guessable) => {
            anyhow::anyhow!("the password is too easy to guess; choose a longer or less common one")
        }
        AccountError::Core(zegel_core::Error::NotFound) => {
            anyhow::anyhow!("no such user or organisation")
        }
        AccountError::Core(e) => anyhow::Error::from(e),
        e => anyhow::anyhow!("{e}"),
    }
}

/// A role on the command line.
fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| zegel_core::Invalid::Role.to_string())
}
