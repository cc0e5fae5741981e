//! Remote store addresses: `s3://bucket/path`, `gs://bucket/path`, `http(s)://host/path`.
//!
//! An address may arrive as a path that went through path normalisation (`s3:/bucket/path`,
//! one slash, as [`std::path::Path`] components rebuild it); both spellings are the same
//! address.

use std::path::Path;

/// The kind of remote store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// An S3-compatible object store (AWS, MinIO, Ceph, …).
    S3,
    /// Google Cloud Storage.
    Gcs,
    /// A plain HTTP server.
    Http,
    /// A plain HTTPS server.
    Https,
}

impl Scheme {
    /// The scheme as written in addresses.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Scheme::S3 => "s3",
            Scheme::Gcs => "gs",
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A parsed remote address.
///
/// ```
/// use voxload::store::remote::{RemoteUrl, Scheme};
/// let url = RemoteUrl::parse("s3://bucket/data/em.zarr").unwrap();
/// assert_eq!((url.scheme, url.host.as_str(), url.path.as_str()), (Scheme::S3, "bucket", "data/em.zarr"));
/// // The one-slash form a path normalisation leaves is the same address.
/// assert_eq!(RemoteUrl::parse("s3:/bucket/data/em.zarr"), Some(url));
/// assert_eq!(RemoteUrl::parse("https://example.org:8080/em.zarr").unwrap().host, "example.org:8080");
/// assert!(RemoteUrl::parse("/scratch/em.zarr").is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RemoteUrl {
    /// The kind of store.
    pub scheme: Scheme,
    /// The bucket (S3, GCS) or `host[:port]` (HTTP).
    pub host: String,
    /// The path inside the bucket or on the host, without leading or trailing `/`.
    pub path: String,
}

impl RemoteUrl {
    /// Parses `text`; `None` when it is not a remote address.
    #[must_use]
    pub fn parse(text: &str) -> Option<RemoteUrl> {
        let (scheme, rest) = text.split_once(':')?;
        let scheme = match scheme {
            "s3" => Scheme::S3,
            "gs" | "gcs" => Scheme::Gcs,
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return None,
        };
        let rest = rest.strip_prefix('/')?;
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() {
            return None;
        }
        let path: Vec<&str> = path
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        Some(RemoteUrl {
            scheme,
            host: host.to_string(),
            path: path.join("/"),
        })
    }

    /// Parses a path that may hold a remote address.
    #[must_use]
    pub fn from_path(path: &Path) -> Option<RemoteUrl> {
        path.to_str().and_then(RemoteUrl::parse)
    }

    /// The address as written (`s3://bucket/path`).
    #[must_use]
    pub fn display(&self) -> String {
        let base = format!("{}://{}", self.scheme.name(), self.host);
        if self.path.is_empty() {
            base
        } else {
            format!("{base}/{}", self.path)
        }
    }

    /// The same address with `key` appended to its path.
    #[must_use]
    pub fn join(&self, key: &str) -> RemoteUrl {
        let mut url = self.clone();
        let key = key.trim_matches('/');
        if !key.is_empty() {
            url.path = if url.path.is_empty() {
                key.to_string()
            } else {
                format!("{}/{key}", url.path)
            };
        }
        url
    }
}

/// Whether `path` is a remote address (`s3://`, `gs://`, `http://`, `https://`).
///
/// ```
/// use std::path::Path;
/// assert!(voxload::store::remote::is_remote(Path::new("gs://bucket/em.zarr")));
/// assert!(!voxload::store::remote::is_remote(Path::new("em.zarr")));
/// ```
#[must_use]
pub fn is_remote(path: &Path) -> bool {
    RemoteUrl::from_path(path).is_some()
}
