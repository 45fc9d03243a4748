//! [`Store`] on S3 and S3-compatible stores, through `object_store`: the
//! repository URL (`s3://BUCKET[/PREFIX]`), the endpoint and credentials
//! from the usual `AWS_*` variables, and conditional writes as
//! `If-None-Match: *` / `If-Match: <etag>`.

use std::time::Duration;

use futures_util::TryStreamExt as _;
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore as _, ObjectStoreExt as _, PutMode, PutOptions,
    PutPayload, RetryConfig, UpdateVersion,
};

use crate::{Error, Result};
use debpipe_repo::store::{Object, Put, Store, Written};

/// A repository location: `s3://BUCKET[/PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoUrl {
    /// The bucket.
    pub bucket: String,
    /// The key prefix, without slashes at either end ("" for the bucket root).
    pub prefix: String,
}

impl RepoUrl {
    /// Parse `s3://BUCKET[/PREFIX]`.
    pub fn parse(url: &str) -> Result<Self> {
        let bad = |why: &str| Error::Usage(format!("repository URL {url:?}: {why}"));
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("must start with s3:// (s3://BUCKET[/PREFIX])"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket name"));
        }
        let prefix = prefix.trim_matches('/').to_string();
        if prefix.split('/').any(|s| s == "." || s == "..")
            || prefix.contains("//")
            || prefix.chars().any(char::is_control)
        {
            return Err(bad("prefix has an empty, `.` or `..` segment"));
        }
        Ok(Self {
            bucket: bucket.to_string(),
            prefix,
        })
    }

    /// The full key of `key` in the bucket.
    pub fn key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }
}

