//! List envelopes. The SDK's list models differ per endpoint (see the client
//! contract, A.3): zones use `{items, page_info, pagination}`.

use keyzone_domain::page::{Page, Positioned, Sort};
use serde::Serialize;

/// `page_info` of zone-family lists (`has_previous_page`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Pagination {
    /// Pass as `after` for the next page; null on the last page.
    pub after_cursor: Option<String>,
    /// Pass as `before` for the previous page; null on the first page.
    pub before_cursor: Option<String>,
    /// Only with `expand[]=total_count`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_count: Option<u64>,
}

pub fn envelope_parts<T: Positioned>(page: &Page<T>, sort: &Sort) -> (PageInfo, Pagination) {
    let start = page.items.first().map(|i| i.position(sort).encode(sort));
    let end = page.items.last().map(|i| i.position(sort).encode(sort));
    let pagination = Pagination {
        after_cursor: if page.has_next { end.clone() } else { None },
        before_cursor: if page.has_prev { start.clone() } else { None },
        total_count: page.total_count,
    };
    (
        PageInfo {
            has_next_page: page.has_next,
            has_previous_page: page.has_prev,
            start_cursor: start,
            end_cursor: end,
        },
        pagination,
    )
}
