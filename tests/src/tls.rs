//! Test certificates made with the `openssl` command-line tool: a self-signed CA, a server
//! certificate for `localhost` / `127.0.0.1` and a client certificate, all ECDSA P-256 (fast to
//! make, accepted by rustls). Written into a server's temp dir and removed with it.

use crate::error::{HarnessError, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The certificate files of one TLS test server (PEM).
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The CA certificate that signed both the server and the client certificate.
    pub ca_cert: PathBuf,
    /// The server's certificate (subject alternative names `localhost` and `127.0.0.1`, or those
    /// given to [`TlsFiles::generate_for`]).
    pub server_cert: PathBuf,
    /// The server's private key.
    pub server_key: PathBuf,
    /// A client certificate for mutual TLS.
    pub client_cert: PathBuf,
    /// The client certificate's private key.
    pub client_key: PathBuf,
}

impl TlsFiles {
    /// Makes a CA, a server and a client certificate in `dir`.
    pub fn generate(dir: &Path) -> Result<TlsFiles> {
        TlsFiles::generate_for(dir, DEFAULT_SERVER_NAMES)
    }

    /// Like [`TlsFiles::generate`], with the server certificate's subject alternative names as
    /// OpenSSL writes them: `"DNS:localhost,IP:127.0.0.1"`. One set serves every node of a
    /// cluster (they must trust one CA); a test of name checks leaves out the name a client
    /// will be told to use.
    pub fn generate_for(dir: &Path, subject_alt_names: &str) -> Result<TlsFiles> {
        std::fs::create_dir_all(dir)
            .map_err(|e| HarnessError::io(format!("creating {}", dir.display()), e))?;
        let files = TlsFiles {
            ca_cert: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
        };
        let ca_key = dir.join("ca.key");

        new_key(&ca_key)?;
        run(openssl("req")
            .args(["-x509", "-new", "-sha256", "-days", "3650"])
            .args(["-subj", "/CN=valkey-tests CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-key")
            .arg(&ca_key)
            .arg("-out")
            .arg(&files.ca_cert))?;

        let ca = (files.ca_cert.as_path(), ca_key.as_path());
        // clientAuth too: a cluster node presents it when it connects to another node's bus,
        // which always asks for a client certificate.
        let server_ext = format!(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName={subject_alt_names}\n"
        );
        let server = (files.server_key.as_path(), files.server_cert.as_path());
        signed_cert(dir, "/CN=valkey-tests server", &server_ext, server, ca)?;
        let client_ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
                          extendedKeyUsage=clientAuth\n";
        let client = (files.client_key.as_path(), files.client_cert.as_path());
        signed_cert(dir, "/CN=valkey-tests client", client_ext, client, ca)?;
        Ok(files)
    }
}

/// The names in a server certificate made by [`TlsFiles::generate`].
pub const DEFAULT_SERVER_NAMES: &str = "DNS:localhost,IP:127.0.0.1";

fn new_key(path: &Path) -> Result<()> {
    run(openssl("genpkey")
        .args(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
        .arg("-out")
        .arg(path))
}

/// Makes `key` and a certificate `cert` for `subject` with `extensions`, signed by the CA.
fn signed_cert(
    dir: &Path,
    subject: &str,
    extensions: &str,
    (key, cert): (&Path, &Path),
    (ca_cert, ca_key): (&Path, &Path),
) -> Result<()> {
    let stem = cert.file_stem().and_then(|s| s.to_str()).unwrap_or("cert");
    let csr = dir.join(format!("{stem}.csr"));
    let ext = dir.join(format!("{stem}.ext"));
    std::fs::write(&ext, extensions)
        .map_err(|e| HarnessError::io(format!("writing {}", ext.display()), e))?;
    new_key(key)?;
    run(openssl("req")
        .args(["-new", "-subj", subject])
        .arg("-key")
        .arg(key)
        .arg("-out")
        .arg(&csr))?;
    run(openssl("x509")
        .args(["-req", "-days", "3650", "-sha256", "-set_serial", &serial()])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(ca_cert)
        .arg("-CAkey")
        .arg(ca_key)
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(cert))
}

/// A serial number unlikely to repeat (certificates from one CA must differ).
fn serial() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!("{}", (nanos >> 8) + NEXT.fetch_add(1, Ordering::Relaxed))
}

fn openssl(subcommand: &str) -> Command {
    let mut cmd = Command::new("openssl");
    cmd.arg(subcommand);
    cmd
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().map_err(|e| {
        HarnessError::io(
            "running openssl (install it with scripts/install-deps: Debian package openssl)",
            e,
        )
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(HarnessError::new(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}
