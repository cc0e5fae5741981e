//! Requests to one remote store: an `object_store` client built from the address and the
//! ecosystem's standard settings, driven on a small shared tokio runtime, every request under
//! a timeout and retried with backoff by `object_store`, with at most a configured number in
//! flight at once.
//!
//! Credentials: S3 takes `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (and
//! `AWS_SESSION_TOKEN`), `AWS_REGION`, `AWS_ENDPOINT_URL` from the environment, else the
//! profile `AWS_PROFILE` (or `default`) of `~/.aws/credentials` and `~/.aws/config`; GCS takes
//! `GOOGLE_APPLICATION_CREDENTIALS`. With no credentials at all, requests go unsigned
//! (anonymous access to public buckets). Messages never carry a secret: any credential value
//! is masked before an error leaves this module.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, RetryConfig,
};

use super::address::{RemoteUrl, Scheme};
use crate::{Error, Result};

/// What a conditional or plain GET found.
pub(crate) enum Got {
    /// The object's bytes, with its ETag when the server sent one.
    Bytes(Vec<u8>, Option<String>),
    /// The object does not exist (404).
    Missing,
    /// Unchanged since the ETag given (304).
    NotModified,
}

/// One store's client: its object store, the key prefix of the store inside it, and the
/// request bound.
pub(crate) struct Client {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    /// The store's address, printable (no secret is ever part of it).
    pub(crate) endpoint: String,
    secrets: Vec<String>,
    in_flight: Arc<Semaphore>,
}

/// The runtime every remote request runs on: two threads are enough to drive any number of
/// requests, which wait on the network, not on the CPU.
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("voxload-remote")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| startup_failure("the network runtime", e))
}

/// A thread pool or runtime of the remote layer that could not start (`what`), as an error.
pub(super) fn startup_failure(what: &str, reason: &str) -> Error {
    Error::Remote {
        endpoint: String::new(),
        key: String::new(),
        reason: format!("cannot start {what}: {reason}"),
    }
}

/// A counting semaphore for blocking callers (the readers' threads).
pub(crate) struct Semaphore {
    free: std::sync::Mutex<usize>,
    ready: std::sync::Condvar,
}

impl Semaphore {
    fn new(n: usize) -> Self {
        Semaphore {
            free: std::sync::Mutex::new(n.max(1)),
            ready: std::sync::Condvar::new(),
        }
    }

    fn acquire(self: &Arc<Self>) -> Permit {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.ready.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Permit(self.clone())
    }
}

struct Permit(Arc<Semaphore>);

impl Drop for Permit {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.ready.notify_one();
    }
}

/// Settings of the client, from the environment: `VOXLOAD_REMOTE_TIMEOUT` (seconds for one
/// request, default 30), `VOXLOAD_REMOTE_RETRIES` (default 4), `VOXLOAD_REMOTE_REQUESTS`
/// (requests in flight at once per store, default 32).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) timeout: Duration,
    pub(crate) retries: usize,
    pub(crate) in_flight: usize,
}

impl Settings {
    pub(crate) fn from_env() -> Self {
        let number = |name: &str, default: f64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
                .unwrap_or(default)
        };
        Settings {
            timeout: Duration::from_secs_f64(number("VOXLOAD_REMOTE_TIMEOUT", 30.0).max(0.05)),
            retries: number("VOXLOAD_REMOTE_RETRIES", 4.0) as usize,
            in_flight: (number("VOXLOAD_REMOTE_REQUESTS", 32.0) as usize).max(1),
        }
    }
}