/// Endpoint and credentials, as read from the environment (and `--endpoint`).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `--endpoint` or `AWS_ENDPOINT_URL` (`AWS_ENDPOINT_URL_S3` first).
    pub endpoint: Option<String>,
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`); `us-east-1` when unset.
    pub region: String,
    /// `AWS_ACCESS_KEY_ID`
    pub access_key: Option<String>,
    /// `AWS_SECRET_ACCESS_KEY`
    pub secret_key: Option<String>,
    /// `AWS_SESSION_TOKEN`
    pub token: Option<String>,
}

impl Config {
    /// Read the `AWS_*` variables through `var`; `endpoint` (from
    /// `--endpoint`) wins over the environment.
    pub fn from_env(endpoint: Option<&str>, var: impl Fn(&str) -> Option<String>) -> Self {
        let first = |names: &[&str]| names.iter().find_map(|n| var(n).filter(|v| !v.is_empty()));
        Self {
            endpoint: endpoint
                .map(str::to_string)
                .or_else(|| first(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"])),
            region: first(&["AWS_REGION", "AWS_DEFAULT_REGION"])
                .unwrap_or_else(|| "us-east-1".into()),
            access_key: first(&["AWS_ACCESS_KEY_ID"]),
            secret_key: first(&["AWS_SECRET_ACCESS_KEY"]),
            token: first(&["AWS_SESSION_TOKEN"]),
        }
    }
}

/// A repository on S3.
#[derive(Debug)]
pub struct S3Store {
    url: RepoUrl,
    /// No access key given: `object_store` falls back to the instance's
    /// credentials (web identity, container, instance metadata).
    no_keys: bool,
    client: AmazonS3,
    rt: tokio::runtime::Runtime,
}

impl S3Store {
    /// Connect (lazily: nothing is sent until the first request). The rest
    /// of the `AWS_*` variables `object_store` knows (web identity, container
    /// credentials...) are read too; `cfg` wins over them.
    pub fn new(url: RepoUrl, cfg: &Config) -> Result<Self> {
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&url.bucket)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_region(&cfg.region)
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_mins(1)),
            )
            .with_retry(RetryConfig {
                max_retries: 4,
                retry_timeout: Duration::from_secs(30),
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(4),
                    base: 2.0,
                },
            });
        if let Some(e) = &cfg.endpoint {
            b = b
                .with_endpoint(e)
                .with_allow_http(e.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        match (&cfg.access_key, &cfg.secret_key) {
            (Some(a), Some(s)) => {
                b = b.with_access_key_id(a).with_secret_access_key(s);
                if let Some(t) = &cfg.token {
                    b = b.with_token(t);
                }
            }
            (None, None) => {}
            _ => {
                return Err(Error::Usage(
                    "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither".into(),
                ));
            }
        }
        let client = b
            .build()
            .map_err(|e| Error::Usage(format!("s3://{}: {e}", url.bucket)))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| Error::io("<tokio runtime>", e))?;
        Ok(Self {
            url,
            no_keys: cfg.access_key.is_none(),
            client,
            rt,
        })
    }

    fn path(&self, key: &str) -> Result<Path> {
        let full = self.url.key(key);
        Path::parse(&full).map_err(|e| Error::file(self.url(key), format!("bad key: {e}")))
    }

    fn fail(&self, key: &str, what: &str, e: &object_store::Error) -> Error {
        let hint = if self.no_keys {
            " (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, so the machine's own \
             credentials were tried)"
        } else {
            ""
        };
        Error::file(
            self.url(key),
            format!("{what} failed: {}{hint}", one_line(e)),
        )
    }
}

/// An `object_store` error on one line, with its causes.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s.replace('\n', " ")
}

impl Store for S3Store {
    fn url(&self, key: &str) -> String {
        format!("s3://{}/{}", self.url.bucket, self.url.key(key))
    }

    fn get(&self, key: &str) -> Result<Option<Object>> {
        let path = self.path(key)?;
        self.rt.block_on(async {
            match self.client.get(&path).await {
                Ok(r) => {
                    let etag = r.meta.e_tag.clone().unwrap_or_default();
                    let data = r.bytes().await.map_err(|e| self.fail(key, "GET", &e))?;
                    Ok(Some(Object {
                        data: data.to_vec(),
                        etag,
                    }))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.fail(key, "GET", &e)),
            }
        })
    }

    fn head(&self, key: &str) -> Result<Option<String>> {
        let path = self.path(key)?;
        self.rt.block_on(async {
            match self.client.head(&path).await {
                Ok(m) => Ok(Some(m.e_tag.unwrap_or_default())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.fail(key, "HEAD", &e)),
            }
        })
    }

    fn put(&self, key: &str, data: &[u8], mode: &Put) -> Result<Written> {
        let path = self.path(key)?;
        let mode = match mode {
            Put::Create => PutMode::Create,
            Put::Replace => PutMode::Overwrite,
            Put::Update(etag) => PutMode::Update(UpdateVersion {
                e_tag: Some(etag.clone()),
                version: None,
            }),
        };
        let opts = PutOptions {
            mode,
            ..PutOptions::default()
        };
        let payload = PutPayload::from(data.to_vec());
        self.rt.block_on(async {
            match self.client.put_opts(&path, payload, opts).await {
                Ok(r) => Ok(Written::Done(r.e_tag.unwrap_or_default())),
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => Ok(Written::Conflict),
                Err(e) => Err(self.fail(key, "PUT", &e)),
            }
        })
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        self.rt.block_on(async {
            match self.client.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(self.fail(key, "DELETE", &e)),
            }
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let full = self.url.key(prefix.trim_end_matches('/'));
        let path = Path::parse(&full).map_err(|e| Error::file(self.url(prefix), e.to_string()))?;
        let strip = if self.url.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.url.prefix)
        };
        let metas: Vec<_> = self.rt.block_on(async {
            self.client
                .list(Some(&path))
                .try_collect::<Vec<_>>()
                .await
                .map_err(|e| self.fail(prefix, "LIST", &e))
        })?;
        let mut keys: Vec<String> = metas
            .into_iter()
            .filter_map(|m| {
                m.location
                    .as_ref()
                    .strip_prefix(strip.as_str())
                    .map(str::to_string)
            })
            .collect();
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_bucket_and_prefix() {
        let u = RepoUrl::parse("s3://b/apt/prod/").unwrap();
        assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("b", "apt/prod"));
        assert_eq!(u.key("dists/x/Release"), "apt/prod/dists/x/Release");
        let u = RepoUrl::parse("s3://b").unwrap();
        assert_eq!(u.key("pool/a"), "pool/a");
        for bad in ["b/x", "s3://", "s3:///x", "s3://b/../x", "s3://b/a//c"] {
            let e = RepoUrl::parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn endpoint_flag_wins_and_region_defaults() {
        let env = |k: &str| match k {
            "AWS_ENDPOINT_URL" => Some("http://env:1".to_string()),
            "AWS_ACCESS_KEY_ID" => Some("a".into()),
            _ => None,
        };
        let c = Config::from_env(None, env);
        assert_eq!(c.endpoint.as_deref(), Some("http://env:1"));
        assert_eq!(c.region, "us-east-1");
        let c = Config::from_env(Some("http://flag:2"), env);
        assert_eq!(c.endpoint.as_deref(), Some("http://flag:2"));
        assert!(S3Store::new(RepoUrl::parse("s3://b").unwrap(), &c).is_err());
    }
}
