//! Wraps zone data keys with customer-managed AWS KMS keys, through the
//! official AWS SDK for Rust. Credentials come from the standard AWS chain
//! (environment, profile, web identity, instance metadata); the region is
//! read from each key's ARN, so one deployment can use keys of several
//! regions. `KEYZONE_AWS_KMS_ENDPOINT` points every call at another endpoint
//! (a KMS-compatible server for tests, a VPC endpoint).

use async_trait::async_trait;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use keyzone_core::vault::{Kms, KmsError};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

/// The encryption context every wrap is bound to (KMS checks it on decrypt).
const CONTEXT_KEY: &str = "keyzone:zone";

pub struct AwsKms {
    endpoint: Option<String>,
    clients: Mutex<HashMap<String, aws_sdk_kms::Client>>,
}

impl AwsKms {
    pub fn new(endpoint: Option<String>) -> Self {
        Self {
            endpoint,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// `arn:aws:kms:<region>:<account>:key/<id>` (or `alias/<name>`).
    fn region_of(arn: &str) -> Result<&str, KmsError> {
        let mut parts = arn.split(':');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("arn"), Some(_partition), Some("kms"), Some(region)) if !region.is_empty() => {
                Ok(region)
            }
            _ => Err(KmsError::KeyRefused(format!(
                "{arn:?} is not an AWS KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)"
            ))),
        }
    }

    async fn client(&self, region: &str) -> aws_sdk_kms::Client {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(region) {
            return c.clone();
        }
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(10))
                    .connect_timeout(Duration::from_secs(5))
                    .build(),
            );
        if let Some(e) = &self.endpoint {
            loader = loader.endpoint_url(e);
        }
        let client = aws_sdk_kms::Client::new(&loader.load().await);
        clients.insert(region.to_owned(), client.clone());
        client
    }
}

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: aws_sdk_kms::error::SdkError<E>,
) -> KmsError {
    use aws_sdk_kms::error::{DisplayErrorContext, SdkError};
    match &e {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("KMSError");
            let msg = s.err().message().unwrap_or("");
            KmsError::KeyRefused(format!("{code}: {msg}"))
        }
        _ => KmsError::Unreachable(format!("{}", DisplayErrorContext(&e))),
    }
}

#[async_trait]
impl Kms for AwsKms {
    async fn encrypt(
        &self,
        key_arn: &str,
        plaintext: &[u8],
        zone: &str,
    ) -> Result<Vec<u8>, KmsError> {
        let client = self.client(Self::region_of(key_arn)?).await;
        let out = client
            .encrypt()
            .key_id(key_arn)
            .plaintext(Blob::new(plaintext))
            .encryption_context(CONTEXT_KEY, zone)
            .send()
            .await
            .map_err(classify)?;
        out.ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| KmsError::Unreachable("KMS returned no ciphertext".into()))
    }

    async fn decrypt(
        &self,
        key_arn: &str,
        ciphertext: &[u8],
        zone: &str,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let client = self.client(Self::region_of(key_arn)?).await;
        let out = client
            .decrypt()
            .key_id(key_arn)
            .ciphertext_blob(Blob::new(ciphertext))
            .encryption_context(CONTEXT_KEY, zone)
            .send()
            .await
            .map_err(classify)?;
        out.plaintext
            .map(|b| Zeroizing::new(b.into_inner()))
            .ok_or_else(|| KmsError::Unreachable("KMS returned no plaintext".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_come_from_the_arn() {
        assert_eq!(
            AwsKms::region_of("arn:aws:kms:eu-west-1:111122223333:key/abc").unwrap(),
            "eu-west-1"
        );
        assert!(AwsKms::region_of("not-an-arn").is_err());
        assert!(AwsKms::region_of("arn:aws:s3:::bucket").is_err());
    }
}