impl Client {
    /// The client of the store at `url`.
    pub(crate) fn new(url: &RemoteUrl, settings: Settings) -> Result<Self> {
        // reqwest is built without a bundled TLS provider; ring is installed once per process
        // (a provider another library installed first is kept).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let endpoint = url.display();
        let fail = |reason: String| Error::Remote {
            endpoint: endpoint.clone(),
            key: String::new(),
            reason,
        };
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: settings.retries,
            retry_timeout: settings.timeout * (settings.retries as u32 + 1),
        };
        let options = ClientOptions::new()
            .with_timeout(settings.timeout)
            .with_connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .with_allow_http(true);
        let mut secrets = Vec::new();
        let store: Arc<dyn ObjectStore> = match url.scheme {
            Scheme::S3 => {
                let mut builder = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(&url.host)
                    .with_retry(retry)
                    .with_client_options(options);
                let credentials = aws_credentials();
                match &credentials {
                    Some(c) => {
                        builder = builder
                            .with_access_key_id(&c.key_id)
                            .with_secret_access_key(&c.secret);
                        if let Some(token) = &c.token {
                            builder = builder.with_token(token);
                        }
                        secrets.extend([c.key_id.clone(), c.secret.clone()]);
                        secrets.extend(c.token.clone());
                    }
                    None => builder = builder.with_skip_signature(true),
                }
                if std::env::var_os("AWS_REGION").is_none()
                    && std::env::var_os("AWS_DEFAULT_REGION").is_none()
                {
                    builder =
                        builder.with_region(aws_profile_region().unwrap_or("us-east-1".into()));
                }
                Arc::new(
                    builder
                        .build()
                        .map_err(|e| fail(mask(&e.to_string(), &secrets)))?,
                )
            }
            Scheme::Gcs => {
                let mut builder = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(&url.host)
                    .with_retry(retry)
                    .with_client_options(options);
                if std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").is_none()
                    && std::env::var_os("GOOGLE_SERVICE_ACCOUNT").is_none()
                    && std::env::var_os("GOOGLE_SERVICE_ACCOUNT_KEY").is_none()
                {
                    builder = builder.with_skip_signature(true);
                }
                Arc::new(
                    builder
                        .build()
                        .map_err(|e| fail(mask(&e.to_string(), &secrets)))?,
                )
            }
            Scheme::Http | Scheme::Https => {
                let origin = format!("{}://{}", url.scheme.name(), url.host);
                Arc::new(
                    object_store::http::HttpBuilder::new()
                        .with_url(origin)
                        .with_retry(retry)
                        .with_client_options(options)
                        .build()
                        .map_err(|e| fail(e.to_string()))?,
                )
            }
        };
        Ok(Client {
            store,
            prefix: url.path.trim_matches('/').to_string(),
            endpoint,
            secrets,
            in_flight: Arc::new(Semaphore::new(settings.in_flight)),
        })
    }

    /// Whether the store can list its keys (object stores can; a plain HTTP server cannot).
    pub(crate) fn lists(&self) -> bool {
        !self.endpoint.starts_with("http")
    }

    fn location(&self, key: &str) -> ObjectPath {
        let key = key.trim_matches('/');
        if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else if key.is_empty() {
            ObjectPath::from(self.prefix.as_str())
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        }
    }

    fn error(&self, key: &str, e: &object_store::Error) -> Error {
        Error::Remote {
            endpoint: self.endpoint.clone(),
            key: key.to_string(),
            reason: explain(&mask(&e.to_string(), &self.secrets)),
        }
    }

    /// Runs `request` on the runtime, holding one of the store's request permits.
    fn run<F: std::future::Future>(&self, request: F) -> Result<F::Output> {
        let _permit = self.in_flight.acquire();
        Ok(runtime()?.block_on(request))
    }

    /// Runs `request` again (after a short pause) when it failed in a way another try may
    /// not: a body cut short, a connection lost mid-body. `object_store` already retries
    /// failed requests; this covers what fails after the response began.
    fn retrying<R>(&self, request: impl Fn() -> Result<R>) -> Result<R> {
        let mut pause = Duration::from_millis(100);
        let mut tries = 0;
        loop {
            match request() {
                Err(Error::Remote { reason, .. }) if tries < 2 && is_transient(&reason) => {
                    tries += 1;
                    std::thread::sleep(pause);
                    pause *= 2;
                }
                other => return other,
            }
        }
    }

    /// The whole object `key`; with `etag`, only if it changed since.
    pub(crate) fn get(&self, key: &str, etag: Option<&str>) -> Result<Got> {
        self.retrying(|| self.get_once(key, etag))
    }

    fn get_once(&self, key: &str, etag: Option<&str>) -> Result<Got> {
        let location = self.location(key);
        let options = GetOptions {
            if_none_match: etag.map(str::to_string),
            ..GetOptions::default()
        };
        let fetched = self.run(async {
            let result = self.store.get_opts(&location, options).await?;
            let etag = result.meta.e_tag.clone();
            let size = result.meta.size;
            let bytes = result.bytes().await?;
            Ok::<_, object_store::Error>((bytes, etag, size))
        })?;
        match fetched {
            Ok((bytes, etag, size)) => {
                check_length(bytes.len() as u64, size).map_err(|reason| self.short(key, reason))?;
                Ok(Got::Bytes(bytes.to_vec(), etag))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(Got::Missing),
            Err(object_store::Error::NotModified { .. }) => Ok(Got::NotModified),
            Err(e) => Err(self.error(key, &e)),
        }
    }

    fn short(&self, key: &str, reason: String) -> Error {
        Error::Remote {
            endpoint: self.endpoint.clone(),
            key: key.to_string(),
            reason,
        }
    }

    /// The object's size, `None` when it does not exist.
    pub(crate) fn size(&self, key: &str) -> Result<Option<u64>> {
        let location = self.location(key);
        match self.run(self.store.head(&location))? {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(key, &e)),
        }
    }

    /// The bytes `range` of object `key`, `None` when it does not exist.
    pub(crate) fn get_range(&self, key: &str, range: Range<u64>) -> Result<Option<Vec<u8>>> {
        self.retrying(|| self.get_range_once(key, range.clone()))
    }

    fn get_range_once(&self, key: &str, range: Range<u64>) -> Result<Option<Vec<u8>>> {
        let location = self.location(key);
        let want = range.end - range.start;
        let options = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..GetOptions::default()
        };
        let fetched = self.run(async {
            let result = self.store.get_opts(&location, options).await?;
            result.bytes().await
        })?;
        match fetched {
            Ok(bytes) => {
                check_length(bytes.len() as u64, want).map_err(|reason| self.short(key, reason))?;
                Ok(Some(bytes.to_vec()))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(key, &e)),
        }
    }

    /// The objects and sub-prefixes directly under `prefix` (a store-relative folder, `""`
    /// for the store's root), as store-relative keys.
    pub(crate) fn list_dir(&self, prefix: &str) -> Result<(Vec<String>, Vec<String>)> {
        let location = self.location(prefix);
        let listed = self.run(self.store.list_with_delimiter(Some(&location)))?;
        let listed = listed.map_err(|e| self.error(prefix, &e))?;
        let strip = |p: &ObjectPath| {
            let full = p.as_ref();
            let base = location.as_ref();
            full.strip_prefix(base)
                .unwrap_or(full)
                .trim_start_matches('/')
                .to_string()
        };
        let join = |name: String| {
            if prefix.is_empty() {
                name
            } else {
                format!("{}/{name}", prefix.trim_matches('/'))
            }
        };
        Ok((
            listed
                .objects
                .iter()
                .map(|o| join(strip(&o.location)))
                .collect(),
            listed
                .common_prefixes
                .iter()
                .map(|p| join(strip(p)))
                .collect(),
        ))
    }
}

