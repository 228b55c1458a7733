//! The one read-modify-write of the management use cases. Every PATCH
//! applies its changes to the record as read, then writes it with a
//! compare-and-set on the record's `updated_at` (which moves forward on
//! every write, `Timestamp::after`); when another writer got there first
//! the record is read again and the same changes re-applied, so two
//! concurrent PATCHes of different fields both hold and nothing
//! acknowledged is lost. `If-Match` (the ETag a client last saw, which is
//! that `updated_at`) is checked against each read.

use crate::error::{check_precondition, CoreError, IfMatch, UPDATE_ATTEMPTS};
use crate::store::StoreError;
use keyzone_domain::Timestamp;
use std::future::Future;

/// Updates `current` with `modify` and `write` (the store's compare-and-set:
/// true when written), re-reading with `reread` after a lost race. `stamp`
/// reads a record's `updated_at`; `modify` must set the new one with
/// `Timestamp::after`.
pub(crate) async fn update_atomically<T, W, WF, R, RF>(
    entity: &'static str,
    mut current: T,
    if_match: IfMatch,
    stamp: impl Fn(&T) -> Timestamp,
    mut modify: impl FnMut(&mut T),
    mut write: W,
    mut reread: R,
) -> Result<T, CoreError>
where
    T: Clone,
    W: FnMut(T, Timestamp) -> WF,
    WF: Future<Output = Result<(bool, T), CoreError>>,
    R: FnMut() -> RF,
    RF: Future<Output = Result<Option<T>, StoreError>>,
{
    for _ in 0..UPDATE_ATTEMPTS {
        let expected = stamp(&current);
        check_precondition(expected, if_match)?;
        let mut next = current.clone();
        modify(&mut next);
        let (written, next) = write(next, expected).await?;
        if written {
            return Ok(next);
        }
        current = reread().await?.ok_or(CoreError::NotFound { entity })?;
    }
    Err(CoreError::Contended)
}