/// Whether a failure may pass on another try: not a refusal of the request itself.
fn is_transient(reason: &str) -> bool {
    let refused = [
        "credentials",
        "access denied",
        "no such bucket",
        "400",
        "401",
        "403",
        "416",
    ];
    let lower = reason.to_ascii_lowercase();
    !refused.iter().any(|r| lower.contains(r))
}

fn check_length(got: u64, want: u64) -> std::result::Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "the server sent {got} bytes where the object has {want}; the response was cut short (a dropped connection or a proxy); try again"
        ))
    }
}

/// Masks every secret in `message`.
fn mask(message: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 4)
        .fold(message.to_string(), |m, s| m.replace(s.as_str(), "***"))
}

/// A short reason for a failed request: the server's error code where it sent one, and what to
/// check.
fn explain(message: &str) -> String {
    let code = message
        .split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next());
    let hint = match code {
        Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied") => {
            "the server refused the credentials; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the ~/.aws profile)"
        }
        Some("NoSuchBucket") => "no such bucket; check the address",
        _ if message.contains("403") => {
            "access denied; check the credentials, or that the bucket allows anonymous reads"
        }
        _ => "check that the endpoint is reachable (VOXLOAD_REMOTE_TIMEOUT and VOXLOAD_REMOTE_RETRIES set how long voxload tries)",
    };
    let first: String = message
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(240)
        .collect();
    match code {
        Some(code) => format!("{code}: {hint}"),
        None => format!("{first}; {hint}"),
    }
}

/// Keys from the environment or the `~/.aws` profile.
struct AwsCredentials {
    key_id: String,
    secret: String,
    token: Option<String>,
}

fn aws_credentials() -> Option<AwsCredentials> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let (Some(key_id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Some(AwsCredentials {
            key_id,
            secret,
            token: env("AWS_SESSION_TOKEN"),
        });
    }
    let file = env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".aws/credentials")))?;
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let section = ini_section(&file, &profile)?;
    let get = |k: &str| section.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    Some(AwsCredentials {
        key_id: get("aws_access_key_id")?,
        secret: get("aws_secret_access_key")?,
        token: get("aws_session_token"),
    })
}

fn aws_profile_region() -> Option<String> {
    let file = std::env::var_os("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".aws/config")))?;
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let name = if profile == "default" {
        profile
    } else {
        format!("profile {profile}")
    };
    let section = ini_section(&file, &name)?;
    section
        .into_iter()
        .find(|(n, _)| n == "region")
        .map(|(_, v)| v)
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// The `name = value` pairs of section `[section]` of an INI file.
fn ini_section(file: &std::path::Path, section: &str) -> Option<Vec<(String, String)>> {
    let text = crate::file::read_regular(file, 1 << 20).ok()?;
    let text = String::from_utf8_lossy(&text);
    let mut inside = false;
    let mut pairs = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            inside = line[1..line.len() - 1].trim() == section;
        } else if inside {
            if let Some((k, v)) = line.split_once('=') {
                pairs.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    (!pairs.is_empty()).then_some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_codes_explained() {
        let m = mask(
            "key AKIA1234 secret s3cr3t!",
            &["AKIA1234".into(), "s3cr3t!".into()],
        );
        assert_eq!(m, "key *** secret ***");
        let e = explain("Client error 403: <Error><Code>SignatureDoesNotMatch</Code></Error>");
        assert!(e.starts_with("SignatureDoesNotMatch: the server refused the credentials"));
    }

    #[test]
    fn ini_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("credentials");
        std::fs::write(
            &f,
            "[default]\naws_access_key_id = A\naws_secret_access_key = B\n[other]\naws_access_key_id=C\n",
        )
        .unwrap();
        let d = ini_section(&f, "default").unwrap();
        assert_eq!(
            d,
            vec![
                ("aws_access_key_id".into(), "A".into()),
                ("aws_secret_access_key".into(), "B".into())
            ]
        );
        assert_eq!(ini_section(&f, "other").unwrap().len(), 1);
        assert!(ini_section(&f, "none").is_none());
    }
}
